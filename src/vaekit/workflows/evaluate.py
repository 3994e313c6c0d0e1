"""``vaekit evaluate``: ELBO, importance-weighted log-likelihood and latent diagnostics of a run on a split.

Writes RUN/eval.json (means and diagnostics) and, with ``per_sample``, a CSV with one row per input. Data with known
factors (named attributes: the factors of ``shapes``, an image folder's attribute file, ``label``) also gets
disentanglement metrics of the posterior means (``disentanglement``).
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._io import write_json
from ..data import canonical_spec
from ..data.condition import full_table_schema
from ..data.schema import Attributes
from ..data.shapes import grid_factors
from ..device import resolve_device
from ..errors import DataError, VaekitError
from ..inference.disentanglement import best_factor_per_dimension, dci, mig, sap
from ..inference.estimators import Precision, iwae_per_sample, latent_diagnostics
from ..training.loop import elbo_stats
from ..training.prepare import split_indices
from ..vae import VAE, load_model
from .attributes import encode_inputs
from .data import Selected, binarized_like_training
from .kinds import kind_of
from .outputs import check_out, save_array

METRIC_ROWS = 10_000  # disentanglement metrics read at most this many rows (a seeded subsample)
METRIC_TEST_SHARE = 0.2  # of them, held out to score DCI's and SAP's predictors
DCI_ESTIMATORS = 10  # boosting stages per factor (disentanglement_lib: 100)
# DCI's cost: rows x code dimensions x trees per stage (one per class of a discrete factor with more than two, else
# one), each stage. This many take ~35 s on one core (8,000 rows of shapes, 20 dimensions, 3+6+40+32+32 classes);
# DCI fits fewer rows when more would exceed it (but at least MIN_DCI_ROWS).
DCI_BUDGET = 8_000 * 20 * 113
MIN_DCI_ROWS = 1_000
MIN_METRIC_ROWS = 10


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
    disentanglement: bool = True,
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
    ("data_report").

    Data with named attributes adds "disentanglement" (``disentanglement_metrics``; ``disentanglement`` False
    skips it)."""
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
    stats = elbo_stats(model, x, seed=seed, per_sample=True, description="ELBO", condition=sel.condition)
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
            model,
            x,
            iw_samples,
            seed=seed,
            precision=precision,
            batch_size=batch_size,
            description=what,
            condition=sel.condition,
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
    result.update(latent_diagnostics(model, x, condition=sel.condition))
    result.update(kind.evaluation_extras(model, sel))
    scores = disentanglement_metrics(model, data or model.record.data, sel, x, seed) if disentanglement else None
    if scores is not None:
        result["disentanglement"] = scores
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


# -- disentanglement ---------------------------------------------------------------------------------------------
def disentanglement_metrics(
    model: VAE, spec: str | None, sel: Selected, x: torch.Tensor, seed: int = 0
) -> dict[str, Any] | None:
    """MIG, DCI, SAP and each latent dimension's best factor of the posterior means of ``x`` (the rows of
    ``sel``, read from ``spec``), against every named attribute of those rows; None when they have none.

    Factors: the attributes of ``condition.available`` (the loader's, ``label``), never a table's columns (they
    are x) nor a conditional model's condition attributes (y carries them, not z; the model encodes each row
    with its own). Categorical attributes are discrete, numeric ones continuous, except on the generated shapes
    data, whose factors are all discrete grid indices (``shapes.grid_factors``, as disentanglement_lib scores
    dSprites). Left out too: attributes equal to an earlier one or to a condition (shapes' label is its shape),
    constant ones and ones with missing values. At most ``METRIC_ROWS`` rows (a subsample seeded by ``seed``),
    80/20 into training and test rows for DCI and SAP; MIG and the best factors read all of them. DCI boosts
    ``DCI_ESTIMATORS`` stages per factor on at most "dci_rows" of the training rows (``DCI_BUDGET``: a bounded
    time for many classes or latent dimensions)."""
    found = _known_factors(model, spec, sel)
    if found is None or len(x) < MIN_METRIC_ROWS:
        return None
    start = time.perf_counter()
    order = np.random.default_rng(seed).permutation(len(x))  # a random order: the 80/20 split is random too
    rows = torch.as_tensor(order[:METRIC_ROWS])
    found = found.scored(rows.numpy(), _left_out(model))
    if not found.names:
        return None
    names, discrete, values = found.names, found.discrete, found.values
    y = sel.condition[rows] if sel.condition is not None else None
    codes = model.latent_codes(x[rows.to(x.device)], condition=y).double().cpu().numpy()
    n_test = max(2, int(round(METRIC_TEST_SHARE * len(rows))))
    ctr, cte, ftr, fte = codes[n_test:], codes[:n_test], values[n_test:], values[:n_test]
    fitted = _dci_rows(ftr, discrete, codes.shape[1])
    d = dci(ctr, ftr, cte, fte, discrete=discrete, n_estimators=DCI_ESTIMATORS, max_rows=fitted, seed=seed)
    best = best_factor_per_dimension(codes, values, names, discrete=discrete)
    return {
        "mig": mig(codes, values, discrete=discrete)["mig"],
        "dci": {k: d[k] for k in ("disentanglement", "completeness", "informativeness")},
        "sap": sap(ctr, ftr, cte, fte, discrete=discrete, seed=seed)["sap"],
        "factors": names,
        "discrete": discrete,
        "best_factor_per_dimension": [[name, score] for name, score in best],
        "n": len(rows),
        "dci_rows": fitted,
        "seconds": time.perf_counter() - start,
    }


def _dci_rows(factors: np.ndarray, discrete: list[bool], dims: int) -> int:
    """Training rows DCI fits within ``DCI_BUDGET`` (all of them when they fit; at least ``MIN_DCI_ROWS``)."""
    classes = [len(np.unique(factors[:, j])) if flag else 1 for j, flag in enumerate(discrete)]
    trees = sum(k if k > 2 else 1 for k in classes)
    return min(len(factors), max(MIN_DCI_ROWS, DCI_BUDGET // (dims * trees)))


@dataclass
class _Factors:
    """Ground-truth factors: names, which are discrete, values (N, K)."""

    names: list[str]
    discrete: list[bool]
    values: np.ndarray

    def scored(self, rows: np.ndarray, left_out: set[str]) -> _Factors:
        """The ``rows`` and the columns to score: not left out, finite, not constant there, and not equal to a
        left-out column or an earlier one."""
        values = self.values[rows]
        seen = [values[:, j] for j, name in enumerate(self.names) if name in left_out]
        keep = []
        for j, name in enumerate(self.names):
            col = values[:, j]
            if name in left_out or not np.isfinite(col).all() or np.ptp(col) == 0:
                continue
            if not any(np.array_equal(col, other) for other in seen):
                keep.append(j)
                seen.append(col)
        return _Factors([self.names[j] for j in keep], [self.discrete[j] for j in keep], values[:, keep])


def _known_factors(model: VAE, spec: str | None, sel: Selected) -> _Factors | None:
    """Every attribute of the rows of ``sel`` as factors; None when there is none."""
    found = None if model.is_sequence or not spec else _attribute_values(model, spec, sel.split)
    if found is None or len(found[1]) != len(sel.x):
        return None
    info, values = found
    scored = grid_factors(spec, info, values)
    if scored is None:
        scored = values.double().numpy(), [t == "categorical" for t in info.types]
    return _Factors(list(info.names), scored[1], scored[0])


def _attribute_values(model: VAE, spec: str, split: str) -> tuple[Attributes, torch.Tensor] | None:
    """Every named attribute of ``split`` as ``select_arrays`` picks it (the run's validation or training part
    of its training split), loaded as ``vaekit attributes`` loads them; None when the data has none."""
    try:
        enc = encode_inputs(model, spec, "auto" if split in ("val", "train") else split)
    except DataError:  # no named attributes (the loader's one line)
        return None
    values = enc.values
    if split in ("val", "train") and enc.split != split:
        rec = model.record
        train_idx, val_idx = split_indices(len(values), rec.val_fraction, rec.seed, rec.subset)
        values = values[val_idx if split == "val" else train_idx]
    return enc.info, values


def _left_out(model: VAE) -> set[str]:
    """Attributes that are not factors of z: a conditional model's condition and a table's columns."""
    names = set(model.condition.names) if model.condition is not None else set()
    schema = full_table_schema(model.schema)
    return names | (set(schema.columns or ()) if schema.kind == "table" else set())
