"""Attribute vectors (White, 2016, "Sampling Generative Networks"): the direction in latent space from the mean
code of inputs without an attribute to the mean code of inputs with it. Adding a multiple of it to a code and
decoding adds (or, negative, removes) the attribute: ``VAE.edit``.

Which inputs count as "with" depends on the attribute (``Attributes`` types):

* binary (numeric with values in {0, 1}, or categorical with two categories): 1 (the second category) minus 0;
* numeric with more values: the least-squares change of the mean code per standard deviation of the attribute
  (``"split": "slope"``, with its ``"mean"`` and ``"sd"``): amount 1 moves an input one standard deviation up, so
  amounts read the same for any attribute's units (for a 0/1 attribute the same slope per unit is the difference
  of the two means above). Attribute files of earlier releases hold ``"split": "median"`` vectors (above the
  median minus at or below it); they keep loading and editing;
* categorical with more than two categories: one vector per category, ``"name=category"``: that category minus
  the rest (a category no input has gets none).

Inputs whose value is missing (NaN) are left out of that attribute. Codes are posterior means (N, D); values
(N, K) hold category indices and numbers as ``Dataset.attributes`` does. Tensors in, tensors and plain dicts out.
"""

from __future__ import annotations

from typing import Any

import torch

from ..data.schema import Attributes
from ..errors import DataError

MIN_SIDE = 2  # inputs needed on each side of an attribute for its mean to mean anything
BINARY, SLOPE, CATEGORY = "binary", "slope", "category"  # how the inputs were split (an entry's "split")


def attribute_vectors(codes: torch.Tensor, values: torch.Tensor, info: Attributes) -> dict[str, dict[str, Any]]:
    """Name -> entry for every attribute of ``info`` (a categorical one with more than two categories gives one
    entry per category, "name=category"). An entry: ``vector`` (D,) float32, ``positive`` / ``negative`` (inputs
    with and without), ``norm``, ``description``, ``attribute`` (the attribute it came from), ``split`` (binary,
    slope or category) and, for a slope, the attribute's ``mean`` and ``sd``. DataError for an attribute with
    fewer than 2 inputs on a side."""
    codes, values = _check(codes, values, info)
    out: dict[str, dict[str, Any]] = {}
    for j, (name, kind) in enumerate(zip(info.names, info.types, strict=True)):
        out.update(vectors_of(codes, values[:, j], name, kind, info.categories.get(name, ())))
    return out


def vectors_of(
    codes: torch.Tensor, column: torch.Tensor, name: str, kind: str, categories: tuple[str, ...] = ()
) -> dict[str, dict[str, Any]]:
    """The entries of one attribute (``column``: its value per input, NaN where missing)."""
    known = ~torch.isnan(column)
    codes, column = codes[known], column[known]
    if kind == "categorical":
        if len(categories) == 2:
            what = f"{name}: {categories[1]} minus {categories[0]}"
            return {name: _entry(codes, column == 1, name, what, BINARY, shown=f"{name}={categories[1]}")}
        return _per_category(codes, column, name, categories)
    if set(column.unique().tolist()) <= {0.0, 1.0}:
        return {name: _entry(codes, column == 1, name, f"{name}: 1 minus 0", BINARY, shown=f"{name}=1")}
    return {name: _slope(codes, column, name)}


def _slope(codes: torch.Tensor, column: torch.Tensor, name: str) -> dict[str, Any]:
    """cov(code, value) / var(value) * sd(value): the mean code's change per standard deviation of the value."""
    v = column.double()
    mean = float(v.mean()) if len(v) else 0.0
    above = v > mean
    n1, n0 = int(above.sum()), int((~above).sum())
    if n1 < MIN_SIDE or n0 < MIN_SIDE:
        raise DataError(
            f"attribute {name!r}: {n1} input(s) above its mean and {n0} at or below it; an attribute vector "
            f"needs at least {MIN_SIDE} on each side (a numeric attribute that varies)"
        )
    centred = v - mean
    sd = float(centred.square().mean().sqrt())
    c = codes.double()
    vector = ((c - c.mean(0)) * centred[:, None]).mean(0) / sd
    return {
        "vector": vector.float(),
        "positive": n1,
        "negative": n0,
        "norm": float(vector.norm()),
        "description": f"{name}: change of the mean code per standard deviation ({sd:.4g}) of {name}",
        "attribute": name,
        "split": SLOPE,
        "mean": mean,
        "sd": sd,
    }


def _per_category(
    codes: torch.Tensor, column: torch.Tensor, name: str, categories: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    out = {}
    for k, category in enumerate(categories):
        positive = column == k
        if not positive.any():
            continue
        what = f"{name}={category} minus the other {name} values"
        entry = _entry(codes, positive, name, what, CATEGORY, shown=f"{name}={category}")
        out[f"{name}={category}"] = {**entry, "category": category}
    if not out:
        raise DataError(f"attribute {name!r} has no inputs with a value: an attribute vector needs some")
    return out


def _entry(
    codes: torch.Tensor, positive: torch.Tensor, attribute: str, what: str, split: str, *, shown: str
) -> dict[str, Any]:
    """Mean code where ``positive`` minus mean code elsewhere, with its counts; ``shown`` names the side in errors."""
    n1 = int(positive.sum())
    n0 = len(positive) - n1
    if n1 < MIN_SIDE or n0 < MIN_SIDE:
        raise DataError(
            f"attribute {attribute!r}: {n1} input(s) with {shown} and {n0} without; "
            f"an attribute vector needs at least {MIN_SIDE} on each side"
        )
    c = codes.double()
    vector = (c[positive].mean(0) - c[~positive].mean(0)).float()
    return {
        "vector": vector,
        "positive": n1,
        "negative": n0,
        "norm": float(vector.norm()),
        "description": what,
        "attribute": attribute,
        "split": split,
    }


def _check(codes: Any, values: Any, info: Attributes) -> tuple[torch.Tensor, torch.Tensor]:
    """Codes (N, D) finite and values (N, K) (NaN = missing, categories as indices), or one DataError line."""
    codes = torch.as_tensor(codes).detach().cpu()
    values = torch.as_tensor(values, dtype=torch.float32).detach().cpu()
    if codes.dim() != 2 or not codes.is_floating_point():
        raise DataError(f"codes must be a float array (N, D), got shape {tuple(codes.shape)}")
    if not torch.isfinite(codes).all():
        raise DataError("codes hold NaN or infinite values")
    if values.dim() == 1 and len(info.names) == 1:
        values = values[:, None]
    if values.shape != (len(codes), len(info.names)):
        raise DataError(
            f"values have shape {tuple(values.shape)}, expected ({len(codes)}, {len(info.names)}): one row per code, "
            f"one column per attribute ({', '.join(info.names)})"
        )
    if torch.isinf(values).any():
        raise DataError("attribute values hold infinite numbers (use NaN for a missing value)")
    for j, (name, kind) in enumerate(zip(info.names, info.types, strict=True)):
        col = values[:, j][~torch.isnan(values[:, j])]
        k = len(info.categories.get(name, ()))
        if kind == "categorical" and bool(((col < 0) | (col >= k) | (col != col.round())).any()):
            raise DataError(f"{name} values must be category indices 0..{k - 1}")
    return codes, values
