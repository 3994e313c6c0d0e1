"""Turn what a user hands the model (numpy, uint8 images, one sample, a DataFrame) into a batch tensor."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import DataError
from .schema import Schema


def as_batch(
    x: Any, schema: Schema, device: torch.device | str = "cpu", allow_missing: bool | None = None
) -> torch.Tensor:
    """A float32 batch (N, *schema.shape) in data units from an array, tensor or DataFrame.

    Accepts one sample (``schema.shape``) or a batch; uint8 images are scaled to [0, 1]; (N, H, W) is read as
    single-channel images; DataFrame columns are matched to the schema by name (categorical columns become the
    index of their category). NaN (a missing value) is refused unless ``allow_missing`` (default: allowed for
    tables, whose models read missing values); infinite values always are.
    """
    if schema.kind == "sequence":
        return _token_batch(x, schema, device)
    if allow_missing is None:
        allow_missing = schema.kind == "table"
    if hasattr(x, "columns") and hasattr(x, "to_numpy"):  # pandas DataFrame
        x = _frame_to_array(x, schema)
    t = torch.as_tensor(np.asarray(x)) if not isinstance(x, torch.Tensor) else x
    if schema.kind == "image" and t.dtype == torch.uint8:
        t = t.float() / 255.0
    t = t.to(device=device, dtype=torch.float32)
    shape = tuple(schema.shape)
    if tuple(t.shape) == shape:
        t = t.unsqueeze(0)
    elif schema.kind == "image" and shape[0] == 1 and tuple(t.shape[-2:]) == shape[1:] and t.dim() in (2, 3):
        t = t.reshape(-1, *shape)
    if tuple(t.shape[1:]) != shape:
        raise DataError(f"input has shape {tuple(t.shape)}, expected (N, {', '.join(map(str, shape))})")
    _check_finite(t, allow_missing)
    return t


def _check_finite(t: torch.Tensor, allow_missing: bool) -> None:
    """DataError for infinite values, and for NaN (a missing value) unless ``allow_missing``."""
    if allow_missing:
        if torch.isinf(t).any():
            raise DataError("input contains infinite values: use NaN for a missing value")
    elif not torch.isfinite(t).all():
        raise DataError("input contains NaN or infinite values")


def _frame_to_array(frame: Any, schema: Schema) -> np.ndarray:
    if schema.columns is None:
        return frame.to_numpy(dtype=np.float32, copy=True)  # pandas 3 hands out read-only arrays otherwise
    from .tables import frame_values  # tables imports arrays, which imports nothing from here

    return frame_values(frame.rename(columns=str), schema, "DataFrame")


def _token_batch(x: Any, schema: Schema, device: torch.device | str) -> torch.Tensor:
    """An int64 batch (N, L) of token ids for a sequence model (one row (L,) is a batch of one)."""
    t = torch.as_tensor(np.asarray(x)) if not isinstance(x, torch.Tensor) else x
    if t.is_floating_point():
        if not torch.isfinite(t).all() or bool((t != t.round()).any()):
            raise DataError("token ids must be whole numbers")
    elif t.dtype == torch.bool or t.is_complex():
        raise DataError(f"token ids must be integers, got {t.dtype}")
    t = t.to(device=device, dtype=torch.int64)
    if t.dim() == 1:
        t = t.unsqueeze(0)
    length = schema.shape[0]
    if t.dim() != 2 or t.shape[1] != length:
        raise DataError(f"input has shape {tuple(t.shape)}, expected token ids (N, {length})")
    size = len((schema.vocabulary or {}).get("tokens", ()))
    if size and (bool((t < 0).any()) or bool((t >= size).any())):
        raise DataError(f"token ids must lie in 0..{size - 1} (the model's vocabulary)")
    return t
