"""MNIST inpainting and denoising: PSNR of vaekit beside the mean image, KNN and a median filter, in one run.

    python benchmarks/inpaint_mnist.py [--run runs/demo] [--denoise-run runs/inpaint_dvae] [--n 1000]
        [--knn-train 10000] [--iw-samples 100] [--refine 100] [--out benchmarks/results]

Three tasks on the first --n MNIST test images (pixels in [0, 1], grayscale, not binarized):

- ``half``: the bottom half (rows 14-27) missing;
- ``random50``: 50 % of the pixels missing, a fresh random set per image (seeded);
- ``gauss0.3``: Gaussian noise with std 0.3 added to every pixel, clipped to [0, 1] (seeded; the same corruption
  as ``--corrupt gaussian:0.3``).

PSNR = 10 log10(1 / MSE) with the MSE pooled over the filled pixels (inpainting) or over all pixels (denoising).
Methods: the mean training image; KNN (scikit-learn ``KNNImputer``, 5 neighbours, fitted on --knn-train training
images; for denoising the mean of the 5 training images nearest to the noisy one); a 3×3 median filter
(scipy.ndimage, denoising only); vaekit as a user runs it: ``model.inpaint`` (refine 0 and the default --refine)
with --run, a normally trained model (default: the `make demo` run), and ``model.denoise`` with --denoise-run, a
model trained with ``--corrupt gaussian:0.3`` (trained here when the folder holds no run: seed preset, 10 epochs,
the demo's settings), beside the normal model's plain reconstruction. Writes inpaint_mnist.json and
inpaint_mnist.png (examples: original / corrupted / each method) under --out. Needs the bench extra.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.ndimage import median_filter  # noqa: E402
from sklearn.impute import KNNImputer  # noqa: E402
from sklearn.neighbors import KNeighborsRegressor  # noqa: E402

import vaekit  # noqa: E402
from vaekit._io import atomic_write, write_json  # noqa: E402
from vaekit.core.corruption import corrupt  # noqa: E402
from vaekit.data.mnist import mnist_arrays  # noqa: E402

TASKS = ("half", "random50", "gauss0.3")
EXAMPLES = 8


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, default=Path("runs/demo"), help="a normally trained MNIST run")
    p.add_argument("--denoise-run", type=Path, default=Path("runs/inpaint_dvae"), help="a --corrupt gaussian:0.3 run")
    p.add_argument("--epochs", type=int, default=10, help="epochs when the denoising run is trained here")
    p.add_argument("--n", type=int, default=1000, help="the first N test images")
    p.add_argument("--knn-train", type=int, default=10000, help="training images KNN searches (a random subset)")
    p.add_argument("--iw-samples", type=int, default=100)
    p.add_argument("--refine", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    return p.parse_args()


def psnr(estimate: np.ndarray, truth: np.ndarray, where: np.ndarray) -> float:
    mse = float(((estimate.astype(np.float64) - truth) ** 2)[where].mean())
    return 10 * np.log10(1.0 / mse)


def denoising_run(args: argparse.Namespace) -> vaekit.VAE:
    if (args.denoise_run / "config.json").is_file():
        return vaekit.load(args.denoise_run)
    print(f"training {args.denoise_run}: seed preset, {args.epochs} epochs, --corrupt gaussian:0.3", flush=True)
    return vaekit.train(
        "mnist", out=args.denoise_run, preset="seed", epochs=args.epochs, binarize="dynamic", corrupt="gaussian:0.3"
    )


def run_info(run: Path) -> dict[str, Any]:
    """How a run was trained: preset, epochs, corruption, training seconds (from its config and metrics)."""
    training = vaekit.load(run).run_config["training"]
    lines = (run / "metrics.jsonl").read_text().splitlines()
    seconds = sum(json.loads(line)["seconds"] for line in lines if line.strip())
    options = training["options"]
    return {
        "run": str(run),
        "preset": training["preset"],
        "epochs": training["result"]["epochs_completed"],
        "corrupt": options.get("corrupt"),
        "binarize": training.get("binarize_resolved"),
        "training_seconds": round(seconds, 1),
    }


def main() -> None:
    args = parse_args()
    begin = time.perf_counter()
    torch.manual_seed(args.seed)
    arrays = mnist_arrays()
    truth = arrays["test"][0][: args.n].astype(np.float32)[:, None] / 255.0  # (N, 1, 28, 28)
    rng = np.random.default_rng(args.seed)
    train = arrays["train"][0].astype(np.float32).reshape(60000, -1) / 255.0
    train_knn = train[rng.choice(len(train), args.knn_train, replace=False)]
    mean_image = train.mean(0).reshape(1, 1, 28, 28)

    holes = {"half": np.zeros_like(truth, dtype=bool), "random50": rng.random(truth.shape) < 0.5}
    holes["half"][..., 14:, :] = True
    g = torch.Generator().manual_seed(args.seed)
    noisy = corrupt(torch.from_numpy(truth), "gaussian:0.3", g).numpy()

    model = vaekit.load(args.run)
    t0 = time.perf_counter()
    dvae = denoising_run(args)
    train_seconds = time.perf_counter() - t0
    results: dict[str, dict[str, Any]] = {t: {} for t in TASKS}
    images: dict[str, dict[str, np.ndarray]] = {t: {} for t in TASKS}

    def record(task: str, name: str, estimate: np.ndarray, where: np.ndarray, seconds: float) -> None:
        results[task][name] = {"psnr_db": round(psnr(estimate, truth, where), 3), "seconds": round(seconds, 2)}
        images[task][name] = estimate[:EXAMPLES]
        print(f"{task:9s} {name:28s} {results[task][name]['psnr_db']:6.2f} dB  {seconds:6.1f} s", flush=True)

    for task in ("half", "random50"):
        where = holes[task]
        start = time.perf_counter()
        record(task, "mean image", np.where(where, mean_image, truth), where, time.perf_counter() - start)
        start = time.perf_counter()
        knn = KNNImputer(n_neighbors=5).fit(train_knn)
        flat = np.where(where, np.nan, truth).reshape(len(truth), -1)
        knn_out = knn.transform(flat).reshape(truth.shape)
        record(task, "KNN (KNNImputer, k=5)", np.where(where, knn_out, truth), where, time.perf_counter() - start)
        for refine in sorted({0, args.refine}):
            start = time.perf_counter()
            r = model.inpaint(truth, where, k=args.iw_samples, refine=refine, seed=args.seed)
            record(task, f"vaekit inpaint, refine {refine}", r.mean.numpy(), where, time.perf_counter() - start)

    task, everywhere = "gauss0.3", np.ones_like(truth, dtype=bool)
    record(task, "noisy input", noisy, everywhere, 0.0)
    start = time.perf_counter()
    record(task, "mean image", np.broadcast_to(mean_image, truth.shape), everywhere, time.perf_counter() - start)
    start = time.perf_counter()
    filtered = median_filter(noisy, size=(1, 1, 3, 3))
    record(task, "median filter 3×3", filtered, everywhere, time.perf_counter() - start)
    start = time.perf_counter()
    knn_reg = KNeighborsRegressor(n_neighbors=5).fit(train_knn, train_knn)
    knn_out = knn_reg.predict(noisy.reshape(len(noisy), -1)).reshape(truth.shape)
    record(task, "KNN (5 nearest train images)", knn_out, everywhere, time.perf_counter() - start)
    start = time.perf_counter()
    record(task, "vaekit, normal model", model.denoise(noisy).numpy(), everywhere, time.perf_counter() - start)
    start = time.perf_counter()
    record(task, "vaekit, --corrupt model", dvae.denoise(noisy).numpy(), everywhere, time.perf_counter() - start)

    shown = {"half": np.where(holes["half"], 0.5, truth), "random50": np.where(holes["random50"], 0.5, truth)}
    shown["gauss0.3"] = noisy
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {
        "benchmark": "MNIST inpainting and denoising, PSNR (dB) of the filled / cleaned pixels",
        "test_images": f"the first {args.n} of the MNIST test set",
        "results": results,
        "settings": {
            "run": run_info(args.run),
            "denoise_run": run_info(args.denoise_run),
            "denoise_run_trained_here": train_seconds > 5,
            "seconds_total": round(time.perf_counter() - begin, 1),
            "knn_train_images": args.knn_train,
            "iw_samples": args.iw_samples,
            "refine": args.refine,
            "seed": args.seed,
            "platform": platform.platform(),
            "torch_threads": torch.get_num_threads(),
        },
    }
    write_json(args.out / "inpaint_mnist.json", summary)
    figure(truth, shown, images, args.out / "inpaint_mnist.png")
    print(f"wrote {args.out / 'inpaint_mnist.json'} and inpaint_mnist.png")


def figure(truth: np.ndarray, shown: dict[str, np.ndarray], images: dict, path: Path) -> None:
    """One panel per task: rows original / corrupted / each method, columns the first test images."""
    fig, axes = plt.subplots(1, len(TASKS), figsize=(5.6 * len(TASKS), 3.9))
    for ax, task in zip(axes, TASKS, strict=True):
        rows = {"original": truth[:EXAMPLES], "corrupted": shown[task][:EXAMPLES]}
        rows.update({k: v for k, v in images[task].items() if k != "noisy input"})
        mosaic = np.concatenate(
            [np.concatenate([np.pad(im[0], 1, constant_values=1.0) for im in row], 1) for row in rows.values()], 0
        )
        ax.imshow(np.clip(mosaic, 0, 1), cmap="gray", vmin=0, vmax=1)
        ax.set_yticks([30 * i + 15 for i in range(len(rows))], list(rows), fontsize=8)
        ax.set_xticks([])
        ax.set_title(task, fontsize=10)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110))
    plt.close(fig)


if __name__ == "__main__":
    main()
