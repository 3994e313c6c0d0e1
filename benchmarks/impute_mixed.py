"""Imputation of a mixed numeric + categorical table: vaekit against scikit-learn's imputers, in one run.

The table: scikit-learn's breast cancer (569 × 30) with two columns binned into text categories ("mean radius" and
"mean texture" into quartiles named q1..q4), the 28 others numeric (standardized); a share ``--rate`` of the cells
removed completely at random. Reported per method: the MSE on the removed numeric cells (standardized units) and
the accuracy on the removed categorical cells. vaekit trains its table preset on the DataFrame with its holes
(a Gaussian per numeric column, a categorical distribution per text column) and fills it with
``vaekit.impute_frame``; IterativeImputer and KNNImputer see the categories as ordinal codes 0..3 (rounded back
to the nearest category), the mean/mode imputer as they are. The mean effective sample size of vaekit's
importance weights is reported beside.

    python benchmarks/impute_mixed.py --out benchmarks/results      # impute_mixed.json
    python benchmarks/impute_mixed.py --ensemble 3 --out benchmarks/results   # impute_mixed_ensemble3.json

Variants of vaekit's model: ``--epochs``, ``--latent-dim``, ``--ensemble N`` (N models from other seeds, their
imputations averaged; categories by vote).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import vaekit
from vaekit.workflows.impute import impute_table

BINNED = ("mean radius", "mean texture")
LEVELS = ["q1", "q2", "q3", "q4"]


def table() -> pd.DataFrame:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).data
    numeric = [c for c in frame.columns if c not in BINNED]
    frame[numeric] = (frame[numeric] - frame[numeric].mean()) / frame[numeric].std(ddof=0)
    for c in BINNED:
        frame[c] = pd.qcut(frame[c], 4, labels=LEVELS).astype(str)
    return frame


def score(truth: pd.DataFrame, filled: pd.DataFrame, holes: np.ndarray) -> dict:
    numeric = [j for j, c in enumerate(truth.columns) if c not in BINNED]
    binned = [j for j, c in enumerate(truth.columns) if c in BINNED]
    t_num, f_num = truth.iloc[:, numeric].to_numpy(float), filled.iloc[:, numeric].to_numpy(float)
    h_num = holes[:, numeric]
    t_cat, f_cat = truth.iloc[:, binned].to_numpy(str), filled.iloc[:, binned].to_numpy(str)
    h_cat = holes[:, binned]
    return {
        "numeric_mse": float(((t_num - f_num) ** 2)[h_num].mean()),
        "category_accuracy": float((t_cat == f_cat)[h_cat].mean()),
    }


def run_sklearn(name: str, holed: pd.DataFrame, seed: int) -> pd.DataFrame:
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401
    from sklearn.impute import IterativeImputer, KNNImputer

    codes = holed.copy()
    for c in BINNED:
        codes[c] = codes[c].map({v: i for i, v in enumerate(LEVELS)}).astype(float)
    if name == "mean":
        out = holed.copy()
        for c in holed.columns:
            fill = holed[c].mode()[0] if c in BINNED else holed[c].mean()
            out[c] = holed[c].fillna(fill)
        return out
    imputer = IterativeImputer(max_iter=20, random_state=seed) if name == "iterative" else KNNImputer(n_neighbors=5)
    values = pd.DataFrame(imputer.fit_transform(codes), columns=holed.columns)
    for c in BINNED:
        values[c] = [LEVELS[int(np.clip(round(v), 0, 3))] for v in values[c]]
    return values


def run_vaekit(holed: pd.DataFrame, seed: int, args: argparse.Namespace) -> tuple[pd.DataFrame, dict]:
    """The filled table and the mean ESS; with ``--ensemble N`` the numeric cells are the mean of N models'
    imputations (seeds seed, seed + 1000, ...) and each categorical cell the most frequent of their choices."""
    options = {k: v for k, v in (("epochs", args.epochs), ("latent_dim", args.latent_dim)) if v is not None}
    fills, ess = [], []
    for member in range(args.ensemble):
        model = vaekit.train(holed, preset="table", seed=seed + 1000 * member, progress=False, **options)
        result = impute_table(model, holed, k=args.k, seed=seed)
        fills.append(result.frame)
        ess.append(result.mean_ess)
    filled = fills[0].copy()
    for c in filled.columns:
        if c in BINNED:
            filled[c] = pd.concat([f[c] for f in fills], axis=1).mode(axis=1)[0]
        else:
            filled[c] = np.mean([f[c].to_numpy(float) for f in fills], axis=0)
    return filled, {"mean_ess": float(np.mean(ess))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=0.3)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--k", type=int, default=1000, help="vaekit's importance samples per row")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=None, help="vaekit: training epochs (default: the table preset's)")
    ap.add_argument("--latent-dim", type=int, default=None, help="vaekit: latent size (default: the preset's)")
    ap.add_argument("--ensemble", type=int, default=1, help="vaekit: average the imputations of N models (seeds)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    truth = table()
    methods = ("vaekit", "iterative", "knn", "mean")
    per_seed: dict[str, list[dict]] = {m: [] for m in methods}
    start = time.perf_counter()
    for seed in range(args.seeds):
        holes = np.random.default_rng(seed).random(truth.shape) < args.rate
        holed = truth.mask(holes)
        for m in methods:
            t = time.perf_counter()
            if m == "vaekit":
                filled, extra = run_vaekit(holed, seed, args)
            else:
                filled, extra = run_sklearn(m, holed, seed), {}
            row = {**score(truth, filled, holes), **extra, "seconds": time.perf_counter() - t}
            per_seed[m].append(row)
            print(f"seed {seed} {m:>9}: " + ", ".join(f"{k} {v:.4f}" for k, v in row.items()), flush=True)
    summary = {m: {key: float(np.mean([r[key] for r in rows])) for key in rows[0]} for m, rows in per_seed.items()}
    result = {
        "protocol": f"breast cancer, {', '.join(BINNED)} binned into quartiles, {args.rate:.0%} MCAR",
        "seeds": list(range(args.seeds)),
        "vaekit_options": {k: getattr(args, k) for k in ("epochs", "latent_dim", "ensemble", "k")},
        "methods": summary,
        "per_seed": per_seed,
        "seconds": time.perf_counter() - start,
        "machine": f"{platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    name = "impute_mixed.json" if args.ensemble == 1 else f"impute_mixed_ensemble{args.ensemble}.json"
    (args.out / name).write_text(json.dumps(result, indent=2) + "\n")
    for m, s in summary.items():
        print(f"{m:>9}: " + ", ".join(f"{k} {v:.4f}" for k, v in s.items()))


if __name__ == "__main__":
    main()
