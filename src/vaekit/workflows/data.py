"""Data for a trained model: load a spec conformed to the bundle's schema and pick a split."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..data import canonical_spec, load_dataset
from ..errors import VaekitError
from ..training.prepare import binarize_fixed, split_indices
from ..vae import VAE


@dataclass
class Selected:
    x: torch.Tensor  # (N, *shape) in data units
    labels: torch.Tensor | None
    split: str  # which part of the data this is ("test", "val", "all", ...)
    smiles: list[str] = field(default_factory=list)  # molecules: the canonical SMILES of the rows of x
    notes: str = ""  # molecules: what was read and what skipped (one line)


def training_info(model: VAE) -> dict:
    return getattr(model, "run_config", {}).get("training", {})


def load_for_model(model: VAE, spec: str | None, split: str = "auto") -> Selected:
    """Load ``spec`` (default: the run's training data) shaped like the model's inputs, and pick ``split``.

    split "auto": the published test split when the data has one; else, for the run's own training data, the
    validation part it held out; else all of it. split "test_or_all": the test split when the data has one,
    else all of it.
    """
    info = training_info(model)
    if model.is_sequence:
        return _molecules_for_model(model, spec, split, info)
    spec = spec or info.get("data")
    if spec is None or spec == "<in-memory>":
        raise VaekitError("this run was trained on in-memory data: pass --data DATA")
    same_data = canonical_spec(spec) == info.get("data")
    data = load_dataset(spec, schema=model.schema, label_column=info.get("label_column") if same_data else None)
    options = info.get("options", {})
    if split == "test_or_all":
        split = "test" if "test" in data.splits else "all"
    if split == "auto":
        if "test" in data.splits:
            split = "test"
        elif same_data and options.get("val_fraction", 0) > 0:
            split = "val"
        else:
            split = "all"
    if split in ("val", "train") and "train" not in data.splits and not same_data:
        raise VaekitError(f"split '{split}' needs the run's own training data")
    if split in ("val", "train") and split not in data.splits:
        base = data.train_split
        train_idx, val_idx = split_indices(
            len(data.splits[base]),
            options.get("val_fraction", 0),
            options.get("seed", 0),
            options.get("subset"),
        )
        idx = val_idx if split == "val" else train_idx
        labels = data.labels.get(base)
        return Selected(data.splits[base][idx], labels[idx] if labels is not None else None, split)
    if split not in data.splits:
        raise VaekitError(f"split '{split}' is not in this data: it has {', '.join(sorted(data.splits))}")
    return Selected(data.splits[split], data.labels.get(split), split)


def _molecules_for_model(model: VAE, spec: str | None, split: str, info: dict) -> Selected:
    """SMILES (``spec``: a .smi/.txt/.csv file or moses:SPLIT; default a MOSES test sample for a MOSES run) as the
    model's token ids. Rows the model cannot read are skipped and counted in ``notes``. The split is "all" when spec
    is the run's own training file (its training rows), else "test"."""
    from .molecules import encode_smiles, load_molecules

    if split not in ("auto", "test_or_all", "test", "all"):
        raise VaekitError(f"--split {split} does not apply to molecules: choose them with --data")
    enc = encode_smiles(model, load_molecules(model, spec))
    own = spec is not None and canonical_spec(spec) == info.get("data")
    return Selected(enc.ids, None, "all" if own else "test", enc.smiles, enc.summary())


def binarized_like_training(model: VAE, x: torch.Tensor) -> torch.Tensor:
    """Binarize evaluation data (fixed seed) when the run trained on binarized data."""
    return binarize_fixed(x) if training_info(model).get("binarize_resolved", "none") != "none" else x
