"""Training throughput of the seed preset (784-400-20 MLP, batch 128, Adam 1e-3, dynamic binarization).

Measured in one process, same data, same model, same thread count:
  * reference — the textbook PyTorch loop: a per-sample Dataset, DataLoader(batch_size=128, shuffle=True),
    the loss computed inline;
  * vaekit    — ``vaekit.training.fit`` (in-memory batches, NaN guard, gradient clipping, metrics);
  * vaekit bf16 — the same with bf16 autocast (``--precision bf16``), a second model.
Epochs alternate between them so that machine noise hits all alike. Writes JSON and a PNG plot.

    python benchmarks/throughput.py [--epochs 3] [--device cpu|cuda] [--out benchmarks/results]

On CUDA both loops run on the GPU (the reference moves each batch there, in fp32; vaekit uses its bf16 autocast),
the peak is the GPU's bf16 matmul rate, and the files are named throughput_cuda.*.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402
from torch.utils.data import Dataset as TorchDataset  # noqa: E402

from vaekit import VAE  # noqa: E402
from vaekit.data import load_dataset  # noqa: E402
from vaekit.models.module import PRESETS  # noqa: E402
from vaekit.training import TrainConfig, fit  # noqa: E402


class ReferenceVAE(nn.Module):
    """The classic example model, written the textbook way."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc21, self.fc22 = nn.Linear(784, 400), nn.Linear(400, 20), nn.Linear(400, 20)
        self.fc3, self.fc4 = nn.Linear(20, 400), nn.Linear(400, 784)

    def forward(self, x):
        h = F.relu(self.fc1(x.view(-1, 784)))
        mu, logvar = self.fc21(h), self.fc22(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.fc4(F.relu(self.fc3(z))), mu, logvar


class PerSample(TorchDataset):
    def __init__(self, x):
        self.x = x

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return torch.bernoulli(self.x[i])  # dynamic binarization, one image at a time


def reference_epoch(model, opt, loader, device) -> tuple[float, float]:
    start, total, n = time.perf_counter(), 0.0, 0
    for xb in loader:
        xb = xb.to(device)
        logits, mu, logvar = model(xb)
        rec = F.binary_cross_entropy_with_logits(logits, xb.view(-1, 784), reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        loss = (rec + kld) / len(xb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += loss.item() * len(xb)
        n += len(xb)
    return n / (time.perf_counter() - start), total / n


def matmul_peak_gflops(device: torch.device, size: int = 1024, reps: int = 20) -> float:
    """fp32 on the CPU; bf16 (what the autocast uses) on a GPU, with a larger product to fill it."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    size = 8192 if device.type == "cuda" else size
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    a @ b
    _sync(device)
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync(device)
    return 2 * size**3 * reps / (time.perf_counter() - start) / 1e9


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    device = torch.device(args.device)
    stem = "throughput" if device.type == "cpu" else f"throughput_{device.type}"
    torch.manual_seed(0)
    x = load_dataset("mnist").splits["train"]
    schema = load_dataset("mnist").schema
    ref, ours, ours_bf16 = ReferenceVAE().to(device), VAE(PRESETS["seed"], schema), VAE(PRESETS["seed"], schema)
    ref_opt = torch.optim.Adam(ref.parameters(), lr=1e-3)
    loader = DataLoader(PerSample(x), batch_size=128, shuffle=True)
    rows = []
    for epoch in range(1, args.epochs + 1):
        ref_speed, ref_loss = reference_epoch(ref, ref_opt, loader, device)
        cfg = TrainConfig(epochs=1, val_fraction=0, seed=epoch, batch_size=128, lr=1e-3)
        # one epoch of vaekit's loop per round (fit restarts Adam; throughput is unaffected)
        rec = fit(ours, x, None, cfg, dynamic_binarize=True, device=device).history[0]
        # the same loop with bf16 autocast (--precision bf16), a separate model: is the step matmul-bound?
        cfg16 = TrainConfig(epochs=1, val_fraction=0, seed=epoch, batch_size=128, lr=1e-3, precision="bf16")
        rec16 = fit(ours_bf16, x, None, cfg16, dynamic_binarize=True, device=device).history[0]
        rows.append(
            {
                "epoch": epoch,
                "reference_samples_per_s": ref_speed,
                "vaekit_samples_per_s": rec["samples_per_s"],
                "vaekit_bf16_samples_per_s": rec16["samples_per_s"],
                "reference_loss": ref_loss,
                "vaekit_loss": -rec["elbo"],
                "vaekit_bf16_loss": -rec16["elbo"],
            }
        )
        print(
            f"epoch {epoch}: reference {ref_speed:,.0f}/s (loss {ref_loss:.2f})  "
            f"vaekit {rec['samples_per_s']:,.0f}/s (loss {-rec['elbo']:.2f})  "
            f"vaekit bf16 {rec16['samples_per_s']:,.0f}/s (loss {-rec16['elbo']:.2f})"
        )
    ref_best = max(r["reference_samples_per_s"] for r in rows)
    our_best = max(r["vaekit_samples_per_s"] for r in rows)
    bf16_best = max(r["vaekit_bf16_samples_per_s"] for r in rows)
    peak = matmul_peak_gflops(device)
    flops_per_sample = 3 * 2 * sum(p.numel() for n, p in ours.named_parameters() if n.endswith("weight"))
    result = {
        "machine": (
            torch.cuda.get_device_name(device)
            if device.type == "cuda"
            else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
        ),
        "device": device.type,
        "torch": torch.__version__,
        "epochs": rows,
        "reference_samples_per_s": ref_best,
        "vaekit_samples_per_s": our_best,
        "speedup": our_best / ref_best,
        "vaekit_bf16_samples_per_s": bf16_best,
        "speedup_bf16": bf16_best / ref_best,
        "matmul_peak_gflops": peak,
        "vaekit_fraction_of_peak": our_best * flops_per_sample / 1e9 / peak,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.bar(["reference loop", "vaekit", "vaekit bf16"], [ref_best, our_best, bf16_best], color=["#999", "#3a7", "#69c"])
    ax.set_ylabel("samples / s (best epoch)")
    ax.set_title(f"seed preset training throughput ({device.type}): {result['speedup']:.2f}×")
    fig.tight_layout()
    fig.savefig(args.out / f"{stem}.png", dpi=120)
    print(
        f"vaekit {our_best:,.0f} samples/s = {result['speedup']:.2f}× the reference loop ({ref_best:,.0f}/s); "
        f"matmul peak {peak:.0f} GFLOP/s, vaekit reaches {100 * result['vaekit_fraction_of_peak']:.0f}%"
    )


if __name__ == "__main__":
    main()
