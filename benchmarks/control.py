"""Control: conditional samples, counterfactuals, attribute edits, disentanglement and conditional table rows.

Five parts in one run (``--skip`` leaves some out), each measured against its target:

1. ``mnist``: a class-conditional seed MLP VAE (condition "label", at most ``--mnist-minutes`` of training). A small
   CNN trained here on MNIST's training images (conv32-pool-conv64-pool-fc128, Adam) labels 1,000 prior samples
   per digit (``model.sample(n, condition={"label": k})``, decoded means): accuracy as the requested digit
   (target >= 0.97). Diversity: the mean within-class pairwise L2 distance of the samples over that of the real
   test images of the class (target >= 0.80).
2. ``counterfactual``: the first 1,000 test digits encoded with their own label (``given``) and decoded with each
   of the nine other labels (``condition``): the share the CNN reads as the new digit (target >= 0.95).
3. ``edit``: a VAE on ``shapes``; the attribute vector of "scale" fitted on the training factors
   (``model.fit_attributes``: the change of the mean code per standard deviation of scale), then 500 test images
   moved by +2 along it (``model.edit(x, "scale", [0, 0.5, 1, 2])``): the share whose measured size
   (``measure_scale``) grows (target >= 0.90), and the share a shape CNN trained here gives the same shape as on
   the amount-0 image (target >= 0.90; agreement with the true shape, the smaller amounts and a breakdown by the
   true scale are reported beside it). The shape CNN is trained with half of its batches blurred, so that it reads
   a decoder's smooth images by their shape (its accuracy on sharp and on blurred test images is reported). A
   second model conditioned on the shape (``--edit-condition``) is measured beside the plain one.
4. ``disentangle``: VAE (beta 1), beta-VAE (beta 4) and beta-TCVAE (objective betatc, beta 6), same architecture,
   data and time budget, ``--seeds`` seeds each, latent size 10 (as Locatello et al., 2019): MIG, DCI and SAP of
   the posterior means of at most 10,000 images (training codes, then the test split) against the factors as grid
   indices, all treated as discrete (as disentanglement_lib does on dSprites). Target: the beta-TCVAE's mean MIG
   at least twice the VAE's.
5. ``table``: scikit-learn's breast-cancer table (569 x 30 + the diagnosis, "malignant"/"benign") as a CSV; a VAE
   conditioned on the diagnosis samples as many rows per diagnosis as the data has, and each of the 30 columns is
   compared with that diagnosis's real rows by the two-sample Kolmogorov-Smirnov statistic (target: more than
   half of the columns at KS <= 0.1, per diagnosis). Baseline: an unconditional VAE with the same settings, its
   samples against each diagnosis's rows.

Writes ``control.json`` (every value, its target and a pass flag; settings, machine, seconds per part) and
``control.png`` under ``--out``; trained models go to ``OUT/control_runs/`` and ``--reuse`` loads them again when
they were trained with the same settings.

    python benchmarks/control.py --out benchmarks/results                  # about an hour on 2 CPU cores
    python benchmarks/control.py --quick --out /tmp/control               # tiny sizes: checks the code (~2 min)
    python benchmarks/control.py --skip disentangle,table --reuse          # some parts, reusing trained models
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import subprocess
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import vaekit  # noqa: E402
from vaekit._io import atomic_write, write_json  # noqa: E402
from vaekit.data.mnist import mnist_arrays  # noqa: E402
from vaekit.data.shapes import FACTORS, SCALES, factor_indices, measure_scale  # noqa: E402
from vaekit.inference.disentanglement import disentanglement_scores  # noqa: E402

PARTS = ("mnist", "counterfactual", "edit", "disentangle", "table")
TARGETS = {
    "mnist_accuracy": 0.97,  # mean over digits: prior samples read as the requested digit
    "mnist_diversity": 0.80,  # mean over digits: within-class distance of samples / of real test images
    "counterfactual": 0.95,  # share of counterfactuals read as the new digit
    "edit_scale_grows": 0.90,  # share of +2 scale edits whose measured size grows
    "edit_shape_kept": 0.90,  # share of +2 scale edits the shape CNN reads as the amount-0 image's shape
    "mig_ratio": 2.0,  # beta-TCVAE's mean MIG / VAE's mean MIG
    "table_ks_share": 0.5,  # share of columns with KS <= 0.1, per diagnosis (must exceed)
}
KS_GOOD = 0.1
CL = torch.channels_last
LOCATELLO = (
    "Published dSprites ranges (Locatello et al., 2019, 'Challenging Common Assumptions in the Unsupervised Learning "
    "of Disentangled Representations'): see Locatello et al. 2019, Fig. 13. Not reproduced as numbers here: they "
    "could not be checked offline."
)
DISENTANGLE_MODELS = {  # name -> training options; same architecture, data and time budget
    "VAE": {"beta": 1.0, "objective": "elbo"},
    "beta-VAE": {"beta": 4.0, "objective": "elbo"},
    "beta-TCVAE": {"beta": 6.0, "objective": "betatc"},
}


@dataclass(frozen=True)
class Sizes:
    """How big each part is: the full benchmark's, or --quick's tiny ones (checks the code, measures nothing)."""

    mnist_subset: int | None  # training images of the conditional VAE (None: all 60,000)
    mnist_minutes: float
    mnist_epochs: int
    classifier_images: int | None  # training images of the MNIST CNN (None: all)
    classifier_epochs: int  # of the MNIST CNN (3: about 99 % test accuracy)
    per_digit: int  # prior samples per digit
    counterfactuals: int  # first test digits
    shapes_data: str  # the shapes spec of parts 3 and 4
    shape_classifier_epochs: int  # of the shapes CNN (half its batches blurred)
    edit_images: int
    edit_minutes: float
    shapes_minutes: float
    seeds: int
    metric_images: int  # codes scored by the disentanglement metrics (training codes, then test codes)
    table_minutes: float


FULL = Sizes(None, 5.0, 200, None, 3, 1000, 1000, "shapes:20000", 10, 500, 10.0, 3.0, 3, 10_000, 2.0)
QUICK = Sizes(3000, 0.1, 200, 3000, 2, 100, 100, "shapes:2000", 2, 100, 0.1, 0.05, 2, 400, 0.05)


# -- set-up ------------------------------------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    p.add_argument("--quick", action="store_true", help="tiny sizes, to check the code (under 3 minutes)")
    p.add_argument("--skip", default="", help=f"comma-separated parts to leave out: {', '.join(PARTS)}")
    p.add_argument("--seed", type=int, default=0, help="seed of every model and sample (disentangle: seed, seed+1, ..)")
    p.add_argument("--reuse", action="store_true", help="load models from OUT/control_runs trained with these settings")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--device", default="auto", help="vaekit's training device: auto, cpu or cuda")
    p.add_argument("--mnist-beta", type=float, default=None, help="KL weight (default: vaekit's)")
    p.add_argument("--mnist-independence", type=float, default=None, help="critic weight (default: vaekit's)")
    p.add_argument("--mnist-minutes", type=float, default=None, help="training time limit (default: 5; quick 0.1)")
    p.add_argument("--mnist-epochs", type=int, default=None, help="epoch cap under the time limit (default: 200)")
    p.add_argument("--classifier-epochs", type=int, default=None, help="epochs of the MNIST CNN (default: 3)")
    p.add_argument("--shape-classifier-epochs", type=int, default=None, help="epochs of the shapes CNN (default: 10)")
    p.add_argument("--shapes-data", default=None, help="shapes spec of parts 3 and 4 (default: shapes:20000)")
    p.add_argument("--shapes-preset", default="conv", help="architecture of the shapes VAEs (parts 3 and 4)")
    p.add_argument("--shapes-minutes", type=float, default=None, help="training minutes per part-4 model (default 3)")
    p.add_argument("--edit-condition", default="shape", help="part 3: the second model's condition ('' for none)")
    p.add_argument("--edit-minutes", type=float, default=None, help="training minutes per part-3 model (default 10)")
    p.add_argument("--seeds", type=int, default=None, help="seeds per part-4 model (default: 3)")
    p.add_argument("--metric-images", type=int, default=None, help="codes scored in part 4 (default: 10,000)")
    p.add_argument("--table-preset", default="table", help="vaekit preset of the table models")
    p.add_argument("--table-minutes", type=float, default=None, help="training minutes per table model (default 2)")
    args = p.parse_args()
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    unknown = args.skip - set(PARTS)
    if unknown:
        p.error(f"unknown parts {sorted(unknown)}: expected some of {', '.join(PARTS)}")
    args.sizes = sizes_of(args)
    return args


def sizes_of(args: argparse.Namespace) -> Sizes:
    """--quick's or the full sizes, with the options given on the command line in their place."""
    given = {
        "mnist_minutes": args.mnist_minutes,
        "mnist_epochs": args.mnist_epochs,
        "classifier_epochs": args.classifier_epochs,
        "shape_classifier_epochs": args.shape_classifier_epochs,
        "shapes_data": args.shapes_data,
        "shapes_minutes": args.shapes_minutes,
        "edit_minutes": args.edit_minutes,
        "seeds": args.seeds,
        "metric_images": args.metric_images,
        "table_minutes": args.table_minutes,
    }
    return replace(QUICK if args.quick else FULL, **{k: v for k, v in given.items() if v is not None})


def cpu_model() -> str:
    """The CPU's model name from lscpu (else platform.processor())."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        text = ""
    for line in text.splitlines():
        if line.lower().startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    import sklearn

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": gpu,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "vaekit": vaekit.__version__,
        "scikit-learn": sklearn.__version__,
    }


# -- trained models, reusable ------------------------------------------------------------------------------------
def trained(args: argparse.Namespace, name: str, data: str, **options: Any) -> tuple[Any, dict[str, Any]]:
    """The VAE ``vaekit.train(data, **options)`` saved as OUT/control_runs/NAME (loaded again with --reuse when
    NAME.request.json holds the same request), and how it was trained."""
    runs = args.out / "control_runs"
    out, request_file = runs / name, runs / f"{name}.request.json"
    request = {"data": data, "device": args.device, **options}
    if args.reuse and request_file.exists() and (out / "config.json").exists():
        saved = json.loads(request_file.read_text())
        model = vaekit.load(out)
        if saved.get("request") == request and model.record.status == "finished":
            return model, {**saved["trained"], "reused": True}
    runs.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    model = vaekit.train(data, out, overwrite=True, progress=False, device=args.device, **options)
    result = model.run_config["training"]["result"]
    info = {
        "run": str(out),
        "train_seconds": round(time.perf_counter() - start, 1),
        "epochs_completed": result["epochs_completed"],
        "best_epoch": result["best_epoch"],
        "stopped_by": result["stopped_by"],
        "last_epoch": {k: v for k, v in (model.history[-1] if model.history else {}).items() if k != "epoch"},
    }
    write_json(request_file, {"request": request, "trained": info})
    return model, {**info, "reused": False}


def small_cnn(channels: int, size: int, classes: int) -> nn.Module:
    """conv32-pool-conv64-pool-fc128: the independent classifier of generated images."""
    return nn.Sequential(
        nn.Conv2d(channels, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * (size // 4) ** 2, 128),
        nn.ReLU(),
        nn.Linear(128, classes),
    )


def blur(x: torch.Tensor, g: torch.Generator, share: float = 0.5, sigmas: tuple[float, float] = (0.2, 1.4)):
    """A copy of images (N, C, H, W) with a random ``share`` of them blurred by a Gaussian of a random width (in
    pixels, uniform in ``sigmas``): separable 7-tap kernels, one per image, edges replicated."""
    n, c = x.shape[:2]
    sigma = sigmas[0] + torch.rand(n, generator=g) * (sigmas[1] - sigmas[0])
    on = torch.rand(n, generator=g) < share
    taps = torch.arange(-3, 4, dtype=torch.float32)
    w = torch.exp(-(taps[None] ** 2) / (2 * sigma[:, None] ** 2))
    w = (w / w.sum(1, keepdim=True)).repeat_interleave(c, 0)  # (N*C, 7)
    b = x.reshape(1, n * c, *x.shape[2:])
    b = nn.functional.conv2d(nn.functional.pad(b, (3, 3, 0, 0), mode="replicate"), w[:, None, None], groups=n * c)
    b = nn.functional.conv2d(nn.functional.pad(b, (0, 0, 3, 3), mode="replicate"), w[:, None, :, None], groups=n * c)
    return torch.where(on[:, None, None, None], b.reshape(x.shape), x)


def fit_cnn(net: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, seed: int, augment: bool = False) -> None:
    """Adam (1e-3), batches of 128, shuffled with ``seed``; channels-last (faster convolutions on CPUs).
    ``augment``: half of each batch blurred (``blur``), so that the CNN reads a decoder's smooth images by their
    shape rather than by how sharp their edges are."""
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=g).split(128):
            batch = blur(x[idx], g) if augment else x[idx]
            opt.zero_grad()
            nn.functional.cross_entropy(net(batch.contiguous(memory_format=CL)), y[idx]).backward()
            opt.step()
    net.eval()


@torch.no_grad()
def predict(net: nn.Module, x: torch.Tensor) -> np.ndarray:
    return torch.cat([net(b.contiguous(memory_format=CL)).argmax(1) for b in x.split(1000)]).numpy()


def classifier(
    args: argparse.Namespace, name: str, train: tuple, test: tuple, epochs: int, augment: bool = False
) -> tuple[nn.Module, dict]:
    """A small CNN for images (N, C, H, W) -> class, trained (or, with --reuse, loaded from OUT/control_runs/NAME.pt
    when trained on as many images for as many epochs with the same seed); its test accuracy (and, ``augment``:
    trained on half-blurred batches, its accuracy on blurred test images too)."""
    (x, y), (xt, yt) = train, test
    classes = int(max(y.max(), yt.max())) + 1
    torch.manual_seed(args.seed)
    net = small_cnn(x.shape[1], x.shape[-1], classes).to(memory_format=CL)
    key = {"images": len(x), "epochs": epochs, "seed": args.seed, "classes": classes}
    key |= {"augment": "blur"} if augment else {}
    path = args.out / "control_runs" / f"{name}.pt"
    reused = False
    if args.reuse and path.exists():
        saved = torch.load(path, weights_only=True)
        if saved["key"] == key:
            net.load_state_dict(saved["weights"])
            net.eval()
            reused = True
    start = time.perf_counter()
    if not reused:
        fit_cnn(net, x, y, epochs, args.seed, augment)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"key": key, "weights": net.state_dict()}, path)
    accuracy = float((predict(net, xt) == yt.numpy()).mean())
    info = {**key, "architecture": "conv32-pool-conv64-pool-fc128", "test_accuracy": accuracy, "reused": reused}
    if augment:  # every test image blurred (share 1), with its own seed
        blurred = blur(xt, torch.Generator().manual_seed(args.seed + 1), share=1.0)
        info["blurred_test_accuracy"] = float((predict(net, blurred) == yt.numpy()).mean())
    return net, {**info, "train_seconds": round(time.perf_counter() - start, 1)}


# -- parts 1 and 2: MNIST ----------------------------------------------------------------------------------------
@functools.cache
def mnist() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """MNIST as float32 images (N, 1, 28, 28) in [0, 1] and int64 labels, per split."""
    return {
        s: (torch.from_numpy(x.astype(np.float32) / 255)[:, None], torch.from_numpy(y.astype(np.int64)))
        for s, (x, y) in mnist_arrays().items()
    }


_MNIST_MODELS: dict[str, tuple[Any, nn.Module, dict]] = {}


def _mnist_models(args: argparse.Namespace) -> tuple[Any, nn.Module, dict]:
    """The conditional VAE and the CNN (trained once, shared by parts 1 and 2), and how they were trained."""
    if "models" not in _MNIST_MODELS:
        _MNIST_MODELS["models"] = _train_mnist_models(args)
    return _MNIST_MODELS["models"]


def _train_mnist_models(args: argparse.Namespace) -> tuple[Any, nn.Module, dict]:
    z = args.sizes
    options = {
        "preset": "seed",
        "condition": "label",
        "epochs": z.mnist_epochs,
        "time_limit": z.mnist_minutes,
        "subset": z.mnist_subset,
        "seed": args.seed,
        **({"beta": args.mnist_beta} if args.mnist_beta is not None else {}),
        **({"independence": args.mnist_independence} if args.mnist_independence is not None else {}),
    }
    model, info = trained(args, "mnist_conditional", "mnist", **options)
    (x, y), test = mnist()["train"], mnist()["test"]
    if z.classifier_images is not None:
        keep = torch.randperm(len(x), generator=torch.Generator().manual_seed(args.seed))[: z.classifier_images]
        x, y = x[keep], y[keep]
    net, cnn = classifier(args, "mnist_classifier", (x, y), test, z.classifier_epochs)
    return model, net, {"vae": {**options, **info}, "classifier": cnn}


def mean_pairwise(x: torch.Tensor) -> float:
    """Mean L2 distance over distinct pairs of rows of x (flattened)."""
    flat = x.flatten(1).double()
    d = torch.cdist(flat, flat)
    n = len(flat)
    return float(d.sum() / (n * (n - 1)))


def part_mnist(args: argparse.Namespace) -> dict[str, Any]:
    model, net, trained_info = _mnist_models(args)
    xt, yt = mnist()["test"]
    accuracy, diversity, grid = {}, {}, []
    for k in range(10):
        samples = model.sample(args.sizes.per_digit, seed=args.seed + k, condition={"label": k})
        accuracy[str(k)] = float((predict(net, samples) == k).mean())
        diversity[str(k)] = mean_pairwise(samples) / mean_pairwise(xt[yt == k][:2000])
        grid.append(samples[:10])
    acc, div = float(np.mean(list(accuracy.values()))), float(np.mean(list(diversity.values())))
    return {
        "protocol": "model.sample(n, condition={'label': k}) per digit k (vaekit's default codes, decoded means); "
        "accuracy by the CNN; diversity = mean within-class pairwise L2 of samples / of the real test images of k",
        "samples_per_digit": args.sizes.per_digit,
        **trained_info,
        "accuracy_per_digit": accuracy,
        "diversity_per_digit": diversity,
        "accuracy": acc,
        "diversity": div,
        "_grid": torch.stack(grid).numpy(),  # (10 digits, 10 samples, 1, 28, 28), for the figure only
    }


def part_counterfactual(args: argparse.Namespace) -> dict[str, Any]:
    model, net, _ = _mnist_models(args)
    xt, yt = mnist()["test"]
    x, y = xt[: args.sizes.counterfactuals], yt[: args.sizes.counterfactuals]
    hits, per_target = [], {str(k): [] for k in range(10)}
    for shift in range(1, 10):
        target = (y + shift) % 10
        ok = predict(net, model.reconstruct(x, {"label": target}, given={"label": y})) == target.numpy()
        hits.append(ok)
        for k in range(10):
            per_target[str(k)].append(ok[target.numpy() == k])
    rows = x[:6]
    strips = [
        model.reconstruct(rows, {"label": torch.full((len(rows),), k)}, given={"label": y[:6]}) for k in range(10)
    ]
    return {
        "protocol": "first N test digits encoded with their own label, decoded with each of the 9 others; share the "
        "CNN reads as the new digit",
        "digits": len(x),
        "share": float(np.concatenate(hits).mean()),
        "share_per_new_digit": {k: float(np.concatenate(v).mean()) for k, v in per_target.items()},
        "own_label_accuracy": float((predict(net, model.reconstruct(x, given={"label": y})) == y.numpy()).mean()),
        "_rows": torch.cat([rows[:, None], torch.stack(strips, 1)], 1).numpy(),  # (6, 11, 1, 28, 28)
    }


# -- parts 3 and 4: shapes ---------------------------------------------------------------------------------------
@functools.cache
def shapes(spec: str):
    return vaekit.load_dataset(spec)


def part_edit(args: argparse.Namespace) -> dict[str, Any]:
    """The plain model (the target) and, beside it, one conditioned on ``--edit-condition`` (default: shape)."""
    z = args.sizes
    data = shapes(z.shapes_data)
    x, labels = data.splits["train"], data.labels["train"]
    net, cnn = classifier(args, "shapes_classifier", (x, labels), (data.splits["test"], data.labels["test"]),
                          z.shape_classifier_epochs, augment=True)  # fmt: skip
    plain = _edit(args, data, net, None)
    given = _edit(args, data, net, args.edit_condition) if args.edit_condition else None
    if given:
        given.pop("_strips")
    return {**plain, "classifier": cnn} | ({f"given_{args.edit_condition}": given} if given else {})


def _edit(args: argparse.Namespace, data: Any, net: nn.Module, condition: str | None) -> dict[str, Any]:
    z = args.sizes
    options = {"preset": args.shapes_preset, "latent_dim": 10, "epochs": 500, "time_limit": z.edit_minutes}
    if condition:  # a model conditioned on these factors: the edit moves z only, y stays the input's own
        options["condition"] = condition
    name = "shapes_edit" + (f"_given_{condition.replace(',', '_')}" if condition else "")
    model, info = trained(args, name, z.shapes_data, **options, seed=args.seed)
    x = data.splits["train"]
    xt, lt = data.splits["test"][: z.edit_images], data.labels["test"][: z.edit_images]
    attr, idx = data.attribute_info.select(["scale"])
    given = y_train = None
    if condition:
        cond, cidx = data.attribute_info.select(condition.split(","))
        y_train, given = data.attributes["train"][:20_000, cidx], data.attributes["test"][: z.edit_images, cidx]
    entry = model.fit_attributes(x[:20_000], data.attributes["train"][:20_000, idx], attr, condition=y_train)["scale"]
    amounts = [0.0, 0.5, 1.0, 2.0]
    edited = model.edit(xt, "scale", amounts, condition=given)  # (N, A, 1, H, W): amount 0 is the reconstruction
    sizes = [measure_scale(edited[:, k]) for k in range(len(amounts))]
    shapes_read = [predict(net, edited[:, k]) for k in range(len(amounts))]
    truth, factor = lt.numpy(), data.attributes["test"][: z.edit_images, idx[0]].numpy()
    curve = {
        f"{a:g}": {
            "scale_grows": float((sizes[k] > sizes[0]).mean()),
            "shape_kept": float((shapes_read[k] == shapes_read[0]).mean()),
            "shape_true": float((shapes_read[k] == truth).mean()),
            "mean_scale": float(sizes[k].mean()),
        }
        for k, a in enumerate(amounts)
    }
    sd = float(entry.get("sd", float("nan")))
    by_scale = {
        f"{v:.1f}": {
            "images": int((factor == v).sum()),
            "shape_true_amount0": float((shapes_read[0][factor == v] == truth[factor == v]).mean()),
            "shape_kept_amount2": float((shapes_read[-1][factor == v] == shapes_read[0][factor == v]).mean()),
        }
        for v in np.unique(factor)
    }
    strips = model.edit(
        xt[:6], "scale", [-2.0, -1.0, 0.0, 1.0, 2.0, 3.0], condition=None if given is None else given[:6]
    )
    return {
        "protocol": "attribute vector of scale (least-squares change of the mean code per standard deviation of the "
        "scale factor, fitted on 20,000 training images); test images moved by 0.5, 1 and 2 (standard deviations); "
        "size by measure_scale; shape kept = CNN prediction on the edited image equals its prediction on the "
        "amount-0 image",
        "model": {**options, **info},
        "vector": {k: entry[k] for k in ("positive", "negative", "norm", "split") if k in entry} | {"sd": sd},
        "images": len(xt),
        "scale_grows": curve["2"]["scale_grows"],
        "shape_kept": curve["2"]["shape_kept"],
        "shape_true_amount0": curve["0"]["shape_true"],
        "shape_true_amount2": curve["2"]["shape_true"],
        "beyond_training_range_at_2": float((factor + 2 * sd > float(SCALES.max()) + 1e-6).mean()),
        "by_amount": curve,
        "by_true_scale": by_scale,
        "shape_note": "shape_kept compares the CNN's predictions on the +2 and the amount-0 images (the target); "
        "read it beside shape_true_amount0: a CNN that calls every blurry reconstruction one shape keeps it trivially. "
        "beyond_training_range_at_2: share of inputs whose scale factor + 2 sd exceeds the largest training scale",
        "_strips": torch.cat([xt[:6, None], strips], 1).numpy(),  # (6, 7, 1, H, W): input, amounts -2..3
    }


def codes_and_factors(model, data, n: int) -> tuple[np.ndarray, ...]:
    """Posterior means and factor grid indices of (n - test) training images and the test images (<= n / 5)."""
    n_test = min(len(data.splits["test"]), n // 5)
    n_train = min(len(data.splits["train"]), n - n_test)
    out = []
    for split, m in (("train", n_train), ("test", n_test)):
        out.append(model.latent_codes(data.splits[split][:m]).numpy())
        out.append(factor_indices(data.attributes[split][:m]))
    return tuple(out)


def part_disentangle(args: argparse.Namespace) -> dict[str, Any]:
    z = args.sizes
    data = shapes(z.shapes_data)
    runs: dict[str, list[dict]] = {name: [] for name in DISENTANGLE_MODELS}
    for seed in range(args.seed, args.seed + z.seeds):
        for name, objective in DISENTANGLE_MODELS.items():
            options = {"preset": args.shapes_preset, "latent_dim": 10, "epochs": 500, "time_limit": z.shapes_minutes}
            model, info = trained(args, f"shapes_{name}_s{seed}", z.shapes_data, **options, **objective, seed=seed)
            start = time.perf_counter()
            s = disentanglement_scores(*codes_and_factors(model, data, z.metric_images), list(FACTORS),
                                       discrete=[True] * len(FACTORS), seed=seed)  # fmt: skip
            row = {
                "seed": seed,
                "mig": s["mig"]["mig"],
                "mig_per_factor": dict(zip(FACTORS, s["mig"]["per_factor"], strict=True)),
                "dci_disentanglement": s["dci"]["disentanglement"],
                "dci_completeness": s["dci"]["completeness"],
                "dci_informativeness": s["dci"]["informativeness"],
                "sap": s["sap"]["sap"],
                "metric_seconds": round(time.perf_counter() - start, 1),
                **info,
            }
            runs[name].append(row)
            print(f"  {name:>10} seed {seed}: MIG {row['mig']:.3f}, DCI-D {row['dci_disentanglement']:.3f}, "
                  f"SAP {row['sap']:.3f} ({info['epochs_completed']} epochs)", flush=True)  # fmt: skip
    keys = ("mig", "dci_disentanglement", "dci_completeness", "dci_informativeness", "sap")
    summary = {n: {k: _mean_sd([r[k] for r in rows]) for k in keys} for n, rows in runs.items()}
    vae, tc = summary["VAE"]["mig"]["mean"], summary["beta-TCVAE"]["mig"]["mean"]
    return {
        "protocol": "codes = posterior means; factors = grid indices (factor_indices), all discrete; MIG on train + "
        "test codes, DCI and SAP fitted on the training codes and scored on the test codes",
        "data": z.shapes_data,
        "architecture": {"preset": args.shapes_preset, "latent_dim": 10},
        "minutes_per_model": z.shapes_minutes,
        "metric_images": z.metric_images,
        "models": {n: {**o, "runs": runs[n], "summary": summary[n]} for n, o in DISENTANGLE_MODELS.items()},
        "mig_ratio_tc_over_vae": tc / vae if vae > 0 else float("inf"),
        "published": LOCATELLO,
    }


def _mean_sd(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    return {"mean": float(a.mean()), "sd": float(a.std(ddof=1)) if len(a) > 1 else 0.0}


# -- part 5: tables ----------------------------------------------------------------------------------------------
def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the two empirical CDFs (as scipy's
    ks_2samp(...).statistic)."""
    a, b = np.sort(a), np.sort(b)
    v = np.concatenate([a, b])
    return float(np.abs(np.searchsorted(a, v, "right") / len(a) - np.searchsorted(b, v, "right") / len(b)).max())


def breast_cancer_csv(folder: Path) -> tuple[Path, Any]:
    """scikit-learn's breast-cancer table with the diagnosis as a categorical column, written as a CSV."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.drop(columns="target")
    frame["diagnosis"] = np.asarray(bunch.target_names)[bunch.target.to_numpy()]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "breast_cancer.csv"
    frame.to_csv(path, index=False)
    return path, frame


def ks_rows(real, sampled, columns: list[str]) -> dict[str, float]:
    return {c: ks_statistic(real[c].to_numpy(np.float64), sampled[c].to_numpy(np.float64)) for c in columns}


TABLE_SAMPLES_PER_ROW = 10


def part_table(args: argparse.Namespace) -> dict[str, Any]:
    path, frame = breast_cancer_csv(args.out / "control_runs")
    options = {"preset": args.table_preset, "time_limit": args.sizes.table_minutes, "seed": args.seed}
    conditional, cinfo = trained(args, "table_conditional", str(path), condition="diagnosis", **options)
    unconditional, uinfo = trained(args, "table_unconditional", str(path), **options)
    columns = [c for c in frame.columns if c != "diagnosis"]
    per: dict[str, Any] = {}
    for i, d in enumerate(("malignant", "benign")):
        real = frame[frame["diagnosis"] == d]
        n = len(real)
        m = TABLE_SAMPLES_PER_ROW * n  # many samples: the KS then measures the model, not the sample's own noise
        ks = ks_rows(real, conditional.sample_frame(m, seed=args.seed + i, condition={"diagnosis": d}), columns)
        base = ks_rows(real, unconditional.sample_frame(m, seed=args.seed + 10 + i), columns)
        per[d] = {
            "rows": n,
            "samples": m,
            "ks": ks,
            "share_ks_le_0.1": float(np.mean([v <= KS_GOOD for v in ks.values()])),
            "mean_ks": float(np.mean(list(ks.values()))),
            "baseline_ks": base,
            "baseline_share_ks_le_0.1": float(np.mean([v <= KS_GOOD for v in base.values()])),
            "baseline_mean_ks": float(np.mean(list(base.values()))),
            "ks_critical_5pct": 1.358 * float(np.sqrt((n + m) / (n * m))),  # for scale: the KS noise level
        }
    return {
        "protocol": "breast cancer (569 x 30 + diagnosis) as a CSV; 10 x n_d rows sampled (drawn from p(x|z, y)) per "
        "diagnosis d against its n_d real rows (the training rows); KS per column; baseline: an unconditional "
        "model's 10 x n_d rows",
        "conditional": {**options, "condition": "diagnosis", **cinfo},
        "unconditional": {**options, **uinfo},
        "per_diagnosis": per,
    }


# -- targets, figure, summary ------------------------------------------------------------------------------------
def target_rows(parts: dict[str, dict]) -> list[dict[str, Any]]:
    """One row per target: part, what, measured value, target, comparison, pass."""
    rows = []

    def add(part: str, what: str, value: float, key: str, op: str = ">=") -> None:
        target = TARGETS[key]
        ok = value >= target if op == ">=" else value > target
        rows.append({"part": part, "what": what, "value": value, "target": target, "op": op, "pass": bool(ok)})

    if "mnist" in parts:
        add("mnist", "conditional samples read as the digit (mean)", parts["mnist"]["accuracy"], "mnist_accuracy")
        add("mnist", "diversity, samples / real (mean)", parts["mnist"]["diversity"], "mnist_diversity")
    if "counterfactual" in parts:
        add("counterfactual", "read as the new digit", parts["counterfactual"]["share"], "counterfactual")
    if "edit" in parts:
        add("edit", "scale +2 grows the shape", parts["edit"]["scale_grows"], "edit_scale_grows")
        add("edit", "scale +2 keeps the predicted shape", parts["edit"]["shape_kept"], "edit_shape_kept")
    if "disentangle" in parts:
        add("disentangle", "MIG beta-TCVAE / VAE", parts["disentangle"]["mig_ratio_tc_over_vae"], "mig_ratio")
    if "table" in parts:
        for d, r in parts["table"]["per_diagnosis"].items():
            add("table", f"{d}: share of columns KS <= 0.1", r["share_ks_le_0.1"], "table_ks_share", ">")
    return rows


def mosaic(images: np.ndarray) -> np.ndarray:
    """(R, C, ch, H, W) in [0, 1] -> one (R*(H+1)+1, C*(W+1)+1) gray picture with 1-pixel white lines."""
    r, c, _, h, w = images.shape
    out = np.ones((r * (h + 1) + 1, c * (w + 1) + 1), dtype=np.float32)
    for i in range(r):
        for j in range(c):
            out[1 + i * (h + 1) : 1 + i * (h + 1) + h, 1 + j * (w + 1) : 1 + j * (w + 1) + w] = images[i, j].max(0)
    return out


def _skipped(ax, what: str) -> None:
    ax.text(0.5, 0.5, f"{what}: skipped", ha="center", va="center", fontsize=9, color="#6b7280")
    ax.axis("off")


def _picture(ax, images: np.ndarray | None, title: str) -> None:
    if images is None:
        _skipped(ax, title)
        return
    ax.imshow(mosaic(images), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def _mig_panel(ax, part: dict | None) -> None:
    if part is None:
        _skipped(ax, "disentanglement")
        return
    names = list(part["models"])
    for i, n in enumerate(names):
        migs = [r["mig"] for r in part["models"][n]["runs"]]
        ax.bar(i, np.mean(migs), color=["#9ca3af", "#60a5fa", "#2563eb"][i % 3], width=0.6)
        ax.scatter(np.full(len(migs), i) + np.linspace(-0.12, 0.12, len(migs)), migs, color="black", s=14, zorder=3)
    ax.set_xticks(range(len(names)), names, fontsize=8)
    ax.set_ylabel("MIG")
    ax.set_title(f"shapes, MIG per model (dots: {len(migs)} seeds)", fontsize=9)


def _ks_panel(ax, part: dict | None, diagnosis: str) -> None:
    if part is None:
        _skipped(ax, "table")
        return
    r = part["per_diagnosis"][diagnosis]
    cols = list(r["ks"])
    x = np.arange(len(cols))
    ax.bar(x - 0.2, list(r["ks"].values()), 0.4, color="#2563eb", label="conditional VAE")
    ax.bar(x + 0.2, list(r["baseline_ks"].values()), 0.4, color="#9ca3af", label="unconditional VAE")
    ax.axhline(KS_GOOD, color="#dc2626", lw=1, ls="--", label="KS = 0.1")
    ax.set_xticks(x, cols, rotation=70, ha="right", fontsize=6)
    ax.set_ylabel("KS statistic")
    ax.set_title(f"{diagnosis} ({r['rows']} rows): {r['share_ks_le_0.1']:.0%} of columns at KS <= 0.1 "
                 f"(unconditional {r['baseline_share_ks_le_0.1']:.0%})", fontsize=9)  # fmt: skip
    ax.legend(fontsize=7, frameon=False)


def _targets_panel(ax, rows: list[dict]) -> None:
    ax.axis("off")
    lines = [
        f"{'PASS' if r['pass'] else 'fail'}  {r['what']}: {r['value']:.3f} ({r['op']} {r['target']})" for r in rows
    ]
    ax.text(0, 1, "\n".join(lines) or "no targets measured", va="top", ha="left", fontsize=8, family="monospace")
    ax.set_title("targets", fontsize=9, loc="left")


def plot(parts: dict[str, dict], rows: list[dict], path: Path) -> None:
    fig = plt.figure(figsize=(15, 13))
    gs = fig.add_gridspec(4, 3, height_ratios=[1.3, 1, 1, 1], hspace=0.7, wspace=0.12)
    get = lambda part, key: parts[part][key] if part in parts else None  # noqa: E731
    _picture(fig.add_subplot(gs[0, 0]), get("mnist", "_grid"), "conditional prior samples (row = digit 0-9)")
    _picture(fig.add_subplot(gs[0, 1]), get("counterfactual", "_rows"),
             "counterfactuals: test digit, then decoded as 0-9")  # fmt: skip
    _picture(fig.add_subplot(gs[0, 2]), get("edit", "_strips"), "shapes: input, then scale -2, -1, 0, 1, 2, 3")
    _mig_panel(fig.add_subplot(gs[1, 0]), parts.get("disentangle"))
    _targets_panel(fig.add_subplot(gs[1, 1:]), rows)
    _ks_panel(fig.add_subplot(gs[2, :]), parts.get("table"), "malignant")
    _ks_panel(fig.add_subplot(gs[3, :]), parts.get("table"), "benign")
    fig.suptitle("vaekit control: conditional generation, counterfactuals, editing, disentanglement, tables")
    atomic_write(path, lambda p: fig.savefig(p, dpi=100, format="png", bbox_inches="tight"))
    plt.close(fig)


def print_summary(rows: list[dict], parts: dict[str, dict], seconds: dict[str, float]) -> None:
    print(f"\n{'part':<15} {'what':<46} {'value':>8} {'target':>9}  pass")
    for r in rows:
        print(f"{r['part']:<15} {r['what']:<46} {r['value']:>8.3f} {r['op']:>3} {r['target']:<5}  "
              f"{'yes' if r['pass'] else 'NO'}")  # fmt: skip
    if "mnist" in parts:
        print(f"MNIST CNN test accuracy {parts['mnist']['classifier']['test_accuracy']:.4f}")
    if "edit" in parts:
        e = parts["edit"]
        true0, true2 = e["shape_true_amount0"], e["shape_true_amount2"]
        print(f"shapes CNN test accuracy {e['classifier']['test_accuracy']:.4f}; it reads the true shape on "
              f"{true0:.3f} of the amount-0 images, {true2:.3f} of the +2 ones")  # fmt: skip
        for key, g in e.items():
            if key.startswith("given_"):
                print(f"{key}: +2 grows {g['scale_grows']:.3f}, shape kept {g['shape_kept']:.3f} "
                      f"(true shape at 0: {g['shape_true_amount0']:.3f})")  # fmt: skip
    if "disentangle" in parts:
        for name, m in parts["disentangle"]["models"].items():
            s = m["summary"]
            print(f"{name:>10}: MIG {s['mig']['mean']:.3f} ± {s['mig']['sd']:.3f}, DCI-D "
                  f"{s['dci_disentanglement']['mean']:.3f}, SAP {s['sap']['mean']:.3f}")  # fmt: skip
    print("seconds: " + ", ".join(f"{p} {s:.0f}" for p, s in seconds.items()))


RUNNERS = {
    "mnist": part_mnist,
    "counterfactual": part_counterfactual,
    "edit": part_edit,
    "disentangle": part_disentangle,
    "table": part_table,
}


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    parts: dict[str, dict] = {}
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    for name in (p for p in PARTS if p not in args.skip):
        t0 = time.perf_counter()
        print(f"{name} ...", flush=True)
        parts[name] = RUNNERS[name](args)
        seconds[name] = round(time.perf_counter() - t0, 1)
        print(f"{name}: {seconds[name]:.0f} s", flush=True)
    rows = target_rows(parts)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k not in ("sizes", "skip")}
    result = {
        "benchmark": "control",
        "quick": args.quick,
        "settings": {**settings, "skip": sorted(args.skip), "sizes": asdict(args.sizes)},
        "machine": machine(),
        "targets": rows,
        "all_pass": all(r["pass"] for r in rows),
        "parts": {p: {k: v for k, v in r.items() if not k.startswith("_")} for p, r in parts.items()},
        "seconds": {**seconds, "total": round(time.perf_counter() - start, 1)},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "control.json", result)
    plot(parts, rows, args.out / "control.png")
    print_summary(rows, parts, result["seconds"])
    print(f"→ {args.out / 'control.json'}, {args.out / 'control.png'}")


if __name__ == "__main__":
    main()
