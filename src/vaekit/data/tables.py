"""Numeric tables (``.csv``, ``.tsv``, ``.parquet``) as datasets, and numeric text matrices.

A table becomes float32 ``(N, D)`` raw values (no standardization: the model does that), one column per
feature, named in the schema. An optional label column is taken out of the features and factorized: its
sorted unique values are the label names, labels their index.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..errors import DataError
from .arrays import encode_labels, error_text, float_tensor, label_tensor
from .schema import Dataset, Schema

TABLE_SUFFIXES = (".csv", ".tsv", ".parquet")
TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
_SEPARATORS = {".csv": ",", ".tsv": "\t", ".txt": r"\s+"}


def _empty(path: Path) -> DataError:
    return DataError(f"table {path} is empty: expected a header row and at least one row of numbers")


def read_frame(path: Path) -> pd.DataFrame:
    """Read a ``.csv`` / ``.tsv`` / ``.parquet`` file into a DataFrame with unique string column names."""
    try:
        if path.suffix.lower() == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, sep=_SEPARATORS[path.suffix.lower()], low_memory=False)
    except pd.errors.EmptyDataError:
        raise _empty(path) from None
    except Exception as e:
        raise DataError(f"cannot read table {path}: {error_text(e)}") from None
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise _empty(path)
    names = [str(c) for c in frame.columns]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataError(f"table {path} has duplicate column names {dupes}: every column needs its own name")
    frame.columns = names
    return frame


def _take_labels(
    frame: pd.DataFrame, column: str, path: Path, known: tuple[str, ...] | None
) -> tuple[pd.DataFrame, np.ndarray, tuple[str, ...]]:
    """(features without ``column``, int64 codes ``(N,)``, label names)."""
    if column not in frame.columns:
        raise DataError(f"label column {column!r} not found in {path}: its columns are {list(frame.columns)}")
    values = frame[column]
    missing = int(values.isna().sum())
    if missing:
        raise DataError(f"label column {column!r} in {path} has {missing} missing values: every row needs a label")
    codes, names = encode_labels(values.to_numpy(), known)
    features = frame.drop(columns=[column])
    if features.shape[1] == 0:
        raise DataError(f"table {path} has no feature columns besides the label column {column!r}")
    return features, codes, names


def _match_columns(frame: pd.DataFrame, schema: Schema, path: Path) -> pd.DataFrame:
    """Reorder the columns to the schema's (by name); refuse missing or extra ones."""
    if schema.kind == "vector" or schema.columns is None:  # unnamed features: match by count
        if frame.shape[1] != schema.size:
            raise DataError(
                f"table {path} has {frame.shape[1]} columns but the model was trained on {schema.size} features"
            )
        return frame
    expected = list(schema.columns)
    missing = [c for c in expected if c not in frame.columns]
    extra = [c for c in frame.columns if c not in expected]
    if missing or extra:
        parts = ([f"missing {missing}"] if missing else []) + ([f"unexpected {extra}"] if extra else [])
        raise DataError(
            f"table {path} has {frame.shape[1]} columns but the model was trained on "
            f"{len(expected)}: {'; '.join(parts)}"
        )
    return frame[expected]


def _check_numeric(frame: pd.DataFrame, path: Path) -> None:
    bad = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if bad:
        raise DataError(
            f"column(s) {bad} in {path} are not numeric: vaekit tables must be numeric "
            "(drop them, or pass --label-column NAME for a class column)"
        )


def _first_bad(mask: np.ndarray, frame: pd.DataFrame) -> str:
    row, col = np.argwhere(mask)[0]
    return f"first in column {frame.columns[col]!r}, row {row + 1}"


def _values(frame: pd.DataFrame, path: Path) -> np.ndarray:
    """Numeric features -> float32 ``(N, D)``; refuse missing or infinite values (rows count from 1)."""
    x = frame.to_numpy(dtype=np.float64, na_value=np.nan)
    missing = np.isnan(x)
    if missing.any():
        where = _first_bad(missing, frame)
        raise DataError(
            f"table {path} has {int(missing.sum())} missing values ({where}): "
            "missing-data training is not supported yet"
        )
    with np.errstate(over="ignore"):
        out = x.astype(np.float32)
    infinite = ~np.isfinite(out)
    if infinite.any():
        raise DataError(
            f"table {path} has {int(infinite.sum())} infinite or too large values "
            f"({_first_bad(infinite, frame)}): expected finite numbers within float32 range"
        )
    return out


def load_table(path: Path, *, label_column: str | None = None, schema: Schema | None = None) -> Dataset:
    """Load a numeric table as split "all": float32 ``(N, D)`` raw values, kind "table".

    ``label_column`` becomes int64 labels ``(N,)`` and leaves the features. With ``schema`` the features must
    be exactly the schema's columns (any order; they are reordered to the schema's).
    """
    frame = read_frame(path)
    known = schema.label_names if schema is not None else None
    labels: dict[str, torch.Tensor] = {}
    names = known
    if label_column is not None:
        frame, codes, names = _take_labels(frame, label_column, path, known)
        labels["all"] = label_tensor(codes)
    if schema is not None:
        frame = _match_columns(frame, schema, path)
    _check_numeric(frame, path)
    x = _values(frame, path)
    kind = "vector" if schema is not None and schema.kind == "vector" else "table"
    columns = None if kind == "vector" else tuple(frame.columns)
    meta = Schema(kind, (x.shape[1],), columns=columns, label_names=names, source=str(path))
    return Dataset(splits={"all": float_tensor(x)}, schema=meta, labels=labels)


def read_text_matrix(path: Path) -> np.ndarray:
    """A float32 ``(N, D)`` matrix from numeric ``.csv`` / ``.tsv`` / whitespace ``.txt``; header optional."""
    sep = _SEPARATORS[path.suffix.lower()]
    frame = None
    for header in (None, 0):
        try:
            frame = pd.read_csv(path, sep=sep, header=header, low_memory=False)
        except pd.errors.EmptyDataError:
            raise DataError(f"{path} is empty: expected rows of numbers") from None
        except Exception as e:
            raise DataError(f"cannot read {path}: {error_text(e)}") from None
        if all(pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns):
            break
    else:
        bad = [str(c) for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
        raise DataError(f"{path} is not a numeric matrix: column(s) {bad} hold text")
    if frame.shape[0] == 0:
        raise DataError(f"{path} has a header but no rows: expected rows of numbers")
    frame.columns = [str(c) for c in frame.columns]
    return _values(frame, path)
