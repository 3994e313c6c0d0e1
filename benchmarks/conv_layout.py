"""Channels-last vs the default NCHW layout for the conv models: decoding (importance sampling) and training steps.

    python benchmarks/conv_layout.py [--preset best] [--rounds 3] [--out benchmarks/results]

vaekit builds conv models channels-last. Both layouts run in one process, alternating, on the same weights and
inputs, so the shared machine's load hits both alike; the best round of each is kept. Decoding is timed in fp32
and in bf16 autocast (what evaluation uses where the CPU has bf16), training as full Adam steps at batch 128.
Writes JSON and a PNG bar chart.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from vaekit import VAE  # noqa: E402
from vaekit.core.losses import elbo_loss  # noqa: E402
from vaekit.data.schema import Schema  # noqa: E402
from vaekit.models.module import PRESETS  # noqa: E402


def model_in(layout: torch.memory_format, preset: str) -> VAE:
    torch.manual_seed(0)
    return VAE(PRESETS[preset], Schema("image", (1, 28, 28))).to(memory_format=layout)


@torch.no_grad()
def decodes_per_second(model: VAE, z: torch.Tensor, cast, repeats: int = 3) -> float:
    with cast:
        model.decode(z)  # warm-up (oneDNN picks its kernels)
        start = time.perf_counter()
        for _ in range(repeats):
            model.decode(z)
    return repeats * len(z) / (time.perf_counter() - start)


def train_samples_per_second(model: VAE, x: torch.Tensor, steps: int = 10) -> float:
    optimizer = torch.optim.Adam(model.parameters(), 1e-3, fused=True)
    g = torch.Generator().manual_seed(0)
    for i in range(steps + 2):
        if i == 2:
            start = time.perf_counter()
        latents, likelihood = model(x, g)
        loss = elbo_loss(x, latents, likelihood).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return steps * len(x) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="best")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    layouts = {"NCHW": torch.contiguous_format, "channels-last": torch.channels_last}
    z = torch.randn(2000, PRESETS[args.preset].latent_dim, generator=torch.Generator().manual_seed(0))
    x = (torch.rand(128, 1, 28, 28, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    tasks = {
        "decode fp32": lambda m: decodes_per_second(m, z, contextlib.nullcontext()),
        "decode bf16": lambda m: decodes_per_second(m, z, torch.autocast("cpu", dtype=torch.bfloat16)),
        "train step": lambda m: train_samples_per_second(m, x),
    }
    best = {task: {name: 0.0 for name in layouts} for task in tasks}
    for _ in range(args.rounds):
        for task, fn in tasks.items():
            for name, layout in layouts.items():
                best[task][name] = max(best[task][name], fn(model_in(layout, args.preset)))
    result = {
        "preset": args.preset,
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads",
        "per_second": best,
        "speedup": {task: v["channels-last"] / v["NCHW"] for task, v in best.items()},
    }
    for task, v in best.items():
        print(
            f"{task:12s} NCHW {v['NCHW']:8.0f}/s  channels-last {v['channels-last']:8.0f}/s  "
            f"{result['speedup'][task]:.2f}x"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "conv_layout.json").write_text(json.dumps(result, indent=2) + "\n")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    names = list(tasks)
    ax.bar(names, [result["speedup"][t] for t in names], color="#4a7")
    ax.axhline(1.0, color="#888", linestyle="--")
    ax.set_ylabel("channels-last speed-up (× NCHW)")
    ax.set_title(f"{args.preset} preset, same process")
    fig.tight_layout()
    fig.savefig(args.out / "conv_layout.png", dpi=120)


if __name__ == "__main__":
    main()
