"""MOSES benchmark for the sequence VAE: train on a MOSES subset within a CPU budget, sample 30,000 molecules,
and report every MOSES metric beside the published MOSES rows; then latent-space QED optimization against
random sampling at the same number of decoder calls.

    python benchmarks/molecules_moses.py --out benchmarks/results                  # trains runs/moses_seq if absent
    python benchmarks/molecules_moses.py --run runs/moses_seq --n 30000 --out benchmarks/results

Writes molecules_moses.json, .md and .png. The metrics are MOSES's definitions (vaekit.molecules.metrics) against
the whole MOSES test set (its statistics are computed once and cached) and the whole training set (novelty).
Published rows: Polykovskiy et al., "Molecular Sets (MOSES)", Frontiers in Pharmacology 2020, Table 2 (30,000
samples each). Timings are wall-clock on the machine named in the JSON; the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import vaekit  # noqa: E402
from vaekit._io import atomic_write, write_json, write_text  # noqa: E402
from vaekit.molecules import all_metrics, moses_reference, moses_train_set  # noqa: E402

# MOSES paper, Table 2 (mean over three runs), 30,000 samples
PUBLISHED = {
    "MOSES VAE": {"valid": 0.977, "unique@1000": 1.0, "unique@10000": 0.998, "FCD/Test": 0.099, "SNN/Test": 0.626,
                  "Frag/Test": 0.999, "Scaf/Test": 0.939, "IntDiv": 0.856, "IntDiv2": 0.850, "Novelty": 0.695},
    "MOSES JT-VAE": {"valid": 1.0, "unique@1000": 1.0, "unique@10000": 1.0, "FCD/Test": 0.395, "SNN/Test": 0.548,
                     "Frag/Test": 0.996, "Scaf/Test": 0.896, "IntDiv": 0.855, "IntDiv2": 0.849, "Novelty": 0.914},
    "MOSES CharRNN": {"valid": 0.975, "unique@1000": 1.0, "unique@10000": 0.999, "FCD/Test": 0.073,
                      "SNN/Test": 0.601, "Frag/Test": 1.0, "Scaf/Test": 0.924, "IntDiv": 0.856, "IntDiv2": 0.850,
                      "Novelty": 0.842},
}  # fmt: skip
TARGETS = {"valid": (">=", 1.0), "unique@10000": (">=", 0.998), "Novelty": (">=", 0.90), "FCD/Test": ("<=", 1.0)}
SHOWN = ["valid", "unique@1000", "unique@10000", "Novelty", "FCD/Test", "SNN/Test", "Frag/Test", "Scaf/Test",
         "IntDiv", "IntDiv2"]  # fmt: skip


def train(run: Path, args) -> float:
    """Train the sequence VAE with the CLI (as a user would); returns wall-clock minutes."""
    command = [sys.executable, "-m", "vaekit", "train", "moses", "--model", "sequence", "--subset", str(args.subset),
               "--epochs", "100", "--time-limit", str(args.minutes), "--out", str(run), "--overwrite", "-q",
               "--seed", str(args.seed)]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return (time.perf_counter() - start) / 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/moses_seq"))
    parser.add_argument("--subset", type=int, default=200_000, help="MOSES training molecules (when training)")
    parser.add_argument("--minutes", type=float, default=30.0, help="training budget (when training)")
    parser.add_argument("--n", type=int, default=30_000, help="molecules to sample")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--budget", type=int, default=100, help="decoder calls for optimize and for random search")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    train_minutes = None
    if not (args.run / "config.json").is_file():
        train_minutes = train(args.run, args)
    model = vaekit.load(args.run)
    history = [json.loads(line) for line in (args.run / "metrics.jsonl").read_text().splitlines()]
    from vaekit.workflows.molecules import sample_molecules
    from vaekit.workflows.optimize import optimize, random_baseline

    start = time.perf_counter()
    samples = sample_molecules(model, args.n, temperature=args.temperature, seed=args.seed)
    sample_s = time.perf_counter() - start
    atomic_write(args.out / "molecules_moses_samples.smi", lambda p: p.write_text("\n".join(samples) + "\n"))
    start = time.perf_counter()
    metrics = all_metrics(samples, moses_reference("test"), train=moses_train_set())
    metrics_s = time.perf_counter() - start

    start = time.perf_counter()
    best = optimize(model, "qed", n=args.budget, seed=args.seed)
    optimize_s = time.perf_counter() - start
    rand = random_baseline(model, "qed", n=args.budget, seed=args.seed)
    top = sorted(best["qed"].tolist(), reverse=True)[:10]
    top_random = sorted(rand["qed"].dropna().tolist(), reverse=True)[:10]
    optimization = {
        "decoder_calls": args.budget,
        "optimize_top10_qed": top,
        "optimize_top10_mean": sum(top) / len(top),
        "random_top10_qed": top_random,
        "random_top10_mean": sum(top_random) / len(top_random),
        "random_best_qed": top_random[0],
        "optimize_seconds": optimize_s,
        "optimize_molecules": best["smiles"].head(10).tolist(),
    }

    cfg = model.run_config["training"]
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {_cores()} cores, {platform.system()}",
        "run": str(args.run),
        "training": {
            "data": cfg.get("data"),
            "subset": cfg["options"].get("subset"),
            "epochs_completed": len(history),
            "training_minutes": sum(r["seconds"] for r in history) / 60,
            "wall_minutes_incl_data": train_minutes,
            "final_val_elbo": history[-1].get("val_elbo"),
            "final_kl": history[-1].get("kl"),
            "property_mse": history[-1].get("property_mse"),
            "options": cfg["options"],
        },
        "n_samples": args.n,
        "temperature": args.temperature,
        "sample_seconds": sample_s,
        "metrics_seconds": metrics_s,
        "metrics": metrics,
        "targets": {k: {"op": op, "value": v, "met": _met(metrics.get(k), op, v)} for k, (op, v) in TARGETS.items()},
        "published": PUBLISHED,
        "optimization": optimization,
    }
    write_json(args.out / "molecules_moses.json", result)
    write_text(args.out / "molecules_moses.md", _markdown(result))
    _plot(result, args.out / "molecules_moses.png")
    print(_markdown(result))


def _cores() -> int:
    import os

    return os.cpu_count() or 0


def _met(value, op: str, target: float) -> bool | None:
    if value is None:
        return None
    return bool(value >= target) if op == ">=" else bool(value <= target)


def _markdown(r: dict) -> str:
    rows = ["| metric | vaekit | " + " | ".join(PUBLISHED) + " | target |", "|---" * (len(PUBLISHED) + 3) + "|"]
    for k in SHOWN:
        target = TARGETS.get(k)
        values = [r["metrics"].get(k, float("nan"))] + [p.get(k, float("nan")) for p in PUBLISHED.values()]
        cells = [f"{v:.3f}" for v in values]
        t = f"{target[0]} {target[1]}" + (" ✓" if r["targets"][k]["met"] else " ✗") if target else ""
        rows.append(f"| {k} | " + " | ".join(cells) + f" | {t} |")
    o = r["optimization"]
    t = r["training"]
    return "\n".join(
        [
            f"MOSES, {r['n_samples']:,} samples at temperature {r['temperature']}; trained {t['training_minutes']:.1f} "
            f"min ({t['epochs_completed']} epochs) on {t['subset']:,} MOSES training molecules; {r['machine']}",
            "",
            *rows,
            "",
            f"QED in {o['decoder_calls']} decoder calls: optimize top-10 mean {o['optimize_top10_mean']:.3f} "
            f"(best {o['optimize_top10_qed'][0]:.3f}); random sampling top-10 mean {o['random_top10_mean']:.3f} "
            f"(best {o['random_best_qed']:.3f})",
            "",
        ]
    )


def _plot(r: dict, path: Path) -> None:
    keys = [k for k in SHOWN if k != "FCD/Test"]
    names = ["vaekit", *PUBLISHED]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 4.5), gridspec_kw={"width_ratios": [4, 1]})
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        values = [(r["metrics"] if name == "vaekit" else PUBLISHED[name]).get(k, 0) for k in keys]
        ax.bar([j + i * width for j in range(len(keys))], values, width, label=name)
        fcd = (r["metrics"] if name == "vaekit" else PUBLISHED[name]).get("FCD/Test", 0)
        ax2.bar(i, fcd, label=name)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(keys))], keys, rotation=30, ha="right")
    ax.set_ylim(0.4, 1.02)
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title("MOSES metrics (higher is better)")
    ax2.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    ax2.axhline(1.0, color="k", ls="--", lw=1)
    ax2.set_title("FCD/Test (lower is better)")
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110))
    plt.close(fig)


if __name__ == "__main__":
    main()
