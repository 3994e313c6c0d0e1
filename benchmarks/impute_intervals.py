"""Do vaekit's 90 % imputation intervals hold 90 % of the missing values? Calibrated against raw, on three tables.

    python benchmarks/impute_intervals.py --out benchmarks/results     # impute_intervals.json

For scikit-learn's breast cancer (569 × 30), wine (178 × 13) and diabetes (442 × 10), standardized, half the
entries removed completely at random, ``--seeds`` times: ``vaekit.sklearn.VAEImputer`` (the table preset; 5 % of
the observed values held out of training for calibration) fills the table, and its ``predict_interval`` gives
90 % intervals. Reported per table: the share of the removed values inside the intervals, calibrated and raw (the
same model's draws with their own quantiles, scale 1), their mean widths, the scale, and the MSE of the single
imputation beside IterativeImputer's.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
from sklearn import datasets
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer

from vaekit.sklearn import VAEImputer, _spread


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="breast_cancer,wine,diabetes")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--rate", type=float, default=0.5)
    ap.add_argument("--level", type=float, default=0.9)
    ap.add_argument("--k", type=int, default=1000, help="importance samples per row")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    result: dict = {"level": args.level, "rate": args.rate, "sets": {}, "machine": platform.processor() or "?"}
    start = time.perf_counter()
    for name in args.sets.split(","):
        raw = getattr(datasets, f"load_{name}")().data
        x = (raw - raw.mean(0)) / raw.std(0)
        rows = []
        for seed in range(args.seeds):
            missing = np.random.default_rng(seed).random(x.shape) < args.rate
            holed = np.where(missing, np.nan, x)
            t = time.perf_counter()
            imputer = VAEImputer(random_state=seed, n_importance_samples=args.k).fit(holed)
            filled = imputer.transform(holed)
            lo, hi = imputer.predict_interval(holed, args.level)
            seconds = time.perf_counter() - t
            draws = imputer.model_.impute(holed.astype(np.float32), k=args.k, draws=100, seed=imputer.seed_).draws
            _, raw_lo, raw_hi = _spread(draws.double().numpy(), args.level)
            iterative = IterativeImputer(max_iter=20, random_state=seed).fit_transform(holed)
            row = {
                "seed": seed,
                "coverage": float(((x >= lo) & (x <= hi))[missing].mean()),
                "coverage_raw": float(((x >= raw_lo) & (x <= raw_hi))[missing].mean()),
                "width": float((hi - lo)[missing].mean()),
                "width_raw": float((raw_hi - raw_lo)[missing].mean()),
                "scale": imputer.interval_scale(args.level),
                "held_values": len(imputer.interval_truth_),
                "mse": float(((filled - x) ** 2)[missing].mean()),
                "mse_iterative": float(((iterative - x) ** 2)[missing].mean()),
                "seconds": seconds,
            }
            rows.append(row)
            print(name, ", ".join(f"{k} {v:.4g}" for k, v in row.items()), flush=True)
        mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "seed"}
        result["sets"][name] = {"mean": mean, "per_seed": rows}
        print(name, "mean:", {k: round(v, 4) for k, v in mean.items()}, flush=True)
    result["seconds"] = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "impute_intervals.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
