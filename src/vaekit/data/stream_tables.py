"""Tables larger than memory: a ``.csv`` / ``.tsv`` / ``.parquet`` read in chunks, encoded once into a float32 ``.npy``
cache, then streamed like any ``.npy`` (``vaekit.data.streaming``).

The in-memory loader (``vaekit.data.tables``) infers every column's type and categories over the whole table. Here
the table is read a chunk at a time — CSV/TSV with pandas' own C parser (``read_csv(chunksize=...)``, the parser the
in-memory loader uses, so missing-value strings, booleans, text that looks like dates, duplicate header names and the
digits of every number are read exactly as there), Parquet with ``pyarrow.parquet.ParquetFile.iter_batches`` — and:

1. a first pass learns each column's type as a whole-table read would give it (numeric when every chunk is, boolean
   when every chunk is, else text), its distinct values when it may be categorical (at most a few thousand are kept:
   more is an error anyway), its missing cells, the label column's classes and the number of rows;
2. a column whose chunks differ (numbers in one, text in another: the whole table reads it as text) is read once
   more, as text, for its categories;
3. a last pass encodes each chunk with ``tables.frame_values`` (the in-memory loader's own encoding: category
   indices, NaN for a missing cell) and appends its float32 rows to an ``.npy`` in the cache folder
   (``$VAEKIT_CACHE/tables`` or ``~/.cache/vaekit/tables``), written under a temporary name and renamed; a JSON
   beside it, written last, holds the schema.

The cache entry is named by the table's absolute path and by its size, modification time and the loader options:
a table that changed is encoded again (the entries of its older versions are removed), an unchanged one is reused
at once. The schema, the rows (bit for bit) and the labels are the in-memory loader's; the model computes its
standardization statistics from them in one chunked pass (``VAE.fit_data_stats``). Memory holds one chunk (about
``CHUNK_VALUES`` cells), the distinct values of categorical columns and the labels (8 bytes a row).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._io import atomic_path, write_json
from ..errors import DataError
from .arrays import encode_labels, error_text, label_tensor
from .schema import Dataset, Schema
from .streaming import NpyReader, Rows
from .tables import (
    MAX_CATEGORIES,
    SEPARATORS,
    TABLE_SUFFIXES,
    category_names,
    column_types,
    frame_values,
    named_frame,
    no_values,
    too_many_categories,
)

CHUNK_VALUES = 4 << 20  # cells per chunk: about 32 MB of float64 values (more for text)
KEEP_VALUES = 4 * MAX_CATEGORIES  # distinct values kept per possibly categorical column (more: too many categories)
CACHE_VERSION = 1  # part of every cache key: a change of the encoding invalidates old entries


class TableRows(Rows):
    """The rows of an encoded table (:class:`Rows` over its cache ``.npy``), NaN marking a missing cell. Infinite
    values never reach the cache (``frame_values`` refuses them), so rows are not checked again when read."""

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, tuple):  # columns: only a table's conditioning selects them (vaekit.data.condition)
            raise DataError(
                "a table read with --stream cannot be conditioned on its columns yet: train it in memory (--in-memory)"
            )
        return super().__getitem__(key)


def cache_dir() -> Path:
    """Where encoded tables are kept: ``$VAEKIT_CACHE/tables``, else ``~/.cache/vaekit/tables``. Everything there can
    be deleted; a table is encoded again when its entry is missing."""
    env = os.environ.get("VAEKIT_CACHE")
    return (Path(env).expanduser() if env else Path.home() / ".cache" / "vaekit") / "tables"


def table_bytes(spec: str) -> int | None:
    """How many bytes an existing table file holds: a CSV/TSV its size, a Parquet its uncompressed data (from its
    footer); None for anything else or a file that cannot be read (the loader then says what is wrong)."""
    path = Path(spec).expanduser()
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES or not path.is_file():
        return None
    try:
        if suffix != ".parquet":
            return path.stat().st_size
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(path).metadata
        return sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    except Exception:
        return None


# --- reading in chunks --------------------------------------------------------------------------------------------


def _chunks(path: Path, rows: int, dtype: dict[str, str] | None = None, usecols: list[str] | None = None):
    """The table as DataFrames of ``rows`` rows, columns named as ``read_frame`` names them. ``dtype`` (CSV only):
    columns read as that type; ``usecols``: only those columns."""
    try:
        if path.suffix.lower() == ".parquet":
            yield from _parquet_chunks(path, rows, usecols)
            return
        positions = None if usecols is None else [_header(path).index(c) for c in usecols]  # names may be mangled
        with pd.read_csv(path, sep=SEPARATORS[path.suffix.lower()], low_memory=False, chunksize=rows, dtype=dtype,
                         usecols=positions) as reader:  # fmt: skip
            yield from reader
    except pd.errors.EmptyDataError:
        raise DataError(f"table {path} is empty: expected a header row and at least one row of numbers") from None
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"cannot read table {path}: {error_text(e)}") from None


def _parquet_chunks(path: Path, rows: int, usecols: list[str] | None) -> Iterator[pd.DataFrame]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    f = pq.ParquetFile(path)
    index = (f.schema_arrow.pandas_metadata or {}).get("index_columns", [])  # a stored index is not a column
    columns = usecols or [c for c in f.schema_arrow.names if c not in index]
    for batch in f.iter_batches(batch_size=rows, columns=columns):
        yield pa.Table.from_batches([batch]).to_pandas()


def _header(path: Path) -> list[str]:
    """The column names, as the in-memory loader names them (an empty table, or names used twice, refused)."""
    chunks = _chunks(path, 1)
    first = next(chunks, None)
    chunks.close()
    if first is None or not len(first):
        raise DataError(f"table {path} is empty: expected a header row and at least one row of numbers")
    return list(named_frame(first, path).columns)


# --- pass 1: what the whole table holds ------------------------------------------------------------------------------


@dataclass
class _Column:
    """What the chunks of one column held."""

    collect: bool  # keep its distinct values whatever it holds (categorical by the user's choice, or the label)
    limit: int | None  # at most this many distinct values kept (None: all)
    kinds: set[str] = field(default_factory=set)  # per chunk: "numeric", "bool", "text" or "empty"
    floating: bool = False  # some numeric chunk was float (or had missing cells): the whole column is float64
    present: int = 0  # cells with a value
    values: dict[Any, None] | None = field(default_factory=dict)  # distinct values, first seen first; None: too many

    @property
    def kind(self) -> str:
        """The column's type in a whole-table read: "numeric", "bool" or "text"."""
        seen = self.kinds - {"empty"}
        if not seen or seen == {"numeric"}:
            return "numeric"
        return "bool" if seen == {"bool"} else "text"

    @property
    def mixed(self) -> bool:
        """Text in a whole-table read, but not in every chunk: its values are read again as text."""
        return self.kind == "text" and bool(self.kinds - {"empty", "text"})

    def add(self, series: pd.Series) -> None:
        kind = _chunk_kind(series)
        self.kinds.add(kind)
        self.floating |= kind in ("numeric", "empty") and not pd.api.types.is_integer_dtype(series)
        present = series.dropna()
        self.present += len(present)
        if self.values is None or not (self.collect or kind in ("bool", "text")):
            return
        self.values.update(dict.fromkeys(pd.unique(present).tolist()))
        if self.limit is not None and len(self.values) > self.limit:
            self.values = None


def _chunk_kind(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if not series.notna().any():
        return "empty"
    if pd.api.types.is_numeric_dtype(series):
        return "numeric"
    return "bool" if pd.api.types.infer_dtype(series, skipna=True) == "boolean" else "text"


def _survey(chunks, columns: dict[str, _Column], path: Path) -> int:
    """Feed every chunk's columns to their trackers; the number of rows."""
    rows = 0
    for chunk in chunks:
        chunk = named_frame(chunk, path) if len(chunk) else chunk
        for name, column in columns.items():
            column.add(chunk[name])
        rows += len(chunk)
    return rows


@dataclass(frozen=True)
class _Options:
    label: str | None
    categorical: tuple[str, ...]
    numeric: tuple[str, ...]
    rows: int  # per chunk


def _first_pass(path: Path, options: _Options) -> tuple[list[str], dict[str, _Column], int]:
    """(feature column names, a tracker per column (features and label), rows)."""
    names = _header(path)
    if options.label is not None and options.label not in names:
        raise DataError(f"label column {options.label!r} not found in {path}: its columns are {names}")
    features = [c for c in names if c != options.label]
    if not features:
        raise DataError(f"table {path} has no feature columns besides the label column {options.label!r}")
    columns = {c: _Column(c in options.categorical, KEEP_VALUES) for c in features}
    if options.label is not None:
        columns[options.label] = _Column(True, None)
    rows = _survey(_chunks(path, options.rows), columns, path)
    if rows == 0:
        raise DataError(f"table {path} is empty: expected a header row and at least one row of numbers")
    mixed = {
        c: _Column(True, t.limit) for c, t in columns.items() if t.mixed and (t.collect or c not in options.numeric)
    }
    if mixed:  # the whole table reads these as text: their values again, as text
        _survey(_chunks(path, options.rows, dict.fromkeys(mixed, "str"), list(mixed)), mixed, path)
        for c, t in mixed.items():
            columns[c].values = t.values
    return features, columns, rows


def _schema(path: Path, features: list[str], columns: dict[str, _Column], options: _Options) -> Schema:
    """The schema ``frame_dataset`` gives the whole table (without label names)."""
    defaults = ["numeric" if columns[c].kind == "numeric" else "categorical" for c in features]
    kinds = column_types(features, defaults, path, list(options.categorical), list(options.numeric))
    categories = {}
    for c, t in zip(features, kinds, strict=True):
        if t != "categorical":
            continue
        if not columns[c].present:
            raise no_values(c, path)
        if columns[c].values is None:
            raise too_many_categories(c, path, f"more than {MAX_CATEGORIES}")
        categories[c] = category_names(list(columns[c].values), c, path)
    empty = [c for c, t in zip(features, kinds, strict=True) if t == "numeric" and not columns[c].present]
    if empty:
        raise DataError(f"column(s) {empty} in {path} have no values (every cell is missing): drop them")
    types = kinds if categories else None  # None: all numeric (as in bundles written before column types)
    return Schema("table", (len(features),), tuple(features), source=str(path), column_types=types,
                  categories=categories or None)  # fmt: skip


def _label_names(path: Path, column: _Column, name: str, rows: int) -> tuple[str, ...]:
    """The label column's classes, as ``encode_labels`` names them over the whole column."""
    if column.present < rows:
        missing = rows - column.present
        raise DataError(f"label column {name!r} in {path} has {missing} missing values: every row needs a label")
    values = list(column.values or ())
    if column.kind == "numeric" and column.floating:
        values = [float(v) for v in values]
    return encode_labels(np.array(values, dtype=object))[1]


# --- pass 3: encode and write --------------------------------------------------------------------------------------


def _read_types(columns: dict[str, _Column], path: Path) -> dict[str, str] | None:
    """The types the encoding pass reads columns as (CSV): text columns as text, float columns as float64, as a
    whole-table read types them whatever a chunk holds."""
    if path.suffix.lower() == ".parquet":
        return None
    types = {c: "str" for c, t in columns.items() if t.kind == "text"}
    types |= {c: "float64" for c, t in columns.items() if t.kind == "numeric" and t.floating}
    return types


def _encode(path: Path, target: Path, schema: Schema, columns: dict[str, _Column], options: _Options, n: int):
    """Write the encoded rows to the ``.npy`` ``target``; the label codes (or None)."""
    index = {name: i for i, name in enumerate(schema.label_names or ())}
    codes = np.empty(n, dtype=np.int64) if options.label is not None else None
    at = 0
    with open(target, "wb") as f:
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
                  "shape": (n, schema.size)}  # fmt: skip
        np.lib.format.write_array_header_2_0(f, header)
        for chunk in _chunks(path, options.rows, _read_types(columns, path)):
            if at + len(chunk) > n:
                raise _changed(path)
            if codes is not None:
                labels = chunk.pop(options.label).tolist()
                codes[at : at + len(chunk)] = [index[str(v)] for v in labels]
            f.write(frame_values(chunk, schema, path, first=at).tobytes())
            at += len(chunk)
    if at != n:
        raise _changed(path)
    return codes


def _changed(path: Path) -> DataError:
    return DataError(f"{path} changed while it was read: run the command again once it is written")


# --- the cache -----------------------------------------------------------------------------------------------------


def _entry(path: Path, options: _Options) -> tuple[str, str]:
    """(the prefix of every cache entry of ``path``, the name of the entry of its present state and ``options``)."""
    where = path.resolve()
    try:
        st = where.stat()
    except OSError as e:
        raise DataError(f"cannot read table {path}: {e.strerror or e}") from None
    prefix = hashlib.sha256(str(where).encode()).hexdigest()[:16]
    state = [CACHE_VERSION, st.st_size, st.st_mtime_ns, options.label, sorted(options.categorical),
             sorted(options.numeric), pd.__version__]  # fmt: skip
    return prefix, f"{prefix}-{hashlib.sha256(json.dumps(state).encode()).hexdigest()[:16]}"


def _cached(folder: Path, name: str, path: Path) -> Dataset | None:
    """The entry ``name`` when it is whole (its JSON, written last, and arrays of the shapes it records), else None."""
    try:
        meta = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
        schema = dataclasses.replace(Schema.from_dict(meta["schema"]), source=str(path))
        reader = NpyReader(folder / f"{name}.npy")
        labels = None
        if meta["labels"]:
            labels = np.load(folder / f"{name}.labels.npy", allow_pickle=False)
    except (OSError, EOFError, ValueError, KeyError, TypeError, DataError):  # missing or damaged: made again
        return None
    if reader.shape != (meta["rows"], schema.size) or reader.dtype != np.float32:
        return None
    if labels is not None and labels.shape != (meta["rows"],):
        return None
    return _dataset(reader, schema, labels)


def _dataset(reader: NpyReader, schema: Schema, labels: np.ndarray | None) -> Dataset:
    out = {"all": label_tensor(labels)} if labels is not None else {}
    return Dataset(splits={"all": TableRows(reader, "table", "")}, schema=schema, labels=out)  # type: ignore[dict-item]


def _build(path: Path, folder: Path, name: str, options: _Options) -> None:
    """Read ``path`` in chunks and write the cache entry ``name``: the rows, the labels, then the JSON."""
    features, columns, rows = _first_pass(path, options)
    schema = _schema(path, features, columns, options)
    if options.label is not None:
        schema = dataclasses.replace(
            schema, label_names=_label_names(path, columns[options.label], options.label, rows)
        )
    codes = None
    with atomic_path(folder / f"{name}.npy") as tmp:
        codes = _encode(path, tmp, schema, columns, options, rows)
    if codes is not None:
        with atomic_path(folder / f"{name}.labels.npy") as tmp:
            with open(tmp, "wb") as f:  # a file object: np.save would add .npy to the temporary name
                np.save(f, codes, allow_pickle=False)
    meta = {"source": str(path.resolve()), "rows": rows, "labels": codes is not None, "schema": schema.to_dict()}
    write_json(folder / f"{name}.json", meta)


def _remove_stale(folder: Path, prefix: str, name: str) -> None:
    """Remove the entries of older versions of the same table (another size, time or options)."""
    for old in folder.glob(f"{prefix}-*"):
        if not old.name.startswith(name) and not old.name.startswith("."):
            old.unlink(missing_ok=True)


def stream_table(
    path: Path,
    *,
    label_column: str | None = None,
    categorical: list[str] | None = None,
    numeric: list[str] | None = None,
    chunk_rows: int | None = None,
) -> Dataset:
    """A ``.csv`` / ``.tsv`` / ``.parquet`` table as split "all" of rows read on demand: the schema, rows and labels
    ``vaekit.data.tables.load_table`` gives the same file, from an encoded copy in the cache folder (made now, in
    chunks of ``chunk_rows`` rows, unless an entry for the file as it is now exists). See the module docstring."""
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise DataError(f"{path} is not a table: expected a .csv, .tsv or .parquet file")
    if not path.is_file():
        raise DataError(f"no such file: {path}")
    width = len(_header(path))
    rows = chunk_rows or max(1, CHUNK_VALUES // max(1, width))
    options = _Options(label_column, tuple(categorical or ()), tuple(numeric or ()), rows)
    prefix, name = _entry(path, options)
    folder = cache_dir()
    found = _cached(folder, name, path)
    if found is not None:
        return found
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _build(path, folder, name, options)
    except OSError as e:
        raise DataError(
            f"cannot write the table cache {folder}: {e.strerror or e} (set VAEKIT_CACHE to a writable folder)"
        ) from None
    if _entry(path, options)[1] != name:
        raise _changed(path)
    _remove_stale(folder, prefix, name)
    found = _cached(folder, name, path)
    if found is None:
        raise DataError(f"the table cache {folder} lost {name} while it was written: run the command again")
    return found
