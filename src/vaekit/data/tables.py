"""Tables (``.csv``, ``.tsv``, ``.parquet``) as datasets, and numeric text matrices.

A table becomes float32 ``(N, D)`` raw values (no standardization: the model does that), one column per
feature, named in the schema; NaN marks a missing value (an empty cell). An optional label column is taken out
of the features and factorized: its sorted unique values are the label names, labels their index.

Column types: a column is *categorical* when its values are not numbers (text, dates, ...) or are booleans
(True/False); every other column — integers included — is *numeric*. ``categorical=`` / ``numeric=`` (the train
options ``--categorical`` / ``--numeric``) override the rule per column, e.g. for integer codes. A categorical
column holds the index of its category: the categories are the column's distinct values, as text (a whole
float written as an integer: 1.0 -> "1"), in their natural order (numbers by value, text alphabetically), at
most ``MAX_CATEGORIES`` of them. A model reads new tables through its schema: columns matched by name, a
category it never saw is an error.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..errors import DataError
from .arrays import encode_labels, error_text, float_tensor, label_tensor
from .schema import Dataset, Schema

TABLE_SUFFIXES = (".csv", ".tsv", ".parquet")
TEXT_SUFFIXES = (".csv", ".tsv", ".txt")
SEPARATORS = {".csv": ",", ".tsv": "\t", ".txt": r"\s+"}


def _empty(path: object) -> DataError:
    return DataError(f"table {path} is empty: expected a header row and at least one row of numbers")


def read_frame(path: Path) -> pd.DataFrame:
    """Read a ``.csv`` / ``.tsv`` / ``.parquet`` file into a DataFrame with unique string column names."""
    try:
        if path.suffix.lower() == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, sep=SEPARATORS[path.suffix.lower()], low_memory=False)
    except pd.errors.EmptyDataError:
        raise _empty(path) from None
    except Exception as e:
        raise DataError(f"cannot read table {path}: {error_text(e)}") from None
    return named_frame(frame, path)


def named_frame(frame: pd.DataFrame, where: object) -> pd.DataFrame:
    """``frame`` with string column names (a copy when they change); refuses an empty table and duplicate names."""
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise _empty(where)
    names = [str(c) for c in frame.columns]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataError(f"table {where} has duplicate column names {dupes}: every column needs its own name")
    if names != list(frame.columns):
        frame = frame.set_axis(names, axis=1)
    return frame


def _take_labels(
    frame: pd.DataFrame, column: str, path: object, known: tuple[str, ...] | None
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


def _match_columns(frame: pd.DataFrame, schema: Schema, path: object) -> pd.DataFrame:
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


MAX_CATEGORIES = 1000  # more distinct values than this in a categorical column is an error (an id column?)


def category_key(value: object) -> str:
    """The name a categorical value is known by: its text, a whole float as an integer (1.0 -> "1")."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def default_type(series: pd.Series) -> str:
    """ "categorical" for booleans and anything that is not a number, else "numeric"."""
    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        return "categorical"
    return "numeric"


def infer_types(
    frame: pd.DataFrame, path: object, categorical: list[str] | None = None, numeric: list[str] | None = None
) -> tuple[str, ...]:
    """ "numeric" / "categorical" per column: ``default_type``, overridden by the columns the user names."""
    names = list(frame.columns)
    return column_types(names, [default_type(frame[c]) for c in names], path, categorical, numeric)


def column_types(
    names: list[str], defaults: list[str], path: object, categorical: list[str] | None, numeric: list[str] | None
) -> tuple[str, ...]:
    """The type of each column ``names``: its default type (``defaults``), overridden by the columns the user names
    (refused when unknown or named twice)."""
    for option, chosen in (("--categorical", categorical), ("--numeric", numeric)):
        unknown = [c for c in chosen or () if c not in names]
        if unknown:
            raise DataError(f"{option} names column(s) {unknown} that {path} does not have: its columns are {names}")
    both = sorted(set(categorical or ()) & set(numeric or ()))
    if both:
        raise DataError(f"column(s) {both} are named in both --categorical and --numeric")
    return tuple(
        "categorical" if c in (categorical or ()) else "numeric" if c in (numeric or ()) else d
        for c, d in zip(names, defaults, strict=True)
    )


def categories_of(series: pd.Series, column: str, path: object) -> tuple[str, ...]:
    """The category names of a training column: its distinct values as text, in their natural order."""
    values = series.dropna()
    if values.empty:
        raise no_values(column, path)
    return category_names(list(pd.unique(values)), column, path)


def no_values(column: str, path: object) -> DataError:
    return DataError(f"categorical column {column!r} in {path} has no values (every cell is missing): drop it")


def too_many_categories(column: str, path: object, count: str) -> DataError:
    return DataError(
        f"column {column!r} in {path} has {count} distinct values, more than the {MAX_CATEGORIES} a "
        "categorical column may have: drop it (an identifier?) or pass --numeric " + column
    )


def category_names(uniques: list, column: str, path: object) -> tuple[str, ...]:
    """Category names from a column's distinct values (in order of first appearance): as text, in their natural
    order (numbers by value, text alphabetically)."""
    try:
        ordered = sorted(uniques)
    except TypeError:  # mixed types: order by their text
        ordered = sorted(uniques, key=str)
    names = tuple(dict.fromkeys(category_key(v) for v in ordered))
    if len(names) > MAX_CATEGORIES:
        raise too_many_categories(column, path, str(len(names)))
    return names


def _numeric_column(series: pd.Series, column: str, where: object, first: int = 0) -> np.ndarray:
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    numbers = pd.to_numeric(series, errors="coerce")
    bad = numbers.isna() & series.notna()
    if bad.any():
        row = int(np.argmax(bad.to_numpy()))
        raise DataError(
            f"column {column!r} in {where} is numeric but holds {series.iloc[row]!r} (row {first + row + 1}): expected "
            "numbers (train with --categorical " + column + " to treat it as categories)"
        )
    return numbers.to_numpy(dtype=np.float64, na_value=np.nan)


def _codes(series: pd.Series, column: str, names: tuple[str, ...], where: object, first: int = 0) -> np.ndarray:
    """Category indices of a categorical column, NaN where missing; an unknown category is an error."""
    index = {name: i for i, name in enumerate(names)}
    present = series.notna().to_numpy()
    keys = [category_key(v) for v in series[present].tolist()]
    codes = np.full(len(series), np.nan)
    unknown = [k for k in keys if k not in index]
    if unknown:
        row = int(np.flatnonzero(present)[keys.index(unknown[0])])
        shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
        raise DataError(
            f"column {column!r} in {where} has the category {unknown[0]!r} (row {first + row + 1}), which the model "
            f"was not trained on: it knows {shown}"
        )
    codes[present] = [index[k] for k in keys]
    return codes


def frame_values(frame: pd.DataFrame, schema: Schema, where: object, first: int = 0) -> np.ndarray:
    """The float32 ``(N, D)`` values of a table read through a model's schema: columns matched by name (any
    order), categorical ones as category indices, NaN where missing; infinite values are an error. ``first``: the
    row of the table ``frame`` starts at (a chunk of it), for messages."""
    frame = _match_columns(frame, schema, where)
    columns = list(schema.columns) if schema.columns is not None else list(frame.columns)
    types = schema.column_types or ("numeric",) * len(columns)
    x = np.empty((len(frame), len(columns)), dtype=np.float64)
    for j, (c, t) in enumerate(zip(columns, types, strict=True)):
        column = frame.iloc[:, j]
        if t == "categorical":
            x[:, j] = _codes(column, c, (schema.categories or {})[c], where, first)
        else:
            x[:, j] = _numeric_column(column, c, where, first)
    return _finite(x, frame, where, first)


def values_frame(x: np.ndarray, schema: Schema) -> pd.DataFrame:
    """(N, D) values in data units -> a DataFrame with the schema's column names; categorical columns hold their
    category names (the index rounded to the nearest category; empty where NaN)."""
    columns = list(schema.columns) if schema.columns is not None else [f"x{i}" for i in range(x.shape[1])]
    frame = pd.DataFrame(x, columns=columns)
    for c, t in zip(columns, schema.column_types or (), strict=False):
        if t == "categorical":
            names = np.array((schema.categories or {})[c], dtype=object)
            codes = x[:, columns.index(c)]
            present = ~np.isnan(codes)
            labels = np.full(len(codes), None, dtype=object)
            labels[present] = names[np.clip(np.rint(codes[present]).astype(np.int64), 0, len(names) - 1)]
            frame[c] = labels
    return frame


def frame_with_condition(x: np.ndarray, schema: Schema, y: np.ndarray | None) -> pd.DataFrame:
    """``values_frame`` of x, followed by a conditional model's condition columns y (N, K) (names for categories)."""
    frame = values_frame(x, schema)
    cond = schema.condition
    if y is None or cond is None:
        return frame
    described = Schema("table", (len(cond.names),), cond.names, column_types=cond.types, categories=cond.categories)
    return pd.concat([frame, values_frame(y, described)], axis=1)


def _first_bad(mask: np.ndarray, frame: pd.DataFrame, first: int = 0) -> str:
    row, col = np.argwhere(mask)[0]
    return f"first in column {frame.columns[col]!r}, row {first + row + 1}"


def _values(frame: pd.DataFrame, path: Path) -> np.ndarray:
    """Numeric matrix -> float32 ``(N, D)``; refuse missing or infinite values (rows count from 1)."""
    x = frame.to_numpy(dtype=np.float64, na_value=np.nan)
    missing = np.isnan(x)
    if missing.any():
        where = _first_bad(missing, frame)
        raise DataError(f"{path} has {int(missing.sum())} missing values ({where}): expected a full matrix of numbers")
    return _finite(x, frame, path)


def _finite(x: np.ndarray, frame: pd.DataFrame, path: object, first: int = 0) -> np.ndarray:
    """float64 -> float32, NaN kept; DataError for infinite or beyond-float32 values."""
    with np.errstate(over="ignore"):
        out = x.astype(np.float32)
    infinite = np.isinf(out)
    if infinite.any():
        raise DataError(
            f"table {path} has {int(infinite.sum())} infinite or too large values "
            f"({_first_bad(infinite, frame, first)}): expected finite numbers within float32 range"
        )
    return out


def load_table(
    path: Path,
    *,
    label_column: str | None = None,
    schema: Schema | None = None,
    categorical: list[str] | None = None,
    numeric: list[str] | None = None,
) -> Dataset:
    """Load a table as split "all": float32 ``(N, D)`` raw values (NaN where missing), kind "table".

    ``label_column`` becomes int64 labels ``(N,)`` and leaves the features. With ``schema`` the features must
    be exactly the schema's columns (any order; they are reordered to the schema's) and are typed by it;
    without, column types are inferred (module docstring), ``categorical`` / ``numeric`` overriding them.
    """
    return frame_dataset(read_frame(path), path, label_column=label_column, schema=schema, categorical=categorical,
                         numeric=numeric)  # fmt: skip


def frame_dataset(
    frame: pd.DataFrame,
    path: object,
    *,
    label_column: str | None = None,
    schema: Schema | None = None,
    categorical: list[str] | None = None,
    numeric: list[str] | None = None,
) -> Dataset:
    """A DataFrame as split "all", as ``load_table`` reads a file (``path`` names it in messages and becomes the
    schema's source)."""
    known = schema.label_names if schema is not None else None
    labels: dict[str, torch.Tensor] = {}
    names = known
    if label_column is not None:
        frame, codes, names = _take_labels(frame, label_column, path, known)
        labels["all"] = label_tensor(codes)
    if schema is not None:
        if categorical or numeric:
            raise DataError("--categorical / --numeric apply when training: a trained model reads columns as typed")
        x = frame_values(frame, schema, path)
        types, categories = schema.column_types, schema.categories
    else:
        kinds = infer_types(frame, path, categorical, numeric)
        categories = {
            c: categories_of(frame[c], c, path) for c, t in zip(frame.columns, kinds, strict=True) if t == "categorical"
        }
        types = kinds if categories else None  # None: all numeric (as in bundles written before column types)
        typed = Schema("table", (frame.shape[1],), tuple(frame.columns), column_types=types, categories=categories)
        x = frame_values(frame, typed, path)
        empty = [c for j, c in enumerate(frame.columns) if np.isnan(x[:, j]).all()]
        if empty:
            raise DataError(f"column(s) {empty} in {path} have no values (every cell is missing): drop them")
    kind = "vector" if schema is not None and schema.kind == "vector" else "table"
    columns = None if kind == "vector" else tuple(schema.columns if schema is not None else frame.columns)
    meta = Schema(
        kind,
        (x.shape[1],),
        columns=columns,
        label_names=names,
        source=str(path),
        column_types=types if kind == "table" else None,
        categories=(categories or None) if kind == "table" else None,
    )
    return Dataset(splits={"all": float_tensor(x)}, schema=meta, labels=labels)


def read_text_matrix(path: Path) -> np.ndarray:
    """A float32 ``(N, D)`` matrix from numeric ``.csv`` / ``.tsv`` / whitespace ``.txt``; header optional."""
    sep = SEPARATORS[path.suffix.lower()]
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
        codes = [c for c in frame.columns if re.fullmatch(r"z\d+", str(c))]  # `vaekit encode` CSV: label/smiles + z*
        if header == 0 and codes and all(pd.api.types.is_numeric_dtype(frame[c]) for c in codes):
            frame = frame[codes]
            break
    else:
        bad = [str(c) for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
        raise DataError(f"{path} is not a numeric matrix: column(s) {bad} hold text")
    if frame.shape[0] == 0:
        raise DataError(f"{path} has a header but no rows: expected rows of numbers")
    frame.columns = [str(c) for c in frame.columns]
    return _values(frame, path)
