"""One-class MNIST anomaly detection: ROC-AUC of vaekit's scores beside scikit-learn and PyOD baselines.

    python benchmarks/anomaly_mnist.py [--digits 0-9] [--preset seed] [--epochs 30] [--binarize none] [--subset N]
        [--test-subset N] [--iw-samples 100] [--calibration-fraction 0.2]
        [--baselines iforest,ocsvm,pca,knn,pyod_vae] [--out benchmarks/results]

The usual protocol (e.g. Ruff et al., Deep SVDD, 2018): for each digit d, fit every method on the MNIST training
images of d only, score the whole test set (10,000 images) and compute the ROC-AUC with d as the normal class and
the nine other digits as anomalies. Every method sees the same training images (pixels in [0, 1]; the baselines
as flat 784-vectors) in one run; vaekit's five scores (excess, relative, elbo, iwae, recon) come from one model per
digit, trained on the gray levels as they are (--binarize none; MNIST's usual dynamic binarization scored 0.002
lower) on all but a held-out fifth of the digit's images, on which the model is calibrated (`model.calibrate`,
which fits the excess score's exponent) as a user calibrates a run on its held-out part.
Writes anomaly_mnist.json (AUC per digit and method, means, seconds, settings), anomaly_mnist.md (the per-digit
table) and anomaly_mnist.png (ROC curves) under --out. Needs the bench extra: pip install -e '.[bench]'.
Smoke run: --digits 0 --epochs 1 --subset 500 --test-subset 1000.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.ensemble import IsolationForest  # noqa: E402
from sklearn.metrics import roc_auc_score, roc_curve  # noqa: E402
from sklearn.neighbors import NearestNeighbors  # noqa: E402
from sklearn.svm import OneClassSVM  # noqa: E402

import vaekit  # noqa: E402
from vaekit._io import atomic_write, write_json, write_text  # noqa: E402
from vaekit.data import Dataset  # noqa: E402
from vaekit.data.mnist import mnist_arrays  # noqa: E402

SCORES = ("excess", "relative", "elbo", "iwae", "recon")
BASELINES = ("iforest", "ocsvm", "pca", "knn", "pyod_vae")
LABELS = {
    "vaekit_excess": "vaekit log E(x) - a log(1 + H(x)), a fitted (calibrated default)",
    "vaekit_relative": "vaekit -log p(x|z) / (1 + H(x))",
    "vaekit_elbo": "vaekit -ELBO",
    "vaekit_iwae": "vaekit -log p(x), IWAE",
    "vaekit_recon": "vaekit -log p(x|z)",
    "iforest": "IsolationForest",
    "ocsvm": "OneClassSVM",
    "pca": "PCA recon. error",
    "knn": "kNN distance",
    "pyod_vae": "PyOD VAE",
}
TARGET = 0.99  # mean ROC-AUC over the ten digits (issue 16)


def digits_arg(text: str) -> list[int]:
    if "-" in text:
        lo, hi = (int(t) for t in text.split("-"))
        return list(range(lo, hi + 1))
    return [int(t) for t in text.split(",") if t]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--digits", type=digits_arg, default=list(range(10)), help="e.g. 0-9 or 1,7")
    p.add_argument("--preset", default="seed", help="vaekit preset (seed, conv, resconv, ...)")
    p.add_argument("--epochs", type=int, default=30, help="training epochs of vaekit and of PyOD's VAE")
    p.add_argument("--latent-dim", type=int, default=None, help="vaekit latent size (default: the preset's)")
    p.add_argument("--binarize", default="none", help="vaekit's training binarization: none, dynamic, static, auto")
    p.add_argument("--subset", type=int, default=None, help="train on N random images of the digit")
    p.add_argument("--test-subset", type=int, default=None, help="score N random test images (default: all)")
    p.add_argument("--iw-samples", type=int, default=100, help="K of the iwae score")
    p.add_argument(
        "--calibration-fraction",
        type=float,
        default=0.2,
        help="share of the digit's training images vaekit holds out to calibrate on (the excess score's exponent)",
    )
    p.add_argument("--baselines", default=",".join(BASELINES), help="comma-separated; '' for none")
    p.add_argument("--pca-variance", type=float, default=0.9, help="PCA keeps this share of the variance")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = p.parse_args()
    args.baselines = [b for b in args.baselines.split(",") if b]
    unknown = set(args.baselines) - set(BASELINES)
    if unknown:
        p.error(f"unknown baselines {sorted(unknown)}: expected some of {', '.join(BASELINES)}")
    return args


def load(args: argparse.Namespace) -> tuple[dict[int, np.ndarray], np.ndarray, np.ndarray]:
    """Training images per digit (n, 1, 28, 28) float32 in [0, 1], test images and test labels."""
    rng = np.random.default_rng(args.seed)
    train_x, train_y = mnist_arrays()["train"]
    test_x, test_y = mnist_arrays()["test"]
    if args.test_subset is not None:
        keep = np.sort(rng.permutation(len(test_x))[: args.test_subset])
        test_x, test_y = test_x[keep], test_y[keep]
    per_digit = {}
    for d in args.digits:
        x = train_x[train_y == d]
        if args.subset is not None:
            x = x[np.sort(rng.permutation(len(x))[: args.subset])]
        per_digit[d] = (x.astype(np.float32) / 255)[:, None]
    return per_digit, (test_x.astype(np.float32) / 255)[:, None], test_y.astype(np.int64)


def vaekit_scores(
    x_train: np.ndarray, x_test: np.ndarray, normal: np.ndarray, args: argparse.Namespace
) -> dict[str, Any]:
    """Train one vaekit model on the normal digit; its scores of the test images."""
    schema = vaekit.Schema("image", (1, 28, 28), source="mnist, one digit")
    start = time.perf_counter()
    options = {"latent_dim": args.latent_dim} if args.latent_dim else {}
    held = np.random.default_rng(args.seed).permutation(len(x_train))
    n_cal = int(round(args.calibration_fraction * len(x_train)))
    x_cal, x_train = x_train[np.sort(held[:n_cal])], x_train[np.sort(held[n_cal:])]
    model = vaekit.train(
        Dataset({"train": torch.from_numpy(x_train)}, schema),
        preset=args.preset,
        epochs=args.epochs,
        binarize=args.binarize,
        seed=args.seed,
        **options,
    )
    exponent = model.calibrate(torch.from_numpy(x_cal), fpr=0.05, method="excess").exponent
    fit_seconds = time.perf_counter() - start
    flags = model.is_anomaly(torch.from_numpy(x_test[normal]))  # the digit's own test images, at fpr 0.05
    out = {"exponent": exponent, "flagged": (int(flags.sum()), len(flags))}
    for method in SCORES:
        start = time.perf_counter()
        k = args.iw_samples if method == "iwae" else None
        scores = model.anomaly_score(torch.from_numpy(x_test), method, iw_samples=k, seed=args.seed).numpy()
        out[f"vaekit_{method}"] = (scores, fit_seconds + time.perf_counter() - start)
    return out


def baseline_scores(name: str, x_train: np.ndarray, x_test: np.ndarray, args: argparse.Namespace):
    """(scores, seconds) of one baseline on flat pixel vectors; higher = more anomalous."""
    train, test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    start = time.perf_counter()
    if name == "iforest":
        scores = -IsolationForest(n_estimators=200, random_state=args.seed).fit(train).score_samples(test)
    elif name == "ocsvm":
        scores = -OneClassSVM(kernel="rbf", gamma="scale", nu=0.1).fit(train).decision_function(test)
    elif name == "pca":
        pca = PCA(n_components=args.pca_variance, random_state=args.seed).fit(train)
        scores = ((test - pca.inverse_transform(pca.transform(test))) ** 2).sum(1)
    elif name == "knn":  # mean distance to the 5 nearest training images (PyOD's KNN, method mean)
        scores = NearestNeighbors(n_neighbors=5).fit(train).kneighbors(test)[0].mean(1)
    else:  # PyOD's VAE (its own torch model; decision_function is its anomaly score)
        from pyod.models.vae import VAE as PyODVAE

        detector = PyODVAE(epoch_num=args.epochs, random_state=args.seed, verbose=0)
        scores = detector.fit(train).decision_function(test)
    return np.asarray(scores, dtype=np.float64), time.perf_counter() - start


def table(result: dict[str, Any]) -> str:
    methods, digits = result["methods"], result["digits"]
    head = "| digit | " + " | ".join(LABELS[m].replace("|", "\\|") for m in methods) + " |"
    rule = "|---|" + "---:|" * len(methods)
    rows = [f"| {d} | " + " | ".join(f"{result['auc'][m][str(d)]:.4f}" for m in methods) + " |" for d in digits]
    mean = "| **mean** | " + " | ".join(f"**{result['mean_auc'][m]:.4f}**" for m in methods) + " |"
    return "\n".join([head, rule, *rows, mean]) + "\n"


def plot(curves: dict[int, dict[str, tuple[np.ndarray, np.ndarray, float]]], path: Path) -> None:
    digits = list(curves)
    cols = min(5, len(digits))
    rows = (len(digits) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(max(4.5, 3.2 * cols), 3.2 * rows + 0.3), squeeze=False)
    for ax in axes.flat[len(digits) :]:
        ax.axis("off")
    for ax, d in zip(axes.flat, digits, strict=False):
        for method, (fpr, tpr, auc) in curves[d].items():
            ax.plot(fpr, tpr, lw=1.2, label=f"{LABELS[method]} {auc:.3f}")
        ax.plot([0, 1], [0, 1], color="#bbb", lw=0.8, linestyle=":")
        ax.set_title(f"normal digit {d}", fontsize=9)
        ax.set_xlabel("false-positive rate", fontsize=8)
        ax.set_ylabel("true-positive rate", fontsize=8)
        ax.legend(fontsize=6, loc="lower right")
    fig.suptitle("One-class MNIST: ROC curves (AUC in the legends)", fontsize=10)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, dpi=110, format="png"))
    plt.close(fig)


def versions() -> dict[str, str]:
    import sklearn

    out = {"python": platform.python_version(), "torch": torch.__version__, "vaekit": vaekit.__version__}
    out["scikit-learn"] = sklearn.__version__
    try:
        import pyod

        out["pyod"] = pyod.__version__
    except ImportError:
        pass
    return out


def main() -> None:
    args = parse_args()
    per_digit, x_test, y_test = load(args)
    methods = [f"vaekit_{s}" for s in SCORES] + args.baselines
    auc: dict[str, dict[str, float]] = {m: {} for m in methods}
    seconds: dict[str, dict[str, float]] = {m: {} for m in methods}
    curves: dict[int, dict[str, tuple[np.ndarray, np.ndarray, float]]] = {}
    exponents: dict[str, float] = {}  # the excess score's a, fitted per digit on the held-out fifth
    flagged: dict[str, tuple[int, int]] = {}  # (flagged, count) of the digit's own test images at fpr 0.05
    for d, x_train in per_digit.items():
        y = (y_test != d).astype(int)  # 1 = anomaly
        results = vaekit_scores(x_train, x_test, y == 0, args)
        exponents[str(d)] = results.pop("exponent")
        flagged[str(d)] = results.pop("flagged")
        for name in args.baselines:
            results[name] = baseline_scores(name, x_train, x_test, args)
        curves[d] = {}
        for m in methods:
            scores, secs = results[m]
            auc[m][str(d)], seconds[m][str(d)] = float(roc_auc_score(y, scores)), secs
            fpr, tpr, _ = roc_curve(y, scores)
            curves[d][m] = (fpr, tpr, auc[m][str(d)])
        print(f"digit {d} ({len(x_train)} training images): " + ", ".join(f"{m} {auc[m][str(d)]:.4f}" for m in methods))
    mean = {m: float(np.mean(list(auc[m].values()))) for m in methods}
    result = {
        "protocol": "one-class MNIST: train on one digit's training images, ROC-AUC on the test set, that digit normal",
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "test_images": len(x_test),
        "methods": methods,
        "digits": list(per_digit),
        "auc": auc,
        "mean_auc": mean,
        "target_mean_auc": TARGET,
        "meets_target": {m: mean[m] >= TARGET for m in methods},
        "excess_exponent": exponents,
        "calibrated_fpr": {  # excess calibrated at 0.05 on the held-out fifth: the share of normal test images flagged
            "target": 0.05,
            "per_digit": {d: f / n for d, (f, n) in flagged.items()},
            "pooled": sum(f for f, _ in flagged.values()) / max(1, sum(n for _, n in flagged.values())),
        },
        "seconds": seconds,  # fit + score, per digit (vaekit's scores share one model's training time)
        "threads": torch.get_num_threads(),
        "versions": versions(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "anomaly_mnist.json", result)
    write_text(args.out / "anomaly_mnist.md", table(result))
    plot(curves, args.out / "anomaly_mnist.png")
    print(table(result), end="")
    print(f"calibrated excess at fpr 0.05: {result['calibrated_fpr']['pooled']:.4f} of the normal test images flagged")
    best = max(methods, key=mean.get)
    print(f"best mean ROC-AUC: {LABELS[best]} {mean[best]:.4f} (target {TARGET}) → {args.out}/anomaly_mnist.*")


if __name__ == "__main__":
    main()
