"""From SMILES (MOSES or a file) to what a sequence VAE trains on: token ids, a schema with the vocabulary, the
property targets of the property head and, for a model conditioned on properties, the same properties as the
dataset's attributes (``Dataset.attributes``, numeric; ``data.condition.with_condition`` makes them the condition)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import rdkit
import torch

from .. import progress
from .._io import atomic_path
from ..data.arrays import read_npy_safely
from ..data.schema import Attributes, Dataset, Schema
from ..errors import DataError
from .data import SmilesSet, cache_dir, load_smiles
from .properties import property_table
from .tokenizers import Representation, Vocabulary, _to_tokens


@dataclass
class MoleculeData:
    dataset: Dataset  # splits {"train": (N, L) int64 token ids}; schema kind "sequence" with the vocabulary
    smiles: list[str]  # canonical SMILES of the encoded rows, in row order
    properties: torch.Tensor | None  # (N, P) float32 targets of the property head, or None
    report: str  # one line: what was read, kept and skipped


def vocabulary_of(schema: Schema) -> Vocabulary:
    """The vocabulary stored in a sequence model's schema."""
    if schema.kind != "sequence" or not schema.vocabulary:
        raise DataError(f"this model was trained on {schema.kind} data, not on molecules")
    return Vocabulary.from_dict(schema.vocabulary)


def molecule_dataset(
    spec: str | os.PathLike[str] | Sequence[str],
    *,
    representation: Representation = "selfies",
    subset: int | None = None,
    seed: int = 0,
    column: str | None = None,
    properties: Sequence[str] = (),
    attributes: Sequence[str] = (),
) -> MoleculeData:
    """Molecules from ``moses`` / ``moses:SPLIT``, a .smi/.txt/.csv file or SMILES in memory, canonicalized
    (invalid SMILES counted and skipped), tokenized with a vocabulary built from them, plus their ``properties``
    (the head's targets) and ``attributes`` (property names the dataset carries as attributes, e.g. to condition
    on)."""
    mols: SmilesSet = load_smiles(spec, column=column, subset=subset, seed=seed)
    if not mols.smiles:
        raise DataError(f"{mols.source}: no valid molecules to train on ({mols.n_invalid} invalid SMILES)")
    report = mols.summary()
    tokens, smiles, failed = [], [], 0
    for s in progress.track(mols.smiles, f"tokenizing {len(mols.smiles):,} molecules as {representation}"):
        try:
            tokens.append(_to_tokens(s, representation))
        except DataError:
            failed += 1
            continue
        smiles.append(s)
    if failed:
        report += f"; {failed:,} skipped ({representation} cannot encode them)"
    if not smiles:
        raise DataError(f"none of the molecules can be written as {representation}")
    vocab = Vocabulary.from_token_rows(tokens, representation)
    index = {t: i for i, t in enumerate(vocab.tokens)}
    ids = vocab.padded([[vocab.bos_id, *(index[t] for t in row), vocab.eos_id] for row in tokens])
    schema = Schema(kind="sequence", shape=(vocab.sequence_length,), source=mols.source, vocabulary=vocab.to_dict())
    names = tuple(dict.fromkeys([*properties, *attributes]))  # each property computed once
    table = torch.zeros(len(smiles), 0)
    if names:
        values = _cached_properties(smiles, names)
        if np.isnan(values).any():  # cannot happen for canonical SMILES; refuse rather than train on NaN
            raise DataError("some molecules have no computable properties")
        table = torch.from_numpy(values).float()
    column_of = {n: j for j, n in enumerate(names)}
    targets = table[:, [column_of[n] for n in properties]] if properties else None
    dataset = Dataset({"train": ids}, schema)
    if attributes:
        values = {"train": table[:, [column_of[n] for n in attributes]]}
        dataset = Dataset(dataset.splits, schema, attributes=values,
                          attribute_info=Attributes(tuple(attributes), ("numeric",) * len(attributes)))  # fmt: skip
    return MoleculeData(dataset, smiles, targets, report)


def _cached_properties(smiles: list[str], names: tuple[str, ...]) -> np.ndarray:
    """``property_table`` of the molecules, cached under ``cache_dir()/properties`` keyed by the molecules, the
    names and the RDKit version (QED and SA take about 2.5 ms a molecule: minutes for a MOSES subset)."""
    key = hashlib.sha256("\n".join([*smiles, *names, rdkit.__version__]).encode()).hexdigest()[:24]
    path = cache_dir() / "properties" / f"{key}.npy"
    if path.is_file():
        try:
            table = read_npy_safely(path)
            if table.shape == (len(smiles), len(names)):
                return table
        except DataError:
            pass  # a damaged cache file is recomputed
    table = property_table(smiles, names)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, table, allow_pickle=False)
    return table
