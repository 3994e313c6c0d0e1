"""Time to quality: test NLL (importance sampling) against minutes of training, for several presets.

    python benchmarks/time_to_quality.py [--presets seed,conv,best] [--minutes 10,10,60] [--every 2,2,10]
                                         [--k 100] [--test-n 2000] [--out benchmarks/results]

Each preset trains on MNIST (batch 128, Adam 1e-3, dynamic binarization, all 60k images) for ``--minutes`` of
training time; after the first epoch that crosses each ``--every``-minute mark, the test NLL is estimated with
K samples on a fixed, binarized subset of the test set (evaluation time is not counted). ``--minutes`` and
``--every`` take one value for all presets or one per preset. Writes JSON and a plot.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from vaekit import VAE  # noqa: E402
from vaekit.data import load_dataset  # noqa: E402
from vaekit.inference.estimators import iwae_per_sample  # noqa: E402
from vaekit.models.module import PRESETS  # noqa: E402
from vaekit.training import TrainConfig, fit  # noqa: E402
from vaekit.training.prepare import binarize_fixed  # noqa: E402


def curve(preset: str, data, x_test: torch.Tensor, minutes: float, every: float, k: int) -> list[dict]:
    torch.manual_seed(0)
    model = VAE(PRESETS[preset], data.schema)
    points: list[dict] = []
    next_mark = [every]

    def on_checkpoint(m, state, optimizer, gens, improved) -> None:
        trained = sum(r["seconds"] for r in state.history) / 60
        if trained >= next_mark[0] or trained >= minutes:
            start = time.perf_counter()
            nll = -iwae_per_sample(m, x_test, k, precision="auto").mean().item()
            m.train()
            points.append(
                {"minutes": trained, "epoch": state.epoch, "nll": nll, "eval_seconds": time.perf_counter() - start}
            )
            print(f"{preset:8s} {trained:6.2f} min  epoch {state.epoch:4d}  test NLL {nll:7.2f} (K={k})", flush=True)
            while next_mark[0] <= trained:
                next_mark[0] += every

    cfg = TrainConfig(epochs=100_000, val_fraction=0, time_limit=minutes)
    fit(model, data.splits["train"], None, cfg, dynamic_binarize=True, on_checkpoint=on_checkpoint)
    return points


def per_preset(text: str, presets: list[str]) -> list[float]:
    values = [float(v) for v in text.split(",")]
    if len(values) == 1:
        return values * len(presets)
    if len(values) != len(presets):
        raise SystemExit(f"error: give one value or one per preset ({len(presets)}), got '{text}'")
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="seed,conv,best")
    parser.add_argument("--minutes", default="10,10,60")
    parser.add_argument("--every", default="2,2,10")
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--test-n", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    data = load_dataset("mnist")
    x_test = binarize_fixed(data.splits["test"][: args.test_n])
    presets = args.presets.split(",")
    minutes, every = per_preset(args.minutes, presets), per_preset(args.every, presets)
    curves = {p: curve(p, data, x_test, m, e, args.k) for p, m, e in zip(presets, minutes, every, strict=True)}
    result = {
        "minutes": dict(zip(presets, minutes, strict=True)),
        "k": args.k,
        "test_images": len(x_test),
        "threads": torch.get_num_threads(),
        "curves": curves,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "time_to_quality.json").write_text(json.dumps(result, indent=2) + "\n")
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, pts in curves.items():
        ax.plot([p["minutes"] for p in pts], [p["nll"] for p in pts], marker="o", label=name)
    ax.axhline(84, color="#c33", linestyle="--", label="target 84")
    ax.set_xlabel("minutes of training (2 CPU cores)")
    ax.set_ylabel(f"test NLL, nats (K={args.k}, {len(x_test)} images)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out / "time_to_quality.png", dpi=120)


if __name__ == "__main__":
    main()
