"""Data-parallel training on one machine: 1 process against 2 (torchrun, gloo), same command, same global batch.

    python benchmarks/ddp_scaling.py [--epochs 3] [--subset 0] [--out benchmarks/results]

Three runs of ``vaekit train mnist`` (seed preset, batch 128, seed 0), one after the other:
  * 1 process, 2 threads  — the whole machine for one process (torch's intra-op threads);
  * 1 process, 1 thread   — one core;
  * 2 processes, 1 thread each — ``torchrun --nproc_per_node 2 -m -- vaekit --threads 1 train ...``: each global
    batch of 128 split 64 / 64, gradients summed (``vaekit.training.distributed``).
Per run: training samples/s (median over the epochs after the first, from metrics.jsonl), wall time, and the
final train and validation ELBO (which should agree within noise: the 2-process run takes the same steps as one
process up to float rounding). Writes ddp_scaling.json and ddp_scaling.png. A benchmark, never run in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def run(name: str, launcher: list[str], threads: int, args, folder: Path) -> dict:
    out = folder / name
    train = ["--threads", str(threads), "train", "mnist", "--out", str(out), "--epochs", str(args.epochs),
             "--seed", "0", "--quiet"]  # fmt: skip
    if args.subset:
        train += ["--subset", str(args.subset)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    subprocess.run([*launcher, *train], check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    epochs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    rates = [e["samples_per_s"] for e in epochs[1:]] or [epochs[0]["samples_per_s"]]
    result = {
        "name": name,
        "command": " ".join([*launcher, *train]),
        "samples_per_s": statistics.median(rates),
        "samples_per_s_per_epoch": [e["samples_per_s"] for e in epochs],
        "wall_s": wall,
        "final_train_elbo": epochs[-1]["elbo"],
        "final_val_elbo": epochs[-1].get("val_elbo"),
    }
    print(f"{name:28s} {result['samples_per_s']:9,.0f} samples/s  wall {wall:6.1f} s  "
          f"train ELBO {result['final_train_elbo']:.2f}  val ELBO {result['final_val_elbo']:.2f}")  # fmt: skip
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--subset", type=int, default=0, help="training images (0: all)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = ap.parse_args()
    py = sys.executable
    load = os.getloadavg()[0]
    print(f"{cpu_model()}, {os.cpu_count()} cores, 1-minute load {load:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        one = [py, "-m", "vaekit"]
        two = [py, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517", "-m", "--",
               "vaekit"]  # fmt: skip
        results = [
            run("1 process, 2 threads", one, 2, args, folder),
            run("1 process, 1 thread", one, 1, args, folder),
            run("2 processes, 1 thread each", two, 1, args, folder),
        ]
    report(args, results, load)


def report(args, results: list[dict], load: float) -> None:
    base = results[0]["samples_per_s"]
    summary = {
        "command": "python benchmarks/ddp_scaling.py " + " ".join(sys.argv[1:]),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_average_1min_before": load,
        "epochs": args.epochs,
        "subset": args.subset or None,
        "runs": results,
        "two_processes_vs_one_process_two_threads": results[2]["samples_per_s"] / base,
        "two_processes_vs_one_thread": results[2]["samples_per_s"] / results[1]["samples_per_s"],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ddp_scaling.json").write_text(json.dumps(summary, indent=2) + "\n")
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    names = [r["name"] for r in results]
    ax.barh(names, [r["samples_per_s"] for r in results], color=["#4477aa", "#88ccee", "#cc6677"])
    for i, r in enumerate(results):
        ax.text(r["samples_per_s"], i, f" {r['samples_per_s']:,.0f}/s, val ELBO {r['final_val_elbo']:.2f}",
                va="center", fontsize=8)  # fmt: skip
    ax.set_xlabel("training samples/s (MNIST, seed preset, batch 128)")
    ax.set_xlim(0, max(r["samples_per_s"] for r in results) * 1.6)
    fig.tight_layout()
    fig.savefig(args.out / "ddp_scaling.png", dpi=120)
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}, indent=2))


if __name__ == "__main__":
    main()
