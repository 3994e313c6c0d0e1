"""Conditions: the named attributes a conditional model reads (p(x|z, y)), taken from a Dataset, and what users
hand the model as a condition turned into values.

Where attributes come from: a loader's own (the factors of ``shapes``, per-file attributes of an image folder),
``label`` for data with labels (MNIST digits, an image folder's class subfolders), and for tables any of their
columns: a table model conditioned on ``diagnosis`` models the other columns given it, so the column leaves x.
A condition value is, per attribute, the index of a category (categorical) or a number (numeric).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from ..errors import DataError
from .schema import Attributes, Dataset, Schema

LABEL = "label"


def condition_rows(y: torch.Tensor | None, start: int, size: int) -> torch.Tensor | None:
    """The condition values of rows start..start+size, for work done in batches (None stays None: an
    unconditional model)."""
    return None if y is None else y[start : start + size]


def parse_names(names: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """``"label"`` / ``"smiling,young"`` / a list -> a tuple of distinct names (empty: no condition)."""
    if names is None:
        return ()
    parts = names.split(",") if isinstance(names, str) else list(names)
    out = tuple(str(p).strip() for p in parts if str(p).strip())
    dup = sorted({n for n in out if out.count(n) > 1})
    if dup:
        raise DataError(f"condition names must be distinct, {dup[0]!r} is repeated")
    return out


def _label_attribute(dataset: Dataset) -> tuple[Attributes, dict[str, torch.Tensor]] | None:
    if not dataset.labels:
        return None
    names = dataset.schema.label_names
    if names is None:
        top = max((int(t.max()) for t in dataset.labels.values() if len(t)), default=0)
        names = tuple(str(i) for i in range(top + 1))
    info = Attributes((LABEL,), ("categorical",), {LABEL: tuple(names)})
    return info, {s: t.to(torch.float32)[:, None] for s, t in dataset.labels.items()}


def available(dataset: Dataset) -> tuple[Attributes | None, dict[str, torch.Tensor]]:
    """Every named attribute of ``dataset`` besides its table columns: the loader's, then ``label``."""
    info, values = dataset.attribute_info, dict(dataset.attributes)
    label = _label_attribute(dataset)
    if label is not None and (info is None or LABEL not in info.names):
        if info is None:
            return label
        cats = {**info.categories, **label[0].categories}
        info = Attributes((*info.names, LABEL), (*info.types, "categorical"), cats)
        values = {s: torch.cat([values[s], label[1][s]], 1) for s in values if s in label[1]}
    return info, values


def _table_part(dataset: Dataset, names: tuple[str, ...]) -> Dataset:
    """A table without the columns ``names``, which become attributes (with their types and categories)."""
    schema = dataset.schema
    columns = list(schema.columns or ())
    idx = [columns.index(n) for n in names]
    keep = [j for j in range(len(columns)) if j not in idx]
    if not keep:
        raise DataError("a table model needs at least one column besides the ones it is conditioned on")
    types = schema.column_types or ("numeric",) * len(columns)
    cats = schema.categories or {}
    info = Attributes(names, tuple(types[j] for j in idx), {n: cats[n] for n in names if n in cats})
    kept_types = tuple(types[j] for j in keep)
    kept_cats = {c: v for c, v in cats.items() if c not in names}
    new_schema = dataclasses.replace(
        schema,
        shape=(len(keep),),
        columns=tuple(columns[j] for j in keep),
        column_types=kept_types if schema.column_types is not None else None,
        categories=kept_cats or None,
    )
    values = {s: x[:, idx] for s, x in dataset.splits.items()}
    for v in values.values():
        if torch.isnan(v).any():
            bad = names[int(torch.isnan(v).any(0).nonzero()[0])]
            raise DataError(f"the condition column {bad!r} has missing values: every row needs its condition")
    splits = {s: x[:, keep] for s, x in dataset.splits.items()}
    return dataclasses.replace(dataset, splits=splits, schema=new_schema, attributes=values, attribute_info=info)


def with_condition(dataset: Dataset, names: tuple[str, ...] | list[str], known: Attributes | None = None) -> Dataset:
    """``dataset`` for a model conditioned on ``names``: ``schema.condition`` set, ``attributes`` holding exactly
    the condition values (N, len(names)) per split. Table columns named leave x. ``known`` (a trained model's
    condition): category indices are mapped to its categories, and types must agree."""
    names = tuple(names)
    columns = set(dataset.schema.columns or ()) if dataset.schema.kind == "table" else set()
    in_table = [n for n in names if n in columns]
    if in_table and len(in_table) != len(names):
        raise DataError("a table model is conditioned on its own columns only: "
                        f"{', '.join(n for n in names if n not in columns)} is not a column")  # fmt: skip
    if dataset.schema.kind == "table" and not in_table and dataset.attribute_info is None and not dataset.labels:
        shown = ", ".join(sorted(columns))
        raise DataError(f"unknown column {names[0]!r}: the table has {shown}")
    if in_table:
        part = _table_part(dataset, names)
        info, values = part.attribute_info, part.attributes
    else:
        part = dataset
        info, values = available(dataset)
        if info is None:
            what = "columns" if dataset.schema.kind == "table" else "labels or attributes"
            raise DataError(f"the data has no {what} to condition on (asked for {', '.join(names)})")
        try:
            info, idx = info.select(names)
        except ValueError as e:
            extra = f"; columns: {', '.join(sorted(columns))}" if columns else ""
            raise DataError(f"{e}{extra}") from None
        values = {s: v[:, idx] for s, v in values.items()}
    if known is not None:
        values = {s: _conform(v, info, known) for s, v in values.items()}
        info = known
    schema = dataclasses.replace(part.schema, condition=info)
    return dataclasses.replace(part, schema=schema, attributes=values, attribute_info=info)


def _conform(values: torch.Tensor, info: Attributes, known: Attributes) -> torch.Tensor:
    """Values described by ``info`` re-expressed in ``known``'s categories (same names, same types)."""
    out = values.clone()
    for j, (name, kind) in enumerate(zip(known.names, known.types, strict=True)):
        if info.types[j] != kind:
            raise DataError(f"the data's {name!r} is {info.types[j]}, the model's is {kind}")
        if kind != "categorical":
            continue
        mine, theirs = info.categories[name], known.categories[name]
        lookup = {c: i for i, c in enumerate(theirs)}
        unknown = [c for c in mine if c not in lookup]
        used = {mine[int(v)] for v in values[:, j].unique().tolist()}
        if unknown and used & set(unknown):
            bad = sorted(used & set(unknown))[0]
            raise DataError(f"{name}={bad} is not known to the model: it knows {', '.join(theirs)}")
        table = torch.tensor([lookup.get(c, -1) for c in mine], dtype=torch.float32)
        out[:, j] = table[values[:, j].long()]
    return out


def full_table_schema(schema: Schema) -> Schema:
    """A conditional table model's schema with its condition columns back among the columns (to read a table
    that has them all); the schema itself for any other model."""
    cond = schema.condition
    if cond is None or schema.kind != "table":
        return schema
    types = tuple(schema.column_types or ("numeric",) * schema.shape[0]) + cond.types
    categories = {**(schema.categories or {}), **cond.categories}
    return dataclasses.replace(
        schema,
        shape=(schema.shape[0] + len(cond.names),),
        columns=tuple(schema.columns or ()) + cond.names,
        column_types=types if any(t == "categorical" for t in types) or schema.column_types else None,
        categories=categories or None,
        condition=None,
    )


def condition_values(condition: Any, info: Attributes, n: int | None = None) -> torch.Tensor:
    """What a user passes as a condition -> float32 values (N, K) in ``info``'s order.

    Accepted: a mapping name -> one value (repeated ``n`` times) or a sequence of values; a DataFrame with those
    columns; an array (N, K) of values (category indices). Category names are matched as the tables module names
    them (7 and "7" are both the category "7"). One clear line for an unknown or missing name or value."""
    if hasattr(condition, "columns") and hasattr(condition, "to_dict"):  # a DataFrame
        condition = {str(c): condition[c].tolist() for c in condition.columns}
    if isinstance(condition, Mapping):
        return _from_mapping(condition, info, n)
    t = torch.as_tensor(np.asarray(condition, dtype=np.float32))
    if t.dim() == 1 and len(info.names) == 1 and n is None:
        t = t[:, None]
    elif t.dim() == 1 and t.shape[0] == len(info.names):
        t = t[None].expand(n or 1, -1)
    if t.dim() != 2 or t.shape[1] != len(info.names):
        raise DataError(f"a condition array must be (N, {len(info.names)}) values of {', '.join(info.names)}")
    _check_indices(t, info)
    return t.contiguous()


def _from_mapping(condition: Mapping, info: Attributes, n: int | None) -> torch.Tensor:
    given = {str(k) for k in condition}
    unknown = sorted(given - set(info.names))
    if unknown:
        raise DataError(f"unknown condition {unknown[0]!r}: the model is conditioned on {', '.join(info.names)}")
    missing = [k for k in info.names if k not in given]
    if missing:
        raise DataError(f"the model is conditioned on {', '.join(info.names)}: give {', '.join(missing)} as well")
    cols = []
    lengths = set()
    for name, kind in zip(info.names, info.types, strict=True):
        raw = condition[name]
        many = isinstance(raw, list | tuple | np.ndarray | torch.Tensor)
        seq = list(raw.tolist() if hasattr(raw, "tolist") else raw) if many else [raw]
        if many:
            lengths.add(len(seq))
        cols.append([_value(v, name, kind, info) for v in seq])
    if len(lengths) > 1:
        raise DataError("condition value lists must all have the same length")
    rows = lengths.pop() if lengths else (n or 1)
    if n is not None and lengths and rows != n:
        raise DataError(f"the condition lists {rows} values, expected {n} (one per sample) or a single value")
    return torch.tensor([[c[i] if len(c) > 1 else c[0] for c in cols] for i in range(rows)], dtype=torch.float32)


def _value(v: Any, name: str, kind: str, info: Attributes) -> float:
    if kind == "categorical":
        from .tables import category_key

        key = v if isinstance(v, str) else category_key(v)
        cats = info.categories[name]
        if key not in cats:
            shown = ", ".join(cats[:20]) + (", ..." if len(cats) > 20 else "")
            raise DataError(f"{name}={key} is not known to the model: it knows {shown}")
        return float(cats.index(key))
    try:
        out = float(v)
    except (TypeError, ValueError):
        raise DataError(f"{name} is numeric: expected a number, got {v!r}") from None
    if not np.isfinite(out):
        raise DataError(f"{name} must be a finite number, got {v!r}")
    return out


def _check_indices(t: torch.Tensor, info: Attributes) -> None:
    if not torch.isfinite(t).all():
        raise DataError("condition values must be finite numbers")
    for j, (name, kind) in enumerate(zip(info.names, info.types, strict=True)):
        if kind == "categorical":
            k = len(info.categories[name])
            col = t[:, j]
            if bool(((col < 0) | (col >= k) | (col != col.round())).any()):
                shown = ", ".join(info.categories[name][:10])
                raise DataError(f"{name} values must be category indices 0..{k - 1} ({shown})")


def parse_assignments(text: str) -> dict[str, str]:
    """``"label=7"`` / ``"city=Berlin,age=40"`` -> {"label": "7", ...} (values stay text; the model types them)."""
    out: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if "=" not in part:
            raise DataError(f"--condition expects NAME=VALUE pairs separated by commas (label=7), got {part!r}")
        name, value = (s.strip() for s in part.split("=", 1))
        if not name or name in out:
            raise DataError(f"--condition: empty or repeated name in {text!r}")
        out[name] = value
    if not out:
        raise DataError("--condition expects NAME=VALUE pairs (label=7, or city=Berlin,age=40)")
    return out
