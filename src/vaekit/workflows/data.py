"""Data for a trained model: load a spec conformed to the bundle's schema and pick a split."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..data import canonical_spec, load_dataset, read_array_file
from ..errors import VaekitError
from ..record import IN_MEMORY
from ..training.prepare import binarize_fixed, split_indices
from ..vae import VAE


@dataclass
class Selected:
    x: torch.Tensor  # (N, *shape) in data units
    labels: torch.Tensor | None
    split: str  # which part of the data this is ("test", "val", "all", ...)
    smiles: list[str] = field(default_factory=list)  # molecules: the canonical SMILES of the rows of x
    notes: str = ""  # molecules: what was read and what skipped (one line)
    source: str = ""  # molecules: where they came from (the file, or moses:SPLIT)
    condition: torch.Tensor | None = None  # a conditional model: each row's condition values (N, K)


def select_arrays(model: VAE, spec: str | None, split: str = "auto") -> Selected:
    """Load ``spec`` (default: the run's training data) shaped like the model's inputs, and pick ``split``
    (image and table models; molecules are selected by ``kinds.SequenceKind``).

    split "auto": the published test split when the data has one; else, for the run's own training data, the
    validation part it held out; else all of it. split "test_or_all": the test split when the data has one,
    else all of it.
    """
    rec = model.record
    spec = spec or rec.data
    if not spec or spec == IN_MEMORY:
        raise VaekitError("this run was trained on in-memory data: pass --data DATA")
    same_data = canonical_spec(spec) == rec.data
    data = load_dataset(spec, schema=model.schema, label_column=rec.label_column if same_data else None)
    if split == "test_or_all":
        split = "test" if "test" in data.splits else "all"
    if split == "auto":
        if "test" in data.splits:
            split = "test"
        elif same_data and rec.val_fraction > 0:
            split = "val"
        else:
            split = "all"
    if split in ("val", "train") and "train" not in data.splits and not same_data:
        raise VaekitError(f"split '{split}' needs the run's own training data")
    if split in ("val", "train") and split not in data.splits:
        base = data.train_split
        train_idx, val_idx = split_indices(len(data.splits[base]), rec.val_fraction, rec.seed, rec.subset)
        idx = val_idx if split == "val" else train_idx
        labels, y = data.labels.get(base), data.attributes.get(base) if model.condition is not None else None
        return Selected(
            data.splits[base][idx], labels[idx] if labels is not None else None, split, condition=_take(y, idx)
        )
    if split not in data.splits:
        raise VaekitError(f"split '{split}' is not in this data: it has {', '.join(sorted(data.splits))}")
    y = data.attributes.get(split) if model.condition is not None else None
    return Selected(data.splits[split], data.labels.get(split), split, condition=y)


def _take(y: torch.Tensor | None, idx: torch.Tensor) -> torch.Tensor | None:
    return None if y is None else y[idx]


def binarized_like_training(model: VAE, x: torch.Tensor) -> torch.Tensor:
    """Binarize evaluation data (fixed seed) when the run trained on binarized data."""
    return binarize_fixed(x) if model.record.binarize != "none" else x


def read_latents(model: VAE, latents: str | Path) -> torch.Tensor:
    """Latent vectors (N, D) for ``model`` from a .npy/.npz/.csv file; one clear error when the shape is wrong.

    A .csv written by ``vaekit encode`` round-trips: its z0..z{D-1} columns are read and the others (label,
    smiles) left out."""
    path = Path(latents)
    d = model.config.latent_dim
    if path.suffix.lower() == ".csv" and path.is_file():
        z = _csv_codes(path, d)
    else:
        z = torch.as_tensor(read_array_file(latents), dtype=torch.float32)
    if z.dim() == 1:
        z = z[None]
    if z.dim() != 2 or z.shape[1] != d:
        raise VaekitError(f"{latents} holds an array of shape {tuple(z.shape)}, expected (N, {d}) latent vectors")
    if not torch.isfinite(z).all():
        raise VaekitError(f"{latents} holds NaN or infinite values: latent vectors must be finite numbers")
    return z


def _csv_codes(path: Path, d: int) -> torch.Tensor:
    """The z0..z{d-1} columns of a CSV (encode's output), else every column of it."""
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as e:
        raise VaekitError(f"cannot read {path} as a CSV table: {e}") from None
    names = [f"z{i}" for i in range(d)]
    if set(names) <= set(frame.columns):
        frame = frame[names]
    try:
        return torch.as_tensor(frame.to_numpy(dtype="float32"))
    except (ValueError, TypeError):
        raise VaekitError(f"{path} holds non-numeric columns: expected latent vectors z0..z{d - 1}") from None
