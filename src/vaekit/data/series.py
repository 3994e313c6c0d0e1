"""Time series as datasets: the UCR/UEA archive files the sktime wheel ships, ``.ts`` files, CSV/Parquet tables.

Every source becomes float32 ``(N, T, D)`` raw values (no standardization: the model does that), kind
``"series"``: N series of D channels, padded at the END with NaN to the longest length T; NaN also marks a missing
value inside a series. Class labels become int64 ``Dataset.labels``; a regression target (``@targetLabel``) becomes
the numeric attribute ``target``.

* ``ucr:Name`` (``ucr:GunPoint``, ``ucr:BasicMotions``, any case): ``<Name>_TRAIN.ts`` / ``<Name>_TEST.ts`` from
  the data folder of the sktime wheel (``pip install --no-deps sktime``), splits "train" and "test" as published.
  sktime is only located (``importlib.util.find_spec``), never imported: it pulls heavy dependencies.
* A ``.ts`` file (the format of the UCR/UEA archive, read by ``parse_ts``): ``#``/``%`` comment lines, ``@``
  header lines up to ``@data``, then one series per line: channels separated by ``:``, values by ``,``, ``?`` for
  a missing value, the class label (``@classLabel true ...``) or target (``@targetLabel true``) last. Split "all";
  ``X_TRAIN.ts`` with its ``X_TEST.ts`` beside it gives "train" and "test". Timestamped files are refused.
* ``.csv``/``.tsv``/``.parquet``, wide (no ``id_column``): one row per series, every column but the label column
  a time step in column order (univariate, D = 1; empty trailing cells make a shorter series). Long (with
  ``id_column``): one row per time step; rows of one id form a series, in order of ``time_column`` (when given;
  it only orders, steps count as equally spaced) else of the rows; every other column but the label column is a
  channel (``Schema.columns``). Series appear in order of their id's first row; a label must be the same on every
  row of an id. Split "all".

A trained model's schema: the channels must match (by name for long tables of a model that has names), a series
may be shorter than its T (NaN-padded to T) but not longer: that is refused, as cutting would change what is
scored. Labels keep the model's class order when it knows every class.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..errors import DataError
from .arrays import encode_labels, error_text, float_tensor, label_tensor
from .schema import Attributes, Dataset, Schema
from .tables import TABLE_SUFFIXES, read_frame

UCR_PREFIX = "ucr:"
TS_SUFFIX = ".ts"
SERIES_SUFFIXES = (TS_SUFFIX, *TABLE_SUFFIXES)
TARGET = "target"
_COMMENT = ("#", "%")


# --- the .ts format -------------------------------------------------------------------------------------------


@dataclass
class TsData:
    """A parsed ``.ts`` file: ``series[i]`` is float64 ``(T_i, D)`` (NaN where ``?``)."""

    series: list[np.ndarray]
    classes: list | None  # one class per series (text in a .ts file, a table's values), else None
    class_names: tuple[str, ...] | None  # the classes the header declares, in its order (None: not declared)
    targets: np.ndarray | None  # float64 (N,) (``@targetLabel true``), else None
    name: str  # @problemName, or ""


@dataclass
class _Header:
    name: str = ""
    has_class: bool = False
    class_names: tuple[str, ...] | None = None
    has_target: bool = False
    dimensions: int | None = None


def _flag(value: str, where: str, line: int) -> bool:
    word = value.split()[0].lower() if value.split() else ""
    if word not in ("true", "false"):
        raise DataError(f"{where} line {line}: expected true or false after the tag, got {value!r}")
    return word == "true"


def _header_line(header: _Header, text: str, where: str, line: int) -> None:
    """Apply one ``@tag value`` line to ``header``."""
    parts = text[1:].split(None, 1)
    tag, value = (parts[0].lower() if parts else ""), (parts[1].strip() if len(parts) > 1 else "")
    if tag == "problemname":
        header.name = header.name or value
    elif tag == "timestamps" and _flag(value, where, line):
        raise DataError(f"{where} has timestamps (@timeStamps true), which vaekit does not read: save plain values")
    elif tag == "classlabel":
        header.has_class = _flag(value, where, line)
        names = tuple(value.split()[1:])
        header.class_names = names if header.has_class and names else None
    elif tag == "targetlabel":
        header.has_target = _flag(value, where, line)
    elif tag == "dimensions":
        if not value.isdigit() or int(value) < 1:
            raise DataError(f"{where} line {line}: @dimensions must be a positive integer, got {value!r}")
        header.dimensions = int(value)


def _values(field: str, where: str, line: int) -> np.ndarray:
    """``"1.5,?,2"`` -> float64 ``[1.5, nan, 2]``."""
    parts = [p.strip() for p in field.split(",")]
    if parts == [""]:
        return np.zeros(0)
    try:
        return np.array(["nan" if p == "?" else p for p in parts], dtype=np.float64)
    except ValueError:
        bad = next(p for p in parts if p != "?" and not _is_number(p))
        raise DataError(f"{where} line {line}: {bad!r} is not a number (expected numbers, or ? for missing)") from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _case(fields: list[str], where: str, line: int) -> np.ndarray:
    """The channels of one series (``fields`` without the label) -> float64 ``(T, D)``, shorter channels padded."""
    channels = [_values(f, where, line) for f in fields]
    length = max(len(c) for c in channels)
    if length == 0:
        raise DataError(f"{where} line {line}: the series holds no values")
    out = np.full((length, len(channels)), np.nan)
    for j, c in enumerate(channels):
        out[: len(c), j] = c
    return out


def _data_line(text: str, header: _Header, where: str, line: int) -> tuple[np.ndarray, str | None]:
    """One series line -> (``(T, D)`` values, its label text or None)."""
    fields = text.split(":")
    label = None
    if header.has_class or header.has_target:
        if len(fields) < 2:
            raise DataError(f"{where} line {line}: expected the values, then ':' and the label")
        label = fields.pop().strip()
    values = _case(fields, where, line)
    if header.dimensions is not None and values.shape[1] != header.dimensions:
        raise DataError(
            f"{where} line {line}: {values.shape[1]} channels, but the header declares @dimensions {header.dimensions}"
        )
    return values, label


def _labels(raw: list[str], header: _Header, where: str) -> tuple[list[str] | None, np.ndarray | None]:
    """(class per series, targets): checked against the header's declared classes."""
    if header.has_target:
        try:
            return None, np.array(raw, dtype=np.float64)
        except ValueError:
            bad = next(r for r in raw if not _is_number(r))
            raise DataError(f"{where}: the target {bad!r} is not a number") from None
    if not header.has_class:
        return None, None
    if header.class_names is not None:
        unknown = sorted(set(raw) - set(header.class_names))
        if unknown:
            raise DataError(
                f"{where}: class {unknown[0]!r} is not among the classes its header declares "
                f"({', '.join(header.class_names)})"
            )
    return raw, None


def parse_ts(text: str, where: str = "<.ts text>") -> TsData:
    """Parse the text of a ``.ts`` file (module docstring); DataError naming the line of a problem."""
    header, series, raw = _Header(), [], []
    in_data = False
    for number, line in enumerate(text.splitlines(), start=1):
        s = line.strip()
        if not s or s.startswith(_COMMENT):
            continue
        if not in_data:
            if not s.startswith("@"):
                raise DataError(f"{where} line {number}: expected a @tag before @data, got {s[:40]!r}")
            in_data = s.lower() == "@data"
            _header_line(header, s, where, number)
            continue
        values, label = _data_line(s, header, where, number)
        series.append(values)
        if label is not None:
            raw.append(label)
    if not in_data:
        raise DataError(f"{where} has no @data line: not a .ts file")
    if not series:
        raise DataError(f"{where} holds no series after @data")
    widths = {s.shape[1] for s in series}
    if len(widths) > 1:
        raise DataError(f"{where} has series with {min(widths)} and {max(widths)} channels: expected one number")
    classes, targets = _labels(raw, header, where)
    return TsData(series, classes, header.class_names, targets, header.name)


def read_ts(path: str | Path) -> TsData:
    """Read and parse one ``.ts`` file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise DataError(f"cannot read {path}: {error_text(e)}") from None
    return parse_ts(text, str(path))


# --- padding and the model's schema ---------------------------------------------------------------------------


def pad_series(series: list[np.ndarray], length: int | None = None) -> np.ndarray:
    """Series ``(T_i, D)`` -> float32 ``(N, T, D)``, NaN-padded at the end to ``length`` (default: the longest)."""
    longest = max(len(s) for s in series)
    length = longest if length is None else length
    out = np.full((len(series), length, series[0].shape[1]), np.nan, dtype=np.float32)
    for i, s in enumerate(series):
        out[i, : len(s)] = s
    return out


def _check_kind(where: object, schema: Schema | None) -> None:
    if schema is not None and (schema.kind != "series" or len(schema.shape) != 2):
        raise DataError(
            f"{where} holds time series but the model was trained on {schema.kind} data of shape {tuple(schema.shape)}"
        )


def _target_length(lengths: list[int], channels: int, where: object, schema: Schema | None) -> int | None:
    """The padded length: None (the longest) without a schema; its T when the series fit it."""
    if schema is None:
        return None
    _check_kind(where, schema)
    length, width = (int(s) for s in schema.shape)
    if channels != width:
        raise DataError(f"{where} has series of {channels} channels but the model was trained on {width}")
    if max(lengths) > length:
        raise DataError(
            f"{where} has series of up to {max(lengths)} steps but the model was trained on at most {length}: "
            f"pass series of at most {length} steps"
        )
    return length


def _class_codes(
    classes: list, declared: tuple[str, ...] | None, schema: Schema | None
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Classes -> (int64 codes, names): the model's order when it knows every class, else the order the file
    declares, else sorted (``encode_labels``: numbers by value)."""
    known = schema.label_names if schema is not None else None
    if declared is None or (known is not None and {str(c) for c in classes} <= set(known)):
        return encode_labels(np.array(classes), known)
    index = {name: i for i, name in enumerate(declared)}
    return np.array([index[c] for c in classes], dtype=np.int64), declared


def _build(
    parts: dict[str, TsData], where: str, schema: Schema | None, columns: tuple[str, ...] | None = None
) -> Dataset:
    """Splits of parsed series -> a Dataset (padded to one length across splits)."""
    lengths = [len(s) for data in parts.values() for s in data.series]
    channels = next(iter(parts.values())).series[0].shape[1]
    if any(data.series[0].shape[1] != channels for data in parts.values()):
        raise DataError(f"{where}: the splits have different numbers of channels")
    length = _target_length(lengths, channels, where, schema) or max(lengths)
    splits = {split: float_tensor(pad_series(data.series, length)) for split, data in parts.items()}
    labels: dict[str, torch.Tensor] = {}
    names = schema.label_names if schema is not None else None
    if all(data.classes is not None for data in parts.values()):
        declared = next(iter(parts.values())).class_names
        everything = [c for data in parts.values() for c in data.classes or []]
        codes, names = _class_codes(everything, declared, schema)
        start = 0
        for split, data in parts.items():
            labels[split] = label_tensor(codes[start : start + len(data.series)])
            start += len(data.series)
    meta = Schema("series", (length, channels), columns=columns, label_names=names, source=where)
    data = Dataset(splits=splits, schema=meta, labels=labels)
    if all(d.targets is not None for d in parts.values()):
        data.attribute_info = Attributes((TARGET,), ("numeric",))
        data.attributes = {s: float_tensor(d.targets[:, None]) for s, d in parts.items() if d.targets is not None}
    return data


# --- the UCR/UEA files of sktime ------------------------------------------------------------------------------


def ucr_folder() -> Path:
    """The folder of UCR/UEA datasets in the installed sktime wheel (found without importing sktime)."""
    try:
        spec = importlib.util.find_spec("sktime")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            "the UCR/UEA time series come with the package sktime, which is not installed: pip install --no-deps sktime"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    if not folder.is_dir():
        raise DataError(f"the installed sktime has no dataset folder ({folder}): reinstall it with --no-deps")
    return folder


def ucr_names() -> tuple[str, ...]:
    """The UCR/UEA datasets shipped with the installed sktime: folders holding ``<Name>_TRAIN.ts`` and ``_TEST.ts``."""
    folder = ucr_folder()
    found = [d.name for d in folder.iterdir() if all((d / f"{d.name}_{s}.ts").is_file() for s in ("TRAIN", "TEST"))]
    return tuple(sorted(found, key=str.lower))


def is_series_spec(spec: str | Path) -> bool:
    """True for ``ucr:Name`` and ``.ts`` paths, the unambiguous series sources; a CSV/Parquet table is a series
    dataset only when the caller says so (it reads as a table otherwise)."""
    text = str(spec).strip()
    return text.lower().startswith(UCR_PREFIX) or Path(text).suffix.lower() == TS_SUFFIX


def _ucr_name(spec: str) -> str:
    wanted = spec.strip()[len(UCR_PREFIX) :].strip()
    names = ucr_names()
    match = next((n for n in names if n.lower() == wanted.lower()), None)
    if match is None:
        raise DataError(f"unknown UCR/UEA dataset {wanted!r}: the installed sktime ships {', '.join(names)}")
    return match


def load_ucr(spec: str, *, schema: Schema | None = None) -> Dataset:
    """``ucr:Name`` -> splits "train" and "test" as published (module docstring)."""
    name = _ucr_name(spec)
    folder = ucr_folder() / name
    parts = {split: read_ts(folder / f"{name}_{split.upper()}.ts") for split in ("train", "test")}
    return _build(parts, f"ucr:{name}", schema)


def _load_ts(path: Path, schema: Schema | None) -> Dataset:
    stem = path.stem
    for own, other, split in (("_TRAIN", "_TEST", "train"), ("_TEST", "_TRAIN", "test")):
        if not stem.upper().endswith(own):
            continue
        other = other if stem[-len(own) :].isupper() else other.lower()
        sibling = path.with_name(stem[: -len(own)] + other + path.suffix)
        if sibling.is_file():
            pair = {split: path, ("test" if split == "train" else "train"): sibling}
            return _build({s: read_ts(pair[s]) for s in ("train", "test")}, str(path), schema)
    return _build({"all": read_ts(path)}, str(path), schema)


# --- tables ---------------------------------------------------------------------------------------------------


def _column(frame: pd.DataFrame, name: str | None, what: str, where: object) -> str | None:
    if name is not None and name not in frame.columns:
        raise DataError(f"{what} {name!r} not found in {where}: its columns are {list(frame.columns)}")
    return name


def _numeric(frame: pd.DataFrame, where: object) -> np.ndarray:
    """The frame's values as float64; DataError naming the first column that holds text."""
    for name in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[name]):
            raise DataError(
                f"column {name!r} of {where} holds {frame[name].dtype} values: series values must be numbers "
                "(name the label column, or the id and time columns of a long table)"
            )
    return frame.to_numpy(dtype=np.float64, na_value=np.nan)


def _table_labels(values: pd.Series, where: object) -> list:
    missing = int(values.isna().sum())
    if missing:
        raise DataError(f"the label column of {where} has {missing} missing values: every series needs a label")
    return values.tolist()


def _wide(frame: pd.DataFrame, label_column: str | None, where: object) -> TsData:
    """One row per series: every other column a time step; trailing empty cells shorten a series."""
    classes = _table_labels(frame[label_column], where) if label_column is not None else None
    steps = frame.drop(columns=[label_column]) if label_column is not None else frame
    if steps.shape[1] == 0:
        raise DataError(f"{where} has no time-step columns besides the label column {label_column!r}")
    x = _numeric(steps, where)
    present = ~np.isnan(x)
    lengths = np.where(present.any(axis=1), x.shape[1] - np.argmax(present[:, ::-1], axis=1), 0)
    if (lengths == 0).any():
        row = int(np.argmax(lengths == 0))
        raise DataError(f"row {row + 1} of {where} holds no values: every series needs at least one")
    series = [x[i, : lengths[i], None] for i in range(len(x))]
    return TsData(series, classes, None, None, "")


def _shown(value: object) -> str:
    """A cell for a message: ``'s1'``, ``3`` (NumPy scalars as plain Python ones)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _order(frame: pd.DataFrame, ids: np.ndarray, time_column: str | None, id_column: str, where: object) -> np.ndarray:
    """Row order grouping ids (by first appearance) and sorting by time within an id; refuses repeated times."""
    if time_column is None:
        return np.argsort(ids, kind="stable")
    time = frame[time_column]
    if time.isna().any():
        raise DataError(f"the time column {time_column!r} of {where} has missing values")
    try:
        ranks = pd.factorize(time, sort=True)[0]
    except TypeError:
        raise DataError(f"the time column {time_column!r} of {where} mixes values that cannot be ordered") from None
    order = np.lexsort((ranks, ids))
    same = (ids[order][1:] == ids[order][:-1]) & (ranks[order][1:] == ranks[order][:-1])
    if same.any():
        row = order[1:][same][0]
        raise DataError(
            f"{where} has two rows for {id_column} {_shown(frame[id_column].iloc[row])} at time "
            f"{_shown(time.iloc[row])}: expected one row per time step"
        )
    return order


def _id_labels(frame: pd.DataFrame, ids: np.ndarray, count: int, label_column: str, where: object) -> list:
    """One label per id; DataError when an id's rows disagree."""
    labels = _table_labels(frame[label_column], where)
    first: list = [None] * count
    for i, label in zip(ids.tolist(), labels, strict=True):
        if first[i] is None:
            first[i] = label
        elif first[i] != label:
            raise DataError(
                f"the label column {label_column!r} of {where} has both {_shown(first[i])} and {_shown(label)} for "
                "one series: every row of an id needs the same label"
            )
    return first


def _long(
    frame: pd.DataFrame, id_column: str, time_column: str | None, label_column: str | None, where: object
) -> tuple[TsData, tuple[str, ...]]:
    """One row per time step: (the series, channel names)."""
    if frame[id_column].isna().any():
        raise DataError(f"the id column {id_column!r} of {where} has missing values: every row needs an id")
    ids, uniques = pd.factorize(frame[id_column], sort=False)
    used = [c for c in (id_column, time_column, label_column) if c is not None]
    if len(set(used)) < len(used):
        raise DataError(f"the id, time and label columns of {where} must be different columns, got {used}")
    channels = frame.drop(columns=used)
    if channels.shape[1] == 0:
        raise DataError(f"{where} has no value columns besides {', '.join(repr(c) for c in used)}")
    x = _numeric(channels, where)
    order = _order(frame, ids, time_column, id_column, where)
    bounds = np.cumsum(np.bincount(ids, minlength=len(uniques)))[:-1]
    series = np.split(x[order], bounds)
    classes = _id_labels(frame, ids, len(uniques), label_column, where) if label_column is not None else None
    return TsData(series, classes, None, None, ""), tuple(str(c) for c in channels.columns)


def _match_channels(frame: pd.DataFrame, keep: list[str], schema: Schema | None, where: object) -> pd.DataFrame:
    """A long table's columns reordered to the model's channel names (when it has names)."""
    if schema is None or schema.kind != "series" or schema.columns is None:
        return frame
    channels = [c for c in frame.columns if c not in keep]
    missing = [c for c in schema.columns if c not in channels]
    extra = [c for c in channels if c not in schema.columns]
    if missing or extra:
        parts = ([f"missing {missing}"] if missing else []) + ([f"unexpected {extra}"] if extra else [])
        raise DataError(
            f"{where} has channels {channels} but the model was trained on {list(schema.columns)}: {'; '.join(parts)}"
        )
    return frame[keep + list(schema.columns)]


def _load_table(
    path: Path, id_column: str | None, time_column: str | None, label_column: str | None, schema: Schema | None
) -> Dataset:
    frame = read_frame(path)
    _column(frame, label_column, "label column", path)
    if id_column is None:
        if time_column is not None:
            raise DataError(f"a time column applies to long tables: name the id column of {path} too")
        return _build({"all": _wide(frame, label_column, path)}, str(path), schema)
    _column(frame, id_column, "id column", path)
    _column(frame, time_column, "time column", path)
    keep = [c for c in (id_column, time_column, label_column) if c is not None]
    frame = _match_channels(frame, keep, schema, path)
    data, channels = _long(frame, id_column, time_column, label_column, path)
    return _build({"all": data}, str(path), schema, columns=channels)


def load_series(
    spec: str | Path,
    *,
    id_column: str | None = None,
    time_column: str | None = None,
    label_column: str | None = None,
    schema: Schema | None = None,
) -> Dataset:
    """Time series (module docstring) as float32 ``(N, T, D)``, NaN-padded at the end: ``ucr:Name``, a ``.ts``
    file, or a ``.csv``/``.tsv``/``.parquet`` table (wide, or long when ``id_column`` is given).

    ``schema`` (a trained model's, kind "series") fixes D and the longest T (shorter series are padded to it)."""
    text = str(spec).strip()
    _check_kind(text, schema)
    if text.lower().startswith(UCR_PREFIX):
        if id_column or time_column or label_column:
            raise DataError("id, time and label columns apply to tables, not to the UCR/UEA datasets")
        return load_ucr(text, schema=schema)
    path = Path(spec)
    suffix = path.suffix.lower()
    if suffix not in SERIES_SUFFIXES:
        raise DataError(
            f"{path} is not a time series file: expected ucr:Name, a .ts file or a .csv/.tsv/.parquet table"
        )
    if not path.is_file():
        raise DataError(f"no such file: {path}")
    if suffix == TS_SUFFIX:
        if id_column or time_column or label_column:
            raise DataError(f"id, time and label columns apply to tables, not to the .ts file {path}")
        return _load_ts(path, schema)
    return _load_table(path, id_column, time_column, label_column, schema)
