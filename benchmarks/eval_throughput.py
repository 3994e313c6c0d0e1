"""Importance-sampled log p(x) (K=1000) on MNIST test images: vaekit vs a plain per-image loop, fp32 vs bf16.

    python benchmarks/eval_throughput.py [--run runs/demo] [--n 1000] [--k 1000] [--device cpu|cuda]
                                         [--out benchmarks/results]

The plain loop is how the estimate is usually written: for each image, draw K latents, decode them in one
batch, log-mean-exp the weights, in fp32. All variants run in one process on the same images; times for the
whole 10,000-image test set are extrapolated from ``--n`` images. Writes JSON and a PNG bar chart
(eval_throughput_cuda.* for ``--device cuda``).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

import vaekit  # noqa: E402
from vaekit._runtime import reuse_freed_memory  # noqa: E402
from vaekit.inference.estimators import bf16_matmul_is_fast, iwae_log_px  # noqa: E402
from vaekit.training.prepare import binarize_fixed  # noqa: E402


@torch.no_grad()
def plain_loop(model, x: torch.Tensor, k: int, seed: int = 0) -> torch.Tensor:
    torch.manual_seed(seed)
    out = []
    for xi in x:
        q = model.encode(xi[None])
        z = q.mean + q.stddev * torch.randn(k, q.mean.shape[1], device=q.mean.device)
        log_w = (
            model.decode(z).log_prob(xi.expand(k, *xi.shape))
            + torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
            - torch.distributions.Normal(q.mean, q.stddev).log_prob(z).sum(-1)
        )
        out.append(torch.logsumexp(log_w.double(), 0) - math.log(k))
    return torch.stack(out)


def timed(fn):
    start = time.perf_counter()
    values = fn().cpu()  # waits for a GPU to finish
    return time.perf_counter() - start, values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/demo"))
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--k", type=int, default=1000)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    reuse_freed_memory()  # as the vaekit command does
    device = torch.device(args.device)
    stem = "eval_throughput" if device.type == "cpu" else f"eval_throughput_{device.type}"
    model = vaekit.load(args.run, device)
    x = binarize_fixed(vaekit.load_dataset("mnist").splits["test"][: args.n]).to(device)
    scale = 10_000 / len(x)

    def ours(precision):
        g = torch.Generator(device).manual_seed(0)
        return torch.cat(
            [
                iwae_log_px(model, x[i : i + 100], args.k, generator=g, precision=precision)
                for i in range(0, len(x), 100)
            ]
        )

    if device.type == "cuda":  # warm-up (context, kernels, autotuning) outside every timing
        for precision in ("fp32", "bf16"):
            iwae_log_px(model, x[:100], args.k, precision=precision)
    rows = {}
    for name, fn in (
        ("plain loop, fp32", lambda: plain_loop(model, x, args.k)),
        ("vaekit, fp32", lambda: ours("fp32")),
        ("vaekit, bf16", lambda: ours("bf16")),
    ):
        seconds, values = timed(fn)
        rows[name] = {"seconds_for_10k": seconds * scale, "nll": -values.mean().item()}
        print(f"{name:18s} {seconds * scale:7.1f} s per 10k images   NLL {-values.mean().item():.3f}")
    base = rows["plain loop, fp32"]["seconds_for_10k"]
    result = {
        "run": str(args.run),
        "images": len(x),
        "k": args.k,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "cpu_bf16_matmul": bf16_matmul_is_fast(),
        "variants": rows,
        "speedup_bf16_vs_plain": base / rows["vaekit, bf16"]["seconds_for_10k"],
        "bf16_minus_fp32_nll": rows["vaekit, bf16"]["nll"] - rows["vaekit, fp32"]["nll"],
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    fig, ax = plt.subplots(figsize=(6, 3))
    names = list(rows)
    ax.barh(names, [rows[n]["seconds_for_10k"] for n in names], color=["#999", "#69c", "#3a7"])
    ax.axvline(30, color="#c33", linestyle="--", label="target 30 s")
    ax.set_xlabel(f"seconds for 10,000 images, K={args.k}")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out / f"{stem}.png", dpi=120)
    print(
        f"bf16 is {result['speedup_bf16_vs_plain']:.2f}x the plain loop; "
        f"NLL differs from fp32 by {result['bf16_minus_fp32_nll']:+.4f} nats"
    )


if __name__ == "__main__":
    main()
