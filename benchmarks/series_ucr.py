"""Time series with the series VAE (SVG-LP, ``--preset series``) on UCR/UEA sets shipped in the sktime wheel: one-class
anomaly detection per class, and gap filling, each beside baselines on the same inputs, in one run.

    python benchmarks/series_ucr.py [--sets GunPoint,ArrowHead,...] [--epochs 200] [--quick] [--out benchmarks/results]

(a) One-class anomaly detection. For each class c of a set: a series VAE trains on the published training series of
class c only; every test series is scored (-ELBO summed over its observed steps, vaekit's default for series) and
ROC-AUC is measured with "not c" as the anomaly. Baselines on the same input, the series z-normalised per channel
with the statistics of class c's training series (as the VAE standardizes) and flattened (NaN padding -> 0):
IsolationForest (200 trees) and kNN distance (mean distance to the 5 nearest training series, as PyOD's KNN).

(b) Gap filling. A series VAE trains on all training series of the set. In a seeded sample of the test series
(at most ``--gap-series``) one contiguous gap per series, 10 % and 25 % of its length (all channels), at a random
place with at least one observed step on each side, is removed and filled by: ``vaekit.inference.series_gaps``'
``elbo`` (the default of ``vaekit impute``) and ``iterate``; linear interpolation; scikit-learn's KNNImputer (5
neighbours, fitted on the flattened training series). Errors (MSE, MAE) on the removed values, in units of the
training series' per-channel standard deviation.

Every model: ``--epochs`` epochs, seed 0, one thread; the VAE's numbers are deterministic on one machine. Writes
series_ucr.json and series_ucr.png to --out; prints a markdown table.
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
from sklearn.ensemble import IsolationForest  # noqa: E402
from sklearn.impute import KNNImputer  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.neighbors import NearestNeighbors  # noqa: E402

import vaekit  # noqa: E402
from vaekit._io import atomic_write, write_json  # noqa: E402
from vaekit.data.schema import Dataset, Schema  # noqa: E402
from vaekit.data.series import load_ucr  # noqa: E402
from vaekit.inference.series_gaps import fill_gaps  # noqa: E402

SETS = ("GunPoint", "ArrowHead", "ItalyPowerDemand", "BasicMotions", "JapaneseVowels")
DETECTORS = ("vae", "iforest", "knn")
FILLERS = ("vae_elbo", "vae_iterate", "linear", "knn_imputer")
FRACTIONS = (0.10, 0.25)


def train_series(x: torch.Tensor, epochs: int, source: str):
    """A series VAE on x (N, T, D), in memory, seed 0."""
    data = Dataset(splits={"train": x}, schema=Schema("series", tuple(x.shape[1:]), source=source))
    return vaekit.train(data, preset="series", epochs=epochs, seed=0, progress=False)


def standardize(x: torch.Tensor, reference: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x z-normalised per channel with the statistics of ``reference``, mean, std); NaN stays NaN."""
    ref = reference.double().numpy()
    mean = np.nanmean(ref, axis=(0, 1))
    std = np.nanstd(ref, axis=(0, 1))
    std = np.where(std > 0, std, 1.0)
    return (x.double().numpy() - mean) / std, mean, std


def features(x: torch.Tensor, reference: torch.Tensor) -> np.ndarray:
    z, _, _ = standardize(x, reference)
    return np.nan_to_num(z).reshape(len(z), -1)


def one_class(name: str, data: Dataset, epochs: int) -> list[dict]:
    """ROC-AUC per class c: trained on class c's training series, "not c" is the anomaly."""
    x_train, y_train = data.splits["train"], data.labels["train"].numpy()
    x_test, y_test = data.splits["test"], data.labels["test"].numpy()
    rows = []
    for c in np.unique(y_train):
        normal = x_train[torch.from_numpy(y_train == c)]
        anomaly = y_test != c
        start = time.perf_counter()
        model = train_series(normal, epochs, f"ucr:{name} class {c}")
        seconds = time.perf_counter() - start
        scores = {"vae": model.anomaly_score(x_test).numpy()}
        f_train, f_test = features(normal, normal), features(x_test, normal)
        forest = IsolationForest(n_estimators=200, random_state=0).fit(f_train)
        scores["iforest"] = -forest.score_samples(f_test)
        k = min(5, len(f_train))
        scores["knn"] = NearestNeighbors(n_neighbors=k).fit(f_train).kneighbors(f_test)[0].mean(1)
        auc = {m: float(roc_auc_score(anomaly, s)) for m, s in scores.items()}
        rows.append({"class": int(c), "train": len(normal), "test_normal": int((~anomaly).sum()),
                     "train_seconds": round(seconds, 1), "auc": auc})  # fmt: skip
        print(f"  {name} class {c}: " + ", ".join(f"{m} {a:.3f}" for m, a in auc.items()), flush=True)
    return rows


def with_gaps(x: torch.Tensor, fraction: float, rng: np.random.Generator) -> torch.Tensor:
    """A mask (N, T, D): one contiguous gap per series, ``fraction`` of its length, all channels, observed steps on
    both sides."""
    mask = torch.zeros_like(x, dtype=torch.bool)
    present = ~torch.isnan(x).all(-1)
    for i in range(len(x)):
        length = int(present[i].nonzero().max()) + 1
        gap = max(1, round(fraction * length))
        begin = int(rng.integers(1, max(2, length - gap)))
        mask[i, begin : begin + gap] = ~torch.isnan(x[i, begin : begin + gap])
    return mask


def gap_filling(name: str, data: Dataset, epochs: int, n_series: int) -> dict:
    """MSE / MAE of each filler on the removed values, per gap fraction (standardized units)."""
    x_train, x_test = data.splits["train"], data.splits["test"]
    rng = np.random.default_rng(0)
    pick = np.sort(rng.permutation(len(x_test))[:n_series])
    truth = x_test[torch.from_numpy(pick)]
    start = time.perf_counter()
    model = train_series(x_train, epochs, f"ucr:{name}")
    out: dict = {"series": len(truth), "train_seconds": round(time.perf_counter() - start, 1)}
    _, _, std = standardize(x_train, x_train)
    train_flat = features(x_train, x_train)
    for fraction in FRACTIONS:
        mask = with_gaps(truth, fraction, rng)
        holed = truth.masked_fill(mask, float("nan"))
        filled, seconds = {}, {}
        for method in ("elbo", "iterate", "linear"):
            t0 = time.perf_counter()
            filled["linear" if method == "linear" else f"vae_{method}"] = fill_gaps(model, holed, method).values
            seconds[method] = round(time.perf_counter() - t0, 1)
        z, mean, sd = standardize(holed, x_train)
        imputer = KNNImputer(n_neighbors=5).fit(train_flat)
        knn = imputer.transform(np.where(np.isnan(z), np.nan, z).reshape(len(z), -1)).reshape(z.shape) * sd + mean
        filled["knn_imputer"] = torch.from_numpy(knn).float()
        row = {"seconds": seconds}
        for method, values in filled.items():
            err = ((values - truth).double().numpy() / std)[mask.numpy()]
            row[method] = {"mse": float(np.mean(err**2)), "mae": float(np.mean(np.abs(err)))}
        out[f"{round(fraction * 100)}%"] = row
        print(f"  {name} gaps {fraction:.0%}: " + ", ".join(f"{m} {row[m]['mse']:.4f}" for m in FILLERS), flush=True)
    return out


def table(results: dict) -> str:
    lines = [
        "| set | classes | one-class ROC-AUC: VAE | IsolationForest | kNN (k=5) | gap | MSE: VAE (elbo) "
        "| VAE (iterate) | linear | kNN imputer |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results["sets"].items():
        auc = {m: np.mean([c["auc"][m] for c in r["one_class"]]) for m in DETECTORS}
        for j, frac in enumerate(f"{round(f * 100)}%" for f in FRACTIONS):
            g = r["gaps"][frac]
            head = (f"| {name} | {len(r['one_class'])} | {auc['vae']:.3f} | {auc['iforest']:.3f} | {auc['knn']:.3f} "
                    if j == 0 else "| | | | | ")  # fmt: skip
            best = min(g[m]["mse"] for m in FILLERS)
            cells = [f"**{g[m]['mse']:.4f}**" if g[m]["mse"] == best else f"{g[m]['mse']:.4f}" for m in FILLERS]
            lines.append(head + f"| {frac} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    names = list(results["sets"])
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4))
    w = 0.8 / len(DETECTORS)
    for i, m in enumerate(DETECTORS):
        means = [np.mean([c["auc"][m] for c in results["sets"][n]["one_class"]]) for n in names]
        a.bar(np.arange(len(names)) + i * w, means, w, label=m)
    a.set_xticks(np.arange(len(names)) + w, names, rotation=20, fontsize=8)
    a.set_ylim(0.4, 1.0)
    a.set_title("one-class ROC-AUC (mean over classes)")
    a.legend(fontsize=8)
    labels = [f"{n} {f}" for n in names for f in results["sets"][n]["gaps"] if f.endswith("%")]
    w = 0.8 / len(FILLERS)
    for i, m in enumerate(FILLERS):
        mse = [g[m]["mse"] for n in names for f, g in results["sets"][n]["gaps"].items() if f.endswith("%")]
        b.bar(np.arange(len(labels)) + i * w, mse, w, label=m)
    b.set_xticks(np.arange(len(labels)) + 1.5 * w, labels, fontsize=7, rotation=35, ha="right")
    b.set_yscale("log")
    b.set_title("gap filling: MSE on the removed values (standardized)")
    b.legend(fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110))
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--gap-series", type=int, default=60, help="test series per set for gap filling")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 sets, 3 epochs, 10 series")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    if args.quick:
        sets = list(dict.fromkeys([*sets[:1], "ItalyPowerDemand"]))
        args.epochs, args.gap_series = 3, 10
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict = {"epochs": args.epochs, "gap_series": args.gap_series, "machine": platform.processor() or
                     platform.machine(), "torch": torch.__version__, "quick": args.quick, "sets": {}}  # fmt: skip
    start = time.perf_counter()
    for name in sets:
        data = load_ucr(f"ucr:{name}")
        print(f"{name}: train {tuple(data.splits['train'].shape)}, test {tuple(data.splits['test'].shape)}", flush=True)
        results["sets"][name] = {
            "one_class": one_class(name, data, args.epochs),
            "gaps": gap_filling(name, data, args.epochs, args.gap_series),
        }
        results["seconds"] = round(time.perf_counter() - start, 1)
        write_json(args.out / "series_ucr.json", results)
    plot(results, args.out / "series_ucr.png")
    print(table(results))
    print(f"{results['seconds']:.0f} s → {args.out / 'series_ucr.json'}, {args.out / 'series_ucr.png'}")


if __name__ == "__main__":
    main()
