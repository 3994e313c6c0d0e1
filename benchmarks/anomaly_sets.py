"""Anomaly scores across data sets: vaekit's candidate scores beside scikit-learn and PyOD baselines, in one run.

    python benchmarks/anomaly_sets.py [--sets digits,cancer,wine] [--repeats 3] [--out benchmarks/results]

Sets and protocol (ROC-AUC, normal class = 0, anomalies = 1; every method sees the same rows):

- ``digits``: scikit-learn's 8×8 digits, one class at a time: a seeded half of the 1,797 images for training (the
  normal class's rows only), the other half scored (that class normal, the nine others anomalies); mean over the
  ten classes.
- ``cancer``: breast cancer, benign as normal: half the benign rows train, the other half and every malignant row
  are scored.
- ``wine``: each of the three cultivars as the normal class in turn (half of it trains); mean over the three.

vaekit trains ``vaekit.sklearn``'s table model (defaults: ``preset="table"``) on the rows as numeric vectors and
scores them with each candidate: ``nll`` (-log p(x), IWAE K=100), ``recon`` (-log p(x|z) at the posterior mean),
``latent`` (Mahalanobis distance of the posterior mean to the training codes' Gaussian), ``latent_knn`` (mean
distance to the 5 nearest training codes, whitened), and ``nll+latent`` (the two combined on the training scores'
ranks). Baselines: PCA reconstruction error (90 % of the variance), IsolationForest, OneClassSVM (RBF, nu 0.1),
kNN distance (5 neighbours, standardized features, as PyOD's KNN) and PyOD's VAE, each on standardized features.

On the 8×8 digits the image path is measured too (``--no-image`` to skip): vaekit's seed preset on the images with
a Bernoulli likelihood, calibrated on a fifth of its training rows, scored with excess (the calibrated default for
images), relative and recon; reported beside the table, outside the ranks.

With ``--fpr`` (default 0.05) a second detector per task is calibrated for that false-positive rate on a quarter
of its training rows, and the share of the clean test rows it flags is reported (tasks with too few rows to
calibrate, e.g. wine's classes, are left out).

Writes anomaly_sets.json (AUC per set, class, repeat and method; mean ranks) and anomaly_sets.png.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.stats import rankdata  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_digits, load_wine  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.ensemble import IsolationForest  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.neighbors import NearestNeighbors  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.svm import OneClassSVM  # noqa: E402

from vaekit._io import atomic_write, write_json  # noqa: E402
from vaekit.sklearn import VAEOutlierDetector  # noqa: E402

CANDIDATES = ("nll", "recon", "latent", "latent_knn", "nll+latent")
BASELINES = ("pca", "iforest", "ocsvm", "knn", "pyod_vae")


def tasks(name: str, seed: int):
    """(label, x_train, x_test, y_test) for each one-class task of a set."""
    rng = np.random.default_rng(seed)
    if name == "digits":
        d = load_digits()
        x, y = d.data / 16.0, d.target
        half = rng.permutation(len(x)) < len(x) // 2
        for c in range(10):
            yield str(c), x[half & (y == c)], x[~half], (y[~half] != c).astype(int)
    elif name == "cancer":
        x, y = load_breast_cancer(return_X_y=True)  # target 1 = benign
        benign = np.flatnonzero(y == 1)
        train = rng.permutation(benign)[: len(benign) // 2]
        test = np.setdiff1d(np.arange(len(x)), train)
        yield "benign", x[train], x[test], (y[test] == 0).astype(int)
    elif name == "wine":
        x, y = load_wine(return_X_y=True)
        for c in range(3):
            rows = np.flatnonzero(y == c)
            train = rng.permutation(rows)[: len(rows) // 2]
            test = np.setdiff1d(np.arange(len(x)), train)
            yield str(c), x[train], x[test], (y[test] != c).astype(int)
    else:
        raise SystemExit(f"unknown set {name!r}: expected digits, cancer or wine")


def _ranks_against(train_scores: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Share of training scores below each score (its empirical CDF)."""
    return np.searchsorted(np.sort(train_scores), scores, side="right") / len(train_scores)


def vaekit_scores(x_train: np.ndarray, x_test: np.ndarray, seed: int, epochs: int | None) -> dict[str, np.ndarray]:
    det = VAEOutlierDetector(random_state=seed, epochs=epochs).fit(x_train)
    nll_train, nll = det.decision_scores_, det.decision_function(x_test)
    det.method = "recon"
    out = {"nll": nll, "recon": det.decision_function(x_test)}
    with torch.no_grad():
        z_train, z = (det.model_.encode(torch.from_numpy(a).float()).mean.double().numpy() for a in (x_train, x_test))
    mu, cov = z_train.mean(0), np.cov(z_train, rowvar=False) + 1e-6 * np.eye(z_train.shape[1])
    inv = np.linalg.inv(cov)

    def maha(a: np.ndarray) -> np.ndarray:
        return np.einsum("nd,de,ne->n", a - mu, inv, a - mu)

    out["latent"] = maha(z)
    white = (z_train - mu) / z_train.std(0).clip(1e-6)
    nn = NearestNeighbors(n_neighbors=min(5, len(z_train))).fit(white)
    out["latent_knn"] = nn.kneighbors((z - mu) / z_train.std(0).clip(1e-6))[0].mean(1)
    out["nll+latent"] = _ranks_against(nll_train, nll) + _ranks_against(maha(z_train), out["latent"])
    return out


IMAGE_SCORES = ("excess", "relative", "recon")


def image_scores(x_train: np.ndarray, x_test: np.ndarray, seed: int) -> tuple[dict[str, np.ndarray], float]:
    """The image path on the 8×8 digits: vaekit's seed preset (Bernoulli likelihood) on the images (1, 8, 8) in
    [0, 1], trained on four fifths of the normal rows for 300 epochs and calibrated (``model.calibrate``: the
    excess score's exponent) on the last fifth, as a run is calibrated on its held-out part."""
    import vaekit
    from vaekit.data import Dataset

    images = torch.from_numpy(x_train.reshape(-1, 1, 8, 8)).float()
    held = np.random.default_rng(seed).permutation(len(images))
    n_cal = len(images) // 5
    fit = images[np.sort(held[n_cal:])]
    data = Dataset({"train": fit}, vaekit.Schema("image", (1, 8, 8), source="8x8 digits"))
    model = vaekit.train(data, epochs=300, seed=seed, progress=False)
    exponent = model.calibrate(images[np.sort(held[:n_cal])], fpr=0.1).exponent
    test = torch.from_numpy(x_test.reshape(-1, 1, 8, 8)).float()
    return {m: model.anomaly_score(test, m).numpy() for m in IMAGE_SCORES}, exponent


def calibrated_fpr(x_train: np.ndarray, x_clean: np.ndarray, seed: int, fpr: float) -> float | None:
    """The share of clean held-out rows flagged by a detector calibrated for ``fpr`` on a quarter of its training
    rows (None when the task has too few rows to calibrate for it)."""
    try:
        det = VAEOutlierDetector(random_state=seed, fpr=fpr, calibration_fraction=0.25).fit(x_train)
    except ValueError:
        return None
    return float(det.predict(x_clean).mean())


def baseline_scores(name: str, x_train: np.ndarray, x_test: np.ndarray, seed: int) -> np.ndarray:
    scaler = StandardScaler().fit(x_train)
    train, test = scaler.transform(x_train), scaler.transform(x_test)
    train, test = np.nan_to_num(train), np.nan_to_num(test)  # constant columns
    if name == "pca":
        pca = PCA(n_components=0.9, random_state=seed).fit(train)
        return ((test - pca.inverse_transform(pca.transform(test))) ** 2).sum(1)
    if name == "iforest":
        return -IsolationForest(n_estimators=200, random_state=seed).fit(train).score_samples(test)
    if name == "ocsvm":
        return -OneClassSVM(kernel="rbf", gamma="scale", nu=0.1).fit(train).decision_function(test)
    if name == "knn":
        nn = NearestNeighbors(n_neighbors=min(5, len(train))).fit(train)
        return nn.kneighbors(test)[0].mean(1)
    from pyod.models.vae import VAE as PyODVAE

    detector = PyODVAE(random_state=seed, verbose=0, batch_size=min(32, len(train) // 2))  # small sets: >= 2 batches
    return detector.fit(train).decision_function(test)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets", default="digits,cancer,wine")
    p.add_argument("--repeats", type=int, default=3, help="seeded splits per set")
    p.add_argument("--epochs", type=int, default=None, help="vaekit training epochs (default: the table preset's)")
    p.add_argument("--baselines", default=",".join(BASELINES))
    p.add_argument("--fpr", type=float, default=0.05, help="also measure the calibrated detector's false positives")
    p.add_argument("--image", action=argparse.BooleanOptionalAction, default=True,
                   help="also score the 8x8 digits with vaekit's image model (excess, relative, recon)")  # fmt: skip
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = p.parse_args()
    torch.manual_seed(0)
    methods = [f"vaekit_{c}" for c in CANDIDATES] + [b for b in args.baselines.split(",") if b]
    result: dict = {"machine": f"{platform.processor() or platform.machine()}", "sets": {}, "seconds": {}}
    for name in args.sets.split(","):
        aucs: dict[str, list[float]] = {m: [] for m in methods}
        per_task = []
        for r in range(args.repeats):
            for label, x_train, x_test, y_test in tasks(name, r):
                start = time.perf_counter()
                scores = {f"vaekit_{k}": v for k, v in vaekit_scores(x_train, x_test, r, args.epochs).items()}
                result["seconds"].setdefault("vaekit", 0.0)
                result["seconds"]["vaekit"] += time.perf_counter() - start
                for b in methods[len(CANDIDATES) :]:
                    start = time.perf_counter()
                    scores[b] = baseline_scores(b, x_train, x_test, r)
                    result["seconds"][b] = result["seconds"].get(b, 0.0) + time.perf_counter() - start
                row = {m: float(roc_auc_score(y_test, scores[m])) for m in methods}
                for m in methods:
                    aucs[m].append(row[m])
                if name == "digits" and args.image:
                    image, exponent = image_scores(x_train, x_test, r)
                    row.update({f"image_{m}": float(roc_auc_score(y_test, v)) for m, v in image.items()})
                    row["image_excess_exponent"] = exponent
                flagged = calibrated_fpr(x_train, x_test[y_test == 0], r, args.fpr) if args.fpr else None
                per_task.append({"repeat": r, "normal": label, "n_train": len(x_train), **row,
                                 "flagged_clean": flagged, "n_clean": int((y_test == 0).sum())})  # fmt: skip
        mean = {m: float(np.mean(v)) for m, v in aucs.items()}
        result["sets"][name] = {"mean_auc": mean, "tasks": per_task}
        if name == "digits" and args.image:
            image_mean = {m: float(np.mean([t[f"image_{m}"] for t in per_task])) for m in IMAGE_SCORES}
            result["sets"][name]["image_model_mean_auc"] = image_mean
            result["sets"][name]["image_excess_exponent_mean"] = float(
                np.mean([t["image_excess_exponent"] for t in per_task])
            )
            exponent = result["sets"][name]["image_excess_exponent_mean"]
            print("digits, image model:", {m: round(v, 3) for m, v in image_mean.items()}, f"a {exponent:.2f}")
        calibrated = [t for t in per_task if t["flagged_clean"] is not None]
        if calibrated:  # pooled over the clean rows of every task that could be calibrated
            n = sum(t["n_clean"] for t in calibrated)
            result["sets"][name]["fpr_measured"] = sum(t["flagged_clean"] * t["n_clean"] for t in calibrated) / n
            result["sets"][name]["fpr_tasks"] = len(calibrated)
            print(f"{name}: flagged {result['sets'][name]['fpr_measured']:.4f} of {n} clean rows at fpr {args.fpr}")
        print(name, {m: round(v, 3) for m, v in mean.items()}, flush=True)
    names = list(result["sets"])
    table = np.array([[result["sets"][s]["mean_auc"][m] for m in methods] for s in names])
    ranks = np.array([rankdata(-row) for row in table])
    result["mean_rank"] = dict(zip(methods, ranks.mean(0).tolist(), strict=True))
    base = [i for i, m in enumerate(methods) if not m.startswith("vaekit_")]
    result["gap_to_best_baseline"] = {
        m: {s: float(table[j, i] - table[j, base].max()) for j, s in enumerate(names)}
        for i, m in enumerate(methods)
        if m.startswith("vaekit_")
    }
    print("mean rank", {m: round(v, 2) for m, v in result["mean_rank"].items()})
    print("gap to best baseline", result["gap_to_best_baseline"])
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "anomaly_sets.json", result)
    plot(result, args.out / "anomaly_sets.png")


def plot(result: dict, path: Path) -> None:
    """Mean ROC-AUC per set and method (vaekit's candidates in blue shades, baselines in grey shades)."""
    names = list(result["sets"])
    methods = list(result["mean_rank"])
    fig, ax = plt.subplots(figsize=(12, 4))
    width = 0.8 / len(methods)
    blues, greys = plt.cm.Blues(np.linspace(0.9, 0.4, 5)), plt.cm.Greys(np.linspace(0.8, 0.3, 5))
    colors = iter([*blues, *greys])
    for i, m in enumerate(methods):
        values = [result["sets"][s]["mean_auc"][m] for s in names]
        label = f"{m} (mean rank {result['mean_rank'][m]:.2f})"
        ax.bar(np.arange(len(names)) + i * width, values, width, label=label, color=next(colors))
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2, names)
    ax.set_ylim(0.85, 1.0)
    ax.set_ylabel("mean ROC-AUC")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    atomic_write(path, lambda out: fig.savefig(out, format="png", dpi=110))
    plt.close(fig)


if __name__ == "__main__":
    main()
