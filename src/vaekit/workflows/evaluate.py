"""``vaekit evaluate``: ELBO, importance-weighted log-likelihood and latent diagnostics of a run on a split.

Writes RUN/eval.json (means and diagnostics) and, with ``per_sample``, a CSV with one row per input.
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path
from typing import Any

import torch

from .._io import write_json
from ..data import canonical_spec
from ..device import resolve_device
from ..errors import VaekitError
from ..inference.estimators import Precision, iwae_per_sample, latent_diagnostics
from ..training.loop import elbo_stats
from ..vae import load_model
from .data import binarized_like_training
from .kinds import kind_of
from .outputs import check_out, save_array


def evaluate(  # noqa: PLR0913
    run: str | Path,
    data: str | None = None,
    split: str = "auto",
    seed: int = 0,
    write: bool = True,
    iw_samples: int | None = None,
    precision: Precision = "auto",
    per_sample: str | Path | None = None,
    batch_size: int = 100,
    device: str = "auto",
    overwrite: bool = False,
) -> dict[str, Any]:
    """Mean per-sample ELBO, reconstruction and KL (nats); with ``iw_samples`` = K > 0 also the K-sample
    importance-weighted estimate of log p(x) ("iwae") and its NLL; bits/dim; KL per dimension and active units.
    K defaults to the kind's (1000; molecules 100, each sample a full pass of the GRU decoder); 0 skips it.
    ``device``: auto (CUDA when present), cpu or cuda.

    Written to RUN/eval.json when it evaluates the run's own data on the default split (what the report shows),
    else to RUN/eval-DATA-SPLIT.json, so evaluating other data never replaces the run's own numbers.

    A sequence (molecule) model reads SMILES (``molecules.load_molecules``: ``data``, default 2,000 MOSES test
    molecules for a run trained on MOSES, else the run's training file), reports no bits/dim, and adds the share
    of molecules its greedy decoding reconstructs exactly ("reconstruction_accuracy") and what was skipped
    ("data_report")."""
    dev = resolve_device(device)
    model = load_model(run, dev)
    kind = kind_of(model)
    iw_samples = kind.iw_samples if iw_samples is None else iw_samples
    if iw_samples < 0:
        raise VaekitError("--iw-samples must be >= 0 (0 skips importance sampling)")
    if iw_samples and model.config.autoencoder:
        raise VaekitError("importance sampling needs a VAE: this run is a plain autoencoder (use --iw-samples 0)")
    per_sample = check_out(per_sample, {".csv"}, "per-sample results", overwrite=overwrite) if per_sample else None
    own = data is None or canonical_spec(data) == model.record.data
    target = Path(run) / eval_file_name(None if own else data, split)
    sel = kind.select(model, data, split)
    x, split, labels = binarized_like_training(model, sel.x).to(dev), sel.source or sel.split, sel.labels
    start = time.perf_counter()
    stats = elbo_stats(model, x, seed=seed, per_sample=True, description="ELBO")
    elbo_seconds = time.perf_counter() - start
    bits = model.schema.size * math.log(2) if kind.bits_per_dim else None  # nats -> bits/dim
    result: dict[str, Any] = {
        "data": data or kind.default_data(model),
        "split": split,
        "n": len(x),
        "elbo": stats["elbo"],
        "reconstruction": stats["reconstruction"],
        "kl": stats["kl"],
        **({"bits_per_dim": -stats["elbo"] / bits} if bits else {}),
        "elbo_seconds": elbo_seconds,
        "seed": seed,
        "device": str(dev),
    }
    columns = {
        "elbo": stats["per_sample"][:, 0],
        "reconstruction": stats["per_sample"][:, 1],
        "kl": stats["per_sample"][:, 2],
    }
    if iw_samples:
        start = time.perf_counter()
        what = f"log p(x), K={iw_samples}"
        log_px = iwae_per_sample(
            model, x, iw_samples, seed=seed, precision=precision, batch_size=batch_size, description=what
        )
        result.update(
            {
                "iw_samples": iw_samples,
                "iwae": log_px.mean().item(),
                "nll": -log_px.mean().item(),
                **({"bits_per_dim": -log_px.mean().item() / bits} if bits else {}),
                "iwae_seconds": time.perf_counter() - start,
                "precision": precision,
            }
        )
        columns["iwae"] = log_px.cpu()
    result.update(latent_diagnostics(model, x))
    result.update(kind.evaluation_extras(model, sel))
    if per_sample is not None:
        table = torch.stack([v.double() for v in columns.values()], 1)
        labels = labels.numpy() if labels is not None else None
        save_array(table, per_sample, labels=labels, column_names=list(columns))
    if write:
        write_json(target, result)
        result["written"] = str(target)
    return result


def eval_file_name(data: str | None, split: str) -> str:
    """eval.json for the run's own data on the default split; eval-DATA-SPLIT.json for anything else."""
    if data is None and split == "auto":
        return "eval.json"
    stem = Path(data).stem if data and ("/" in data or "." in data) else data
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{stem}-{split}" if stem else split).strip("-.")
    return f"eval-{slug}.json"
