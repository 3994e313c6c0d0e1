"""What a model was trained on: the per-sample shape and feature description stored in the bundle.

Data always reaches the model as float32 tensors in *data units*: images scaled to [0, 1] with shape
(N, C, H, W); tables as raw numeric values with shape (N, D) (standardization lives inside the model, so the
statistics are saved with the weights and re-applied at inference). In a table a categorical column holds the
index of its category (``Schema.categories``) and NaN marks a missing value.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch

Kind = Literal["image", "table", "vector", "sequence", "video", "series"]
AttributeType = Literal["categorical", "numeric"]


@dataclass(frozen=True)
class Attributes:
    """Named per-sample attributes: labels, known factors (shapes), properties, table columns a model conditions on.

    A value of a categorical attribute is the index of its name in ``categories[name]``; a numeric one is a number.
    Stored row by row as float32 (N, len(names)) in ``Dataset.attributes``; a model's ``Schema.condition``."""

    names: tuple[str, ...]
    types: tuple[AttributeType, ...]  # one per name
    categories: dict[str, tuple[str, ...]] = field(default_factory=dict)  # categorical names -> category names

    def __post_init__(self) -> None:
        if len(self.types) != len(self.names):
            raise ValueError("attributes need one type per name")

    @property
    def width(self) -> int:
        """Features of the encoded condition: a one-hot block per categorical attribute, one value per numeric."""
        pairs = zip(self.names, self.types, strict=True)
        return sum(len(self.categories[n]) if t == "categorical" else 1 for n, t in pairs)

    def select(self, names: tuple[str, ...] | list[str]) -> tuple[Attributes, list[int]]:
        """The attributes ``names`` (in that order) and their column indices; ValueError naming the known ones."""
        unknown = [n for n in names if n not in self.names]
        if unknown:
            raise ValueError(f"unknown attribute {unknown[0]!r}: the data has {', '.join(self.names)}")
        idx = [self.names.index(n) for n in names]
        cats = {n: self.categories[n] for n in names if n in self.categories}
        return Attributes(tuple(names), tuple(self.types[i] for i in idx), cats), idx

    def to_dict(self) -> dict[str, Any]:
        return {"names": list(self.names), "types": list(self.types),
                "categories": {k: list(v) for k, v in self.categories.items()}}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Attributes:
        cats = {str(k): tuple(str(c) for c in v) for k, v in (d.get("categories") or {}).items()}
        return cls(tuple(d["names"]), tuple(d["types"]), cats)


@dataclass(frozen=True)
class Schema:
    # "image": (C, H, W) in [0, 1]; "table": named numeric columns; "vector": unnamed features; "sequence": (L,)
    # token ids <bos> ... <eos> <pad> ... of ``vocabulary``
    kind: Kind
    shape: tuple[int, ...]  # per-sample shape, without the batch dimension
    columns: tuple[str, ...] | None = None  # table column names, in model order
    label_names: tuple[str, ...] | None = None  # class names when labels are categorical (folder names)
    source: str = ""  # where the training data came from (for humans)
    # tables: "numeric" or "categorical" per column (None: all numeric, as in bundles written before types)
    column_types: tuple[str, ...] | None = None
    # tables: each categorical column's category names; a value in the data is the index of its name
    categories: dict[str, tuple[str, ...]] | None = None
    # sequences (molecules): the token vocabulary, ``vaekit.molecules.Vocabulary.to_dict()``; rows hold token ids
    vocabulary: dict[str, Any] | None = None
    # a conditional model: what it conditions on, p(x|z, y) (None: unconditional, as every bundle before it)
    condition: Attributes | None = None

    @property
    def cardinalities(self) -> tuple[int, ...]:
        """Per column: the number of categories of a categorical column, 0 for a numeric one."""
        cats = self.categories or {}
        if self.columns is None or self.column_types is None:
            return (0,) * self.size
        return tuple(
            len(cats[c]) if t == "categorical" else 0 for c, t in zip(self.columns, self.column_types, strict=True)
        )

    @property
    def has_categorical(self) -> bool:
        """True when some column is categorical."""
        return any(self.cardinalities)

    @property
    def size(self) -> int:
        """Number of scalar features per sample."""
        n = 1
        for s in self.shape:
            n *= s
        return n

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["condition"] = self.condition.to_dict() if self.condition is not None else None
        if self.condition is None:
            del d["condition"]  # bundles of unconditional models stay as before
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Schema:
        return cls(
            kind=d["kind"],
            shape=tuple(d["shape"]),
            columns=tuple(d["columns"]) if d.get("columns") is not None else None,
            label_names=tuple(d["label_names"]) if d.get("label_names") is not None else None,
            source=d.get("source", ""),
            column_types=tuple(d["column_types"]) if d.get("column_types") is not None else None,
            categories={str(k): tuple(v) for k, v in d["categories"].items()} if d.get("categories") else None,
            vocabulary=d.get("vocabulary"),
            condition=Attributes.from_dict(d["condition"]) if d.get("condition") else None,
        )


@dataclass
class Dataset:
    """Loaded data: named splits of float32 tensors in data units, optional integer labels, and a schema."""

    # e.g. {"train": (N, C, H, W), "test": ...} or {"all": (N, D)}; data larger than memory: vaekit.data.streaming.Rows
    splits: dict[str, torch.Tensor]
    schema: Schema
    labels: dict[str, torch.Tensor] = field(default_factory=dict)  # split -> (N,) int64, when known
    # named attributes per sample (factors, per-file attributes): split -> (N, K) float32, described by attribute_info
    attributes: dict[str, torch.Tensor] = field(default_factory=dict)
    attribute_info: Attributes | None = None

    @property
    def train_split(self) -> str:
        """The split a model trains on: "train" when the data has a published split, else "all"."""
        return "train" if "train" in self.splits else "all"

    @property
    def binary_like(self) -> bool:
        """True when every value lies in [0, 1] (images always do): a Bernoulli likelihood fits."""
        if self.schema.kind == "image":
            return True
        x = self.splits[self.train_split]
        if hasattr(x, "value_range"):  # rows read from disk (vaekit.data.streaming): one pass
            lo, hi = x.value_range()
            return lo >= 0 and hi <= 1
        return bool(x.numel() > 0 and x.min() >= 0 and x.max() <= 1)
