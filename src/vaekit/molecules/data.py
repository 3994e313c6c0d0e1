"""SMILES data: the MOSES splits (shipped inside the ``molsets`` distribution) and ``.smi``/``.txt``/``.csv`` files.

Every loader returns a :class:`SmilesSet` of RDKit-canonical SMILES. Input that RDKit cannot parse is counted,
a few examples are kept for the message, and it is skipped — never a crash. An empty file or a table without a
SMILES column is a one-line :class:`~vaekit.errors.DataError`.

MOSES is read by path from the installed ``molsets`` files (``moses/dataset/data/*.csv.gz``); the ``moses``
package itself is never imported (its dependencies do not install). Canonicalizing the 1.58 M training SMILES takes
minutes, so the canonical form of each whole split is cached (one line per row) under :func:`cache_dir`, keyed by
the RDKit version.
"""

from __future__ import annotations

import gzip
import importlib.metadata
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import rdkit
from rdkit import Chem
from rdkit.rdBase import BlockLogs

from .. import progress
from .._io import atomic_path
from ..errors import DataError
from ._deps import INSTALL_MOSES, missing

MosesSplit = Literal["train", "test", "test_scaffolds"]
MOSES_SPLITS: tuple[str, ...] = ("train", "test", "test_scaffolds")
SMILES_COLUMN_NAMES = ("smiles", "canonical_smiles", "smi")  # matched case-insensitively, in this order
N_EXAMPLES = 5  # invalid inputs quoted in the report


@dataclass(frozen=True)
class SmilesSet:
    """Valid molecules as RDKit-canonical SMILES, with what was dropped on the way."""

    smiles: list[str]  # canonical SMILES, in input order (duplicates kept)
    source: str  # where they came from, for humans
    n_read: int  # molecules read (before dropping invalid ones)
    n_invalid: int = 0  # inputs RDKit could not parse (skipped)
    invalid_examples: tuple[str, ...] = ()  # the first few of them

    def __len__(self) -> int:
        return len(self.smiles)

    def summary(self) -> str:
        """One line: how many were read, kept and skipped (with examples)."""
        line = f"{self.source}: {len(self.smiles):,} molecules"
        if self.n_invalid:
            examples = ", ".join(repr(s) for s in self.invalid_examples)
            line += f"; {self.n_invalid:,} of {self.n_read:,} invalid SMILES skipped (e.g. {examples})"
        return line


def canonical_smiles(smiles: str) -> str | None:
    """RDKit's canonical SMILES of one molecule, or None when it does not parse (an empty string is invalid)."""
    if not smiles:
        return None
    with BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return None
    return Chem.MolToSmiles(mol)


def canonicalize(smiles: Iterable[str], source: str = "SMILES") -> SmilesSet:
    """Canonicalize every SMILES; invalid ones are counted, the first few kept as examples, and dropped."""
    kept: list[str] = []
    invalid: list[str] = []
    n_invalid = n_read = 0
    rows = smiles if isinstance(smiles, list | tuple) else list(smiles)
    for s in progress.track(rows, f"reading {source}") if len(rows) > 5000 else rows:
        n_read += 1
        c = canonical_smiles(s)
        if c is None:
            n_invalid += 1
            if len(invalid) < N_EXAMPLES:
                invalid.append(s)
        else:
            kept.append(c)
    return SmilesSet(kept, source, n_read, n_invalid, tuple(invalid))


def cache_dir() -> Path:
    """Where derived data (canonical MOSES splits, reference statistics) is cached: ``$VAEKIT_CACHE`` or
    ``~/.cache/vaekit``. Everything there can be deleted; it is recomputed when missing."""
    env = os.environ.get("VAEKIT_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "vaekit"


def moses_file(split: str) -> Path:
    """Path of a MOSES split's ``.csv.gz`` inside the installed ``molsets`` distribution (not imported)."""
    if split not in MOSES_SPLITS:
        raise DataError(f"unknown MOSES split {split!r}; choose one of {', '.join(MOSES_SPLITS)}")
    try:
        dist = importlib.metadata.distribution("molsets")
    except importlib.metadata.PackageNotFoundError:
        raise missing("MOSES data (the molsets package)", INSTALL_MOSES) from None
    path = Path(str(dist.locate_file(f"moses/dataset/data/{split}.csv.gz")))
    if not path.is_file():
        raise missing(f"MOSES data file {path}", INSTALL_MOSES)
    return path


def _subset_rows(n: int, subset: int | None, seed: int) -> np.ndarray | None:
    """Sorted row indices of a seeded random subset of ``subset`` rows out of ``n`` (None: all rows)."""
    if subset is None or subset >= n:
        return None
    if subset < 1:
        raise DataError(f"--subset must be at least 1, got {subset}")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=subset, replace=False))


def _moses_canonical_rows(split: str, raw: Sequence[str], cache: bool) -> list[str]:
    """Canonical SMILES of every row of a whole MOSES split ('' for invalid rows), cached by RDKit version."""
    path = cache_dir() / "moses" / f"{split}.rdkit-{rdkit.__version__}.smi.gz"
    if cache and path.is_file():
        with gzip.open(path, "rt", encoding="utf-8") as f:
            rows = f.read().split("\n")[:-1]
        if len(rows) == len(raw):
            return rows
    rows = [canonical_smiles(s) or "" for s in raw]
    if cache:
        with atomic_path(path) as tmp, gzip.open(tmp, "wt", encoding="utf-8") as f:
            f.write("".join(r + "\n" for r in rows))
    return rows


def _from_rows(raw: Sequence[str], canonical: Sequence[str], source: str) -> SmilesSet:
    """A SmilesSet from raw rows and their canonical forms ('' = invalid)."""
    kept = [c for c in canonical if c]
    invalid = [r for r, c in zip(raw, canonical, strict=True) if not c]
    return SmilesSet(kept, source, len(raw), len(invalid), tuple(invalid[:N_EXAMPLES]))


def load_moses(split: str = "train", subset: int | None = None, seed: int = 0, cache: bool = True) -> SmilesSet:
    """A MOSES split (train 1,584,663 / test 176,074 / test_scaffolds 176,226 molecules) as canonical SMILES.

    ``subset``: a seeded random sample of that many rows (kept in file order); the same seed gives the same rows
    whether or not the canonical split is cached. The whole split is canonicalized once and cached.
    """
    raw = pd.read_csv(moses_file(split), compression="gzip")["SMILES"].astype(str).tolist()
    source = f"MOSES {split}"
    rows = _subset_rows(len(raw), subset, seed)
    cached = cache_dir() / "moses" / f"{split}.rdkit-{rdkit.__version__}.smi.gz"
    if rows is None or (cache and cached.is_file()):
        canonical = _moses_canonical_rows(split, raw, cache)
        if rows is None:
            return _from_rows(raw, canonical, source)
        return _from_rows([raw[i] for i in rows], [canonical[i] for i in rows], f"{source} (subset {subset:,})")
    picked = [raw[i] for i in rows]
    return _from_rows(picked, [canonical_smiles(s) or "" for s in picked], f"{source} (subset {subset:,})")


def moses_train_set(cache: bool = True) -> set[str]:
    """The canonical SMILES of the whole MOSES training split, as a set (for novelty)."""
    return set(load_moses("train", cache=cache).smiles)


def _text_rows(path: Path, keep_empty: bool = False) -> list[str]:
    """First whitespace-separated field of each non-empty line of a .smi/.txt file (a 'smiles' header skipped);
    ``keep_empty``: an empty line before the last SMILES is an empty string (an empty generated molecule)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        rows = [(line.split() or [""])[0] for line in f if keep_empty or line.strip()]
    while rows and not rows[-1]:
        rows.pop()
    if rows and rows[0].lower() in SMILES_COLUMN_NAMES:
        rows = rows[1:]
    return rows


def _table_rows(path: Path, column: str | None) -> list[str]:
    """The SMILES column of a .csv/.tsv table: ``column`` if given, else one named like 'smiles'."""
    sep = "\t" if ".tsv" in path.suffixes else ","
    try:
        df = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty") from None
    if column is None:
        by_lower = {c.lower(): c for c in df.columns}
        column = next((by_lower[n] for n in SMILES_COLUMN_NAMES if n in by_lower), None)
        if column is None:
            cols = ", ".join(map(str, df.columns[:10]))
            raise DataError(f"{path} has no SMILES column (columns: {cols}); name it with --smiles-column")
    elif column not in df.columns:
        cols = ", ".join(map(str, df.columns[:10]))
        raise DataError(f"{path} has no column {column!r} (columns: {cols})")
    return df[column].str.strip().tolist()


def read_smiles_rows(path: str | os.PathLike[str], column: str | None = None, keep_empty: bool = False) -> list[str]:
    """The SMILES strings of a ``.smi``/``.txt`` file (first field per non-empty line) or a ``.csv``/``.tsv`` table
    (optionally gzipped) as written: not canonicalized, invalid ones included (e.g. generated molecules, whose
    validity is to be measured; ``keep_empty``: an empty line before the last SMILES of a .smi/.txt is an empty,
    invalid, molecule). A missing or empty file, or a table without a SMILES column, is a DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    kind = path.suffixes[-2] if path.suffix == ".gz" and len(path.suffixes) > 1 else path.suffix
    if kind in (".smi", ".txt", ".smiles"):
        if column is not None:
            raise DataError(f"{path} is a plain SMILES list; a SMILES column only applies to .csv/.tsv tables")
        raw = _text_rows(path, keep_empty)
    elif kind in (".csv", ".tsv"):
        raw = _table_rows(path, column)
    else:
        raise DataError(f"{path}: not a SMILES file (expected .smi, .txt, .csv or .tsv, optionally .gz)")
    if not raw:
        raise DataError(f"{path} contains no SMILES")
    return raw


def read_smiles_file(
    path: str | os.PathLike[str], column: str | None = None, subset: int | None = None, seed: int = 0
) -> SmilesSet:
    """Molecules from a ``.smi``/``.txt`` file (first field per line) or a ``.csv``/``.tsv`` table (optionally
    gzipped) with a SMILES column, canonicalized; ``subset``: a seeded random sample of that many rows."""
    path = Path(path)
    return _canonical_subset(read_smiles_rows(path, column), str(path), subset, seed)


def _canonical_subset(raw: list[str], source: str, subset: int | None, seed: int) -> SmilesSet:
    """``canonicalize`` a seeded random subset of ``subset`` of the rows (all of them when None)."""
    rows = _subset_rows(len(raw), subset, seed)
    if rows is not None:
        raw = [raw[i] for i in rows]
    return canonicalize(raw, source=source + (f" (subset {subset:,})" if rows is not None else ""))


def load_smiles(
    source: str | os.PathLike[str] | Sequence[str], column: str | None = None, subset: int | None = None, seed: int = 0
) -> SmilesSet:
    """Molecules from ``moses`` (the training split), ``moses:SPLIT``, a SMILES file, or SMILES strings in memory (a
    list, tuple, numpy array or pandas Series)."""
    if not isinstance(source, str | os.PathLike):
        if column is not None:
            raise DataError("a SMILES column only applies to .csv/.tsv tables, not to SMILES in memory")
        return _canonical_subset([str(v) for v in source], "SMILES in memory", subset, seed)
    s = str(source)
    if s == "moses" or s.startswith("moses:"):
        if column is not None:
            raise DataError("a SMILES column only applies to .csv/.tsv tables, not to MOSES")
        return load_moses(s.partition(":")[2] or "train", subset=subset, seed=seed)
    return read_smiles_file(source, column=column, subset=subset, seed=seed)
