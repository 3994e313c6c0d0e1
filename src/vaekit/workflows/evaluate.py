"""``vaekit evaluate``: ELBO, importance-weighted log-likelihood and latent diagnostics of a run on a split.

Writes RUN/eval.json (means and diagnostics) and, with ``per_sample``, a CSV with one row per input.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch

from .._io import write_json
from ..errors import VaekitError
from ..inference.estimators import Precision, iwae_per_sample, latent_diagnostics
from ..training.loop import elbo_stats
from ..training.run import resolve_device
from ..vae import load_model
from .data import binarized_like_training, load_for_model
from .outputs import check_out, save_array


def evaluate(
    run: str | Path,
    data: str | None = None,
    split: str = "auto",
    seed: int = 0,
    write: bool = True,
    iw_samples: int = 0,
    precision: Precision = "auto",
    per_sample: str | Path | None = None,
    batch_size: int = 100,
    device: str = "auto",
) -> dict[str, Any]:
    """Mean per-sample ELBO, reconstruction and KL (nats); with ``iw_samples`` = K > 0 also the K-sample
    importance-weighted estimate of log p(x) ("iwae") and its NLL; bits/dim; KL per dimension and active units.
    ``device``: auto (CUDA when present), cpu or cuda.

    A sequence (molecule) model reads SMILES (``tasks.molecules.load_molecules``: ``data``, default 2,000 MOSES
    test molecules for a run trained on MOSES), reports no bits/dim, and adds the share of molecules its greedy
    decoding reconstructs exactly ("reconstruction_accuracy") and what was skipped ("data_report")."""
    if iw_samples < 0:
        raise VaekitError("--iw-samples must be >= 0 (0 skips importance sampling)")
    dev = resolve_device(device)
    model = load_model(run, dev)
    if iw_samples and model.config.autoencoder:
        raise VaekitError("importance sampling needs a VAE: this run is a plain autoencoder (use --iw-samples 0)")
    per_sample = check_out(per_sample, {".csv"}, "per-sample results") if per_sample else None
    if model.is_sequence:
        from .molecules import encode_smiles, load_molecules

        if split != "auto":
            raise VaekitError("--split does not apply to molecules: choose them with --data")
        molecules = encode_smiles(model, load_molecules(model, data))
        x, split, labels = molecules.ids, molecules.source, None
    else:
        sel = load_for_model(model, data, split)
        x, split, labels = binarized_like_training(model, sel.x).to(dev), sel.split, sel.labels
    start = time.perf_counter()
    stats = elbo_stats(model, x, seed=seed, per_sample=True)
    elbo_seconds = time.perf_counter() - start
    bits = None if model.is_sequence else model.schema.size * math.log(2)  # nats -> bits/dim
    result: dict[str, Any] = {
        "data": data or ("moses:test" if model.is_sequence else model.run_config.get("training", {}).get("data")),
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
        log_px = iwae_per_sample(model, x, iw_samples, seed=seed, precision=precision, batch_size=batch_size)
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
    if model.is_sequence:
        from .molecules import reconstruction_accuracy

        result["reconstruction_accuracy"] = reconstruction_accuracy(model, molecules)
        result["data_report"] = molecules.summary()
    if per_sample is not None:
        table = torch.stack([v.double() for v in columns.values()], 1)
        labels = labels.numpy() if labels is not None else None
        save_array(table, per_sample, labels=labels, column_names=list(columns))
    if write:
        write_json(Path(run) / "eval.json", result)
    return result
