"""Property-targeted generation: a sequence VAE conditioned on logP and QED (``--condition logp,qed``), asked for a
grid of values across the training data's range; for each request the RDKit-computed properties of its valid
samples against the values asked for.

    python benchmarks/molecules_condition.py --out benchmarks/results            # trains runs/moses_cond if absent
    python benchmarks/molecules_condition.py --run runs/moses_cond --n 500 --out benchmarks/results

The grid: the 5th, 25th, 50th, 75th and 95th percentiles of each property over the training molecules, every
combination (25 requests), ``--n`` molecules each, two ways: checked (what ``vaekit sample --condition`` writes by
default: the model's samples whose RDKit values lie within the default tolerance, a quarter of each property's
standard deviation, drawn until ``--n`` are found or 50 ``--n`` were drawn) and unchecked (the model's samples as
drawn; z from the model's fitted code Gaussian; tokens drawn at temperature 1, the target's, and at the other
``--temperatures``). Per request: molecules returned and drawn, validity (non-empty and RDKit-parsable),
uniqueness (distinct canonical SMILES among the valid), novelty against MOSES train, and the mean absolute error
|computed − requested| of each property over the valid samples. Targets (the issue's): mean
MAE ≤ 0.3 for logP and ≤ 0.05 for QED, validity ≥ 0.98 and uniqueness ≥ 0.90 per request. Baseline: the same
errors for molecules drawn at random from the training set (what a model that ignores the condition would reach).
Writes molecules_condition.json and .png.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import vaekit  # noqa: E402
from vaekit._io import atomic_write, write_json  # noqa: E402
from vaekit.molecules import moses_train_set  # noqa: E402
from vaekit.molecules.metrics import novelty  # noqa: E402
from vaekit.molecules.properties import property_table  # noqa: E402
from vaekit.workflows.molecules import default_tolerance, sample_with_validity, sample_within  # noqa: E402

NAMES = ("logp", "qed")
PERCENTILES = (5, 25, 50, 75, 95)
TARGETS = {"mae_logp": 0.3, "mae_qed": 0.05, "valid_min": 0.98, "unique_min": 0.90}


@functools.cache
def train_set() -> set[str]:
    """MOSES train (for novelty), read once."""
    return moses_train_set()


def train(run: Path, args: argparse.Namespace) -> float:
    """Train with the CLI, as a user would; wall-clock minutes."""
    command = [sys.executable, "-m", "vaekit", "train", "moses", "--model", "sequence", "--subset", str(args.subset),
               "--condition", ",".join(NAMES), "--properties", "none", "--epochs", "100", "--time-limit",
               str(args.minutes), "--out", str(run), "--overwrite", "-q", "--seed", str(args.seed)]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return (time.perf_counter() - start) / 60


def training_properties(model) -> tuple[np.ndarray, list[str]]:
    """logP and QED (N, 2) of the molecules the run trained on, and their SMILES."""
    from vaekit.molecules.dataset import molecule_dataset

    rec = model.record
    mols = molecule_dataset(rec.data, representation=rec.representation or "selfies", subset=rec.subset,
                            seed=rec.seed, attributes=NAMES)  # fmt: skip
    return mols.dataset.attributes["train"].numpy().astype(np.float64), mols.smiles


def request(model, values: dict[str, float], n: int, seed: int, temperature: float = 1.0, checked=False) -> dict:
    """One request: the model's samples as drawn, or (``checked``) what ``vaekit sample`` writes by default: the
    samples whose RDKit values lie within the default tolerance, drawn until n are found (or 50 n were drawn)."""
    y = model.condition_values(values, 1)
    start = time.perf_counter()
    drawn = n
    if checked:
        found = sample_within(model, n, y, temperature=temperature, seed=seed)
        smiles, valid, drawn = found.smiles, [True] * len(found.smiles), found.drawn
    else:
        smiles, valid = sample_with_validity(model, n, temperature, seed=seed, condition=y)
    seconds = time.perf_counter() - start
    good = [s for s, v in zip(smiles, valid, strict=True) if v and s]
    props = property_table(good, NAMES) if good else np.zeros((0, len(NAMES)))
    out = {"requested": values, "n": n, "returned": len(smiles), "drawn": drawn,
           "valid": len(good) / max(len(smiles), 1), "unique": len(set(good)) / max(len(good), 1),
           "novel": novelty(good, train_set()) if good else float("nan"),
           "sample_seconds": round(seconds, 2)}  # fmt: skip
    for j, name in enumerate(NAMES):
        out[f"mae_{name}"] = float(np.abs(props[:, j] - values[name]).mean()) if len(good) else float("nan")
        out[f"mean_{name}"] = float(props[:, j].mean()) if len(good) else float("nan")
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, default=Path("runs/moses_cond"))
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    p.add_argument("--subset", type=int, default=50_000, help="MOSES training molecules")
    p.add_argument("--minutes", type=float, default=30.0, help="training time limit")
    p.add_argument("--n", type=int, default=500, help="samples per request")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--temperatures", default="1,0.7,0.5", help="sampling temperatures (first: the target)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    minutes = None
    if not (args.run / "config.json").is_file():
        minutes = train(args.run, args)
    model = vaekit.load(args.run)
    if model.condition is None or tuple(model.condition.names) != NAMES:
        raise SystemExit(f"{args.run} is not conditioned on {','.join(NAMES)}")
    table, train_smiles = training_properties(model)
    grid = {name: [float(np.percentile(table[:, j], q)) for q in PERCENTILES] for j, name in enumerate(NAMES)}
    temperatures = [float(t) for t in args.temperatures.split(",")]
    by_temperature = {
        t: [request(model, dict(zip(NAMES, combo, strict=True)), args.n, args.seed + k, t)
            for k, combo in enumerate(itertools.product(*grid.values()))]
        for t in temperatures
    }  # fmt: skip
    rows = by_temperature[temperatures[0]]
    checked = [request(model, dict(zip(NAMES, combo, strict=True)), args.n, args.seed + k, temperatures[0], True)
               for k, combo in enumerate(itertools.product(*grid.values()))]  # fmt: skip
    # baseline: random training molecules, as many per request, against the same requested values
    rng = np.random.default_rng(args.seed)
    baseline = {}
    for j, name in enumerate(NAMES):
        errs = [np.abs(table[rng.integers(0, len(table), args.n), j] - r["requested"][name]).mean() for r in rows]
        baseline[f"mae_{name}"] = float(np.mean(errs))
    summaries = {f"{t:g}": summarize(r) for t, r in by_temperature.items()}
    summary = summarize(checked)
    passed = {k: (summary[k] <= t if k.startswith("mae") else summary[k] >= t) for k, t in TARGETS.items()}
    result = {
        "protocol": __doc__.split("\n\n")[2].strip(),
        "run": str(args.run),
        "trained_minutes_this_call": minutes,
        "training": model.run_config["training"].get("result"),
        "training_molecules": len(train_smiles),
        "grid": grid,
        "temperature": temperatures[0],
        "tolerance": default_tolerance(model),
        "requests": checked,
        "summary": summary,
        "unchecked_summary": summaries[f"{temperatures[0]:g}"],
        "by_temperature": summaries,
        "requests_by_temperature": {f"{t:g}": r for t, r in by_temperature.items()},
        "baseline_random_training_molecules": baseline,
        "targets": TARGETS,
        "passed": passed,
        "machine": {"cpu": platform.processor() or platform.machine(), "threads": args.threads},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "molecules_condition.json", result)
    plot(checked, rows, grid, args.out / "molecules_condition.png")
    print(json.dumps({"checked": summary, "unchecked_by_temperature": summaries, "baseline": baseline,
                      "passed": passed}, indent=1))  # fmt: skip


def summarize(rows: list[dict]) -> dict:
    out = {f"mae_{n}": float(np.mean([r[f"mae_{n}"] for r in rows])) for n in NAMES}
    out |= {"valid_min": min(r["valid"] for r in rows), "unique_min": min(r["unique"] for r in rows)}
    out |= {"valid_mean": float(np.mean([r["valid"] for r in rows])),
            "unique_mean": float(np.mean([r["unique"] for r in rows])),
            "novel_mean": float(np.nanmean([r["novel"] for r in rows])),
            "returned_share": float(np.mean([r["returned"] / r["n"] for r in rows])),
            "requests_short": sum(r["returned"] < r["n"] for r in rows),
            "drawn_per_returned": sum(r["drawn"] for r in rows) / max(1, sum(r["returned"] for r in rows))}  # fmt: skip
    return out


def plot(checked: list[dict], unchecked: list[dict], grid: dict, path: Path) -> None:
    """Mean RDKit value of the molecules against the value asked for, checked (what ``vaekit sample`` writes) and
    the model's samples unchecked."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    for ax, name in zip(axes, NAMES, strict=True):
        for rows, label, marker in ((unchecked, "unchecked", "x"), (checked, "checked (written)", "o")):
            req = [r["requested"][name] for r in rows]
            got = [r[f"mean_{name}"] for r in rows]
            mae = np.mean([r[f"mae_{name}"] for r in rows])
            ax.scatter(req, got, s=18, marker=marker, label=f"{label}: MAE {mae:.3f}")
        lo, hi = min(grid[name]), max(grid[name])
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        ax.set_xlabel(f"requested {name}")
        ax.set_ylabel(f"mean RDKit {name} of the valid samples")
        ax.set_title(f"{name}, 25 requests")
        ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, dpi=120, format="png"))
    plt.close(fig)


if __name__ == "__main__":
    main()
