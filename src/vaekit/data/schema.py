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

Kind = Literal["image", "table", "vector", "sequence"]


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
        return asdict(self)

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
        )


@dataclass
class Dataset:
    """Loaded data: named splits of float32 tensors in data units, optional integer labels, and a schema."""

    splits: dict[str, torch.Tensor]  # e.g. {"train": (N, C, H, W), "test": ...} or {"all": (N, D)}
    schema: Schema
    labels: dict[str, torch.Tensor] = field(default_factory=dict)  # split -> (N,) int64, when known

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
        return bool(x.numel() > 0 and x.min() >= 0 and x.max() <= 1)
