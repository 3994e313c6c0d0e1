"""Image arrays between shapes: channel conversion and resizing of (N, C, H, W) float32 pixels in [0, 1]."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..errors import DataError

_LUMA = (0.299, 0.587, 0.114)  # Pillow's "L" conversion (ITU-R 601-2)


def conform_images(x: np.ndarray, *, channels: int | None, size: tuple[int, int] | None) -> np.ndarray:
    """``(N, C, H, W)`` float32 in [0, 1] -> ``(N, channels, *size)``.

    Channels convert like Pillow's "L" / "RGB" modes (1 -> 3 repeats the gray value; 3 -> 1 takes the
    luminance); ``size`` (H, W) is reached by Pillow's bilinear resize. ``None`` keeps that property.
    """
    if channels not in (None, 1, 3) or x.shape[1] not in (1, 3):
        raise DataError(f"cannot convert {x.shape[1]}-channel images to {channels} channels")
    if channels == 1 and x.shape[1] == 3:
        x = (_LUMA[0] * x[:, 0] + _LUMA[1] * x[:, 1] + _LUMA[2] * x[:, 2])[:, None].astype(np.float32)
    if size is not None and tuple(x.shape[2:]) != tuple(size):
        x = _resize(x, size)
    if channels == 3 and x.shape[1] == 1:  # after resizing: one plane to resize instead of three
        x = np.repeat(x, 3, axis=1)
    return x


def _resize(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear (Pillow) resize of every plane of ``(N, C, H, W)`` to ``size`` = (H, W)."""
    h, w = size
    out = np.empty((x.shape[0], x.shape[1], h, w), dtype=np.float32)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            plane = Image.fromarray(np.ascontiguousarray(x[n, c], dtype=np.float32))
            out[n, c] = np.asarray(plane.resize((w, h), Image.Resampling.BILINEAR))
    return np.clip(out, 0.0, 1.0, out=out)
