"""Does z carry the molecule? Sequence VAEs trained side by side against posterior collapse, each measured on held-out
MOSES test molecules and on what it generates.

    python benchmarks/molecules_latent.py --out benchmarks/results                     # trains the variants absent
    python benchmarks/molecules_latent.py --variants beta1,beta005 --minutes 25 --out benchmarks/results
    python benchmarks/molecules_latent.py --variants beta02 --keep     # one more, beside the earlier results

Variants (``VARIANTS``; each trained with ``vaekit.train`` on the same ``--subset`` of MOSES train for
``--minutes``, into runs/moses_latent_NAME unless that run exists): the default objective (KL weight 1, free bits
0.1 nats per dimension), a small KL weight (MOSES's VAE: 0.05), one between (0.2), the small KL weight with a
cosine learning rate schedule over the epochs that fit, and that on SMILES tokens. Per variant:

- KL per dimension, total KL and active units (posterior-mean variance > 0.01, Burda et al., 2016) on ``--n-test``
  MOSES test molecules (a seeded random sample);
- exact reconstruction: the share of those molecules whose greedy decoding of the posterior mean is the same
  canonical SMILES (the issue's target: ≥ 60 %; published on ZINC: CVAE 44.6 %, GVAE 53.7 %, SD-VAE 76.2 %,
  JT-VAE 76.7 %);
- ``--n`` samples with z from N(0, I), from a full-covariance Gaussian fitted to the posterior means of ``--n-fit``
  training molecules (ex-post density estimation, Ghosh et al., 2020), from its diagonal, and from the aggregate
  posterior's moments (that covariance plus the mean posterior variance): validity (non-empty and
  RDKit-sanitizable), uniqueness, novelty against MOSES train and FCD against MOSES test (target: valid ≥ 98 %).

Writes molecules_latent.json and .png (KL per dimension sorted, reconstruction and FCD per variant).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import vaekit  # noqa: E402
from vaekit._io import atomic_write, write_json  # noqa: E402
from vaekit.inference.estimators import latent_diagnostics  # noqa: E402
from vaekit.molecules import moses_reference, moses_train_set  # noqa: E402
from vaekit.molecules.data import load_smiles  # noqa: E402
from vaekit.molecules.metrics import fcd, novelty  # noqa: E402
from vaekit.workflows.molecules import decode_ids, encode_smiles, reconstruction_accuracy  # noqa: E402

# name -> options of vaekit.train beside preset="sequence"
SMALL_BETA = {"beta": 0.05, "free_bits": 0.0, "kl_warmup": 1.0}
COSINE = {"lr_schedule": "cosine", "epochs": 8}  # the learning rate falls to 0 over the 8 epochs (~190 s each here)
VARIANTS = {
    "beta1": {},  # the preset's objective: KL weight 1, 2 warm-up epochs, free bits 0.1 nats per dimension
    "beta005": SMALL_BETA,
    "beta02": {**SMALL_BETA, "beta": 0.2},  # between the two
    "beta005_cosine": {**SMALL_BETA, **COSINE},
    "smiles_beta005_cosine": {**SMALL_BETA, **COSINE, "representation": "smiles"},
}
TARGETS = {"reconstruction": 0.60, "valid": 0.98}


class Snapshots:
    """A training callback keeping a copy of the run after every epoch (RUN/snapshots/epoch_K), for the curve of
    sample quality against training minutes. Epoch K's files are on disk when epoch K + 1 starts."""

    def __init__(self, run: Path):
        self.run = run

    def keep(self, epoch: int) -> None:
        folder = self.run / "snapshots" / f"epoch_{epoch}"
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("config.json", "model.safetensors", "metrics.jsonl"):
            shutil.copy2(self.run / name, folder / name)

    def on_epoch_start(self, epoch, epochs, batches):
        if epoch > 1:
            self.keep(epoch - 1)

    def on_batch_end(self, batch, loss): ...
    def on_epoch_end(self, record): ...
    def on_message(self, text): ...


def train(run: Path, options: dict, args: argparse.Namespace) -> float:
    """Train one variant; wall-clock minutes. A variant with its own epochs (chosen to fit the budget here) trains
    them all; the others stop at --minutes."""
    limit = {} if "epochs" in options else {"epochs": 100, "time_limit": args.minutes}
    snapshots = Snapshots(run)
    start = time.perf_counter()
    model = vaekit.train("moses", run, preset="sequence", subset=args.subset, seed=args.seed, overwrite=True,
                         progress=False, callbacks=[snapshots], **limit, **options)  # fmt: skip
    snapshots.keep(len(model.history))
    return (time.perf_counter() - start) / 60


@torch.no_grad()
def fitted_gaussians(model, smiles: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean of the posterior means of ``smiles`` (training molecules), the Cholesky factor of their covariance,
    and that of the aggregate posterior's covariance (theirs plus the mean posterior variance)."""
    enc = encode_smiles(model, smiles)
    means, variances = [], []
    for i in range(0, len(enc.ids), 1000):
        q = model.encode(enc.ids[i : i + 1000])
        means.append(q.mean.double())
        variances.append(q.stddev.double().square())
    codes = torch.cat(means)
    ridge = 1e-4 * torch.eye(codes.shape[1], dtype=codes.dtype)
    cov = torch.cov(codes.T) + ridge
    aggregate = cov + torch.diag(torch.cat(variances).mean(0))
    return codes.mean(0).float(), torch.linalg.cholesky(cov).float(), torch.linalg.cholesky(aggregate).float()


@torch.no_grad()
def sample(model, z: torch.Tensor, seed: int, batch_size: int = 1000) -> tuple[list[str], list[bool]]:
    """Molecules drawn (temperature 1) from p(x|z) for each code, and which are valid (non-empty, sanitizable)."""
    g = torch.Generator().manual_seed(seed)
    smiles, valid = [], []
    for i in range(0, len(z), batch_size):
        batch, ok = decode_ids(model, model.decode(z[i : i + batch_size]).sample(g))
        smiles += batch
        valid += [v and bool(s) for v, s in zip(ok, batch, strict=True)]
    return smiles, valid


def sample_metrics(smiles: list[str], valid: list[bool], train_set: set[str], reference) -> dict[str, float]:
    kept = [s for s, v in zip(smiles, valid, strict=True) if v]
    return {
        "valid": float(np.mean(valid)),
        "empty": float(np.mean([not s for s in smiles])),
        "unique": len(set(kept)) / max(1, len(kept)),
        "novelty": novelty(kept, train_set),
        "fcd_test": fcd(kept, reference),
    }


def measure(run: Path, args, test: list[str], fit: list[str], train_set: set[str], reference) -> dict:
    model = vaekit.load(run)
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    enc = encode_smiles(model, test)
    diag = latent_diagnostics(model, enc.ids)
    kl = diag["kl_per_dim"]
    start = time.perf_counter()
    recon = reconstruction_accuracy(model, enc.ids, enc.smiles)
    recon_s = time.perf_counter() - start
    d = model.config.latent_dim
    eps = torch.randn(args.n, d, generator=torch.Generator().manual_seed(args.seed))
    mean, chol, aggregate = fitted_gaussians(model, fit)
    std = chol.square().sum(1).sqrt()  # the diagonal of the covariance, square-rooted
    draws = {"prior": eps, "fitted": mean + eps @ chol.T, "fitted_diagonal": mean + eps * std,
             "fitted_aggregate": mean + eps @ aggregate.T}  # fmt: skip
    samples = {name: sample_metrics(*sample(model, z, args.seed), train_set, reference) for name, z in draws.items()}
    return {
        "run": str(run),
        "options": model.run_config["training"]["options"],
        "epochs": len(history),
        "training_minutes": sum(r["seconds"] for r in history) / 60,
        "val_elbo": history[-1].get("val_elbo"),
        "kl_total": float(sum(kl)),
        "kl_per_dim": kl,
        "active_units": diag["active_units"],
        "reconstruction": recon,
        "reconstruction_seconds": recon_s,
        "n_test": len(enc.smiles),
        "samples": samples,
    }


def curve(run: Path, args, fit: list[str], reference) -> list[dict]:
    """FCD/Test (``--n-curve`` samples from the fitted Gaussian) and validity after each epoch's snapshot, against
    the training minutes up to it."""
    points = []
    snaps = sorted((run / "snapshots").glob("epoch_*"), key=lambda f: int(f.name.split("_")[1]))
    for folder in snaps:
        model = vaekit.load(folder)
        history = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
        mean, chol, _ = fitted_gaussians(model, fit)
        eps = torch.randn(args.n_curve, model.config.latent_dim, generator=torch.Generator().manual_seed(args.seed))
        smiles, valid = sample(model, mean + eps @ chol.T, args.seed)
        kept = [s for s, v in zip(smiles, valid, strict=True) if v]
        points.append({"epoch": len(history), "minutes": sum(r["seconds"] for r in history) / 60,
                       "valid": float(np.mean(valid)), "fcd_test": fcd(kept, reference)})  # fmt: skip
        print(f"  {run.name} epoch {points[-1]['epoch']}: {points[-1]['minutes']:.1f} min, FCD "
              f"{points[-1]['fcd_test']:.2f}", flush=True)  # fmt: skip
    return points


def wait_for_training(run: Path, hours: float = 2.0) -> None:
    """A run still training (another process holds its lock) is measured once it is done."""
    deadline = time.monotonic() + hours * 3600
    if (run / ".lock").exists():
        print(f"  waiting for {run} to finish training", flush=True)
    while (run / ".lock").exists() and time.monotonic() < deadline:
        time.sleep(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--runs", default="runs/moses_latent_{}", help="run folder per variant ({} = its name)")
    parser.add_argument("--subset", type=int, default=200_000, help="MOSES training molecules (when training)")
    parser.add_argument("--minutes", type=float, default=25.0, help="training budget per variant (when training)")
    parser.add_argument("--n", type=int, default=10_000, help="molecules sampled per variant and prior")
    parser.add_argument("--n-test", type=int, default=2_000, help="held-out MOSES test molecules")
    parser.add_argument("--n-fit", type=int, default=20_000, help="training molecules the fitted Gaussian reads")
    parser.add_argument("--n-curve", type=int, default=10_000, help="samples per snapshot (FCD against minutes)")
    parser.add_argument("--train-only", action="store_true", help="train the variants that are absent, then stop")
    parser.add_argument("--keep", action="store_true", help="keep the other variants' results of an earlier call")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    names = [v for v in args.variants.split(",") if v]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant {unknown[0]!r}; expected one of {', '.join(VARIANTS)}")

    trained = {}
    for name in names:
        run = Path(args.runs.format(name))
        if not (run / "config.json").is_file():
            trained[name] = train(run, VARIANTS[name], args)
            write_json(run / "wall_minutes.json", {"minutes": trained[name]})
    if args.train_only:
        return
    test = load_smiles("moses:test", subset=args.n_test, seed=0).smiles
    fit = load_smiles("moses:train", subset=args.n_fit, seed=1).smiles
    train_set, reference = moses_train_set(), moses_reference("test")
    results = {}
    previous = args.out / "molecules_latent.json"
    if args.keep and previous.is_file():  # the variants measured before and not now, as they were
        results = {k: v for k, v in json.loads(previous.read_text())["variants"].items() if k not in names}
    for name in names:
        wait_for_training(Path(args.runs.format(name)))
        results[name] = measure(Path(args.runs.format(name)), args, test, fit, train_set, reference)
        wall = Path(args.runs.format(name)) / "wall_minutes.json"
        results[name]["wall_minutes_incl_data"] = json.loads(wall.read_text())["minutes"] if wall.is_file() else None
        results[name]["curve"] = curve(Path(args.runs.format(name)), args, fit, reference)
        r = results[name]
        print(f"{name}: reconstruction {r['reconstruction']:.3f}, KL {r['kl_total']:.1f} nats, active units "
              f"{r['active_units']}, " + ", ".join(f"{k}: valid {s['valid']:.3f} FCD {s['fcd_test']:.2f}"
                                                  for k, s in r["samples"].items()), flush=True)  # fmt: skip
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {_cores()} cores, {platform.system()}",
        "subset": args.subset,
        "n_samples": args.n,
        "n_fit": args.n_fit,
        "targets": TARGETS,
        "variants": results,
    }
    write_json(args.out / "molecules_latent.json", result)
    _plot(results, args.out / "molecules_latent.png")


def _cores() -> int:
    import os

    return os.cpu_count() or 0


def _plot(results: dict, path: Path) -> None:
    fig, (ax, ax2, ax3, ax4) = plt.subplots(1, 4, figsize=(19, 4.2))
    for name, r in results.items():
        ax.plot(sorted(r["kl_per_dim"], reverse=True), label=f"{name} ({r['kl_total']:.0f} nats)")
    ax.set_yscale("log")
    ax.set_xlabel("latent dimension (sorted)")
    ax.set_ylabel("KL (nats)")
    ax.set_title("KL per dimension, MOSES test")
    ax.legend(fontsize=8)
    names = list(results)
    ax2.bar(names, [r["reconstruction"] for r in results.values()])
    ax2.axhline(TARGETS["reconstruction"], color="k", ls="--", lw=1)
    ax2.set_title("exact greedy reconstruction, MOSES test")
    width = 0.4
    for i, prior in enumerate(("prior", "fitted")):
        fcds = [r["samples"][prior]["fcd_test"] for r in results.values()]
        ax3.bar([j + i * width for j in range(len(names))], fcds, width, label=f"z from {prior}")
    ax3.set_xticks([j + width / 2 for j in range(len(names))], names)
    ax3.set_title("FCD/Test of samples (lower is better)")
    for a in (ax2, ax3):
        a.tick_params(axis="x", labelsize=7, labelrotation=20)
    ax3.legend(fontsize=8)
    for name, r in results.items():
        if r["curve"]:
            ax4.plot([p["minutes"] for p in r["curve"]], [p["fcd_test"] for p in r["curve"]], "o-", label=name)
    ax4.axhline(2.0, color="k", ls="--", lw=1)
    ax4.set_xlabel("training minutes")
    ax4.set_title("FCD/Test after each epoch (fitted Gaussian)")
    ax4.legend(fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110))
    plt.close(fig)


if __name__ == "__main__":
    main()
