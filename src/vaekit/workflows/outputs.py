"""Writing what tasks produce: image grids (PNG), animations (GIF), arrays (.npy) and tables (.csv).

Every file is written atomically; the extension picks the format and a wrong one is a one-line error.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .._io import atomic_write
from ..data.schema import Schema
from ..errors import VaekitError

IMAGE_EXT, ARRAY_EXT, TABLE_EXT, GIF_EXT = {".png", ".jpg", ".jpeg"}, {".npy"}, {".csv"}, {".gif"}


def check_out(path: str | Path, allowed: set[str], what: str, *, overwrite: bool = False) -> Path:
    """Refuse, before any work is done, an output path with an extension this command cannot write, a folder,
    and a file that already exists unless ``overwrite`` (the one rule: a file you name is never replaced
    without --overwrite)."""
    path = Path(path)
    if path.suffix.lower() not in allowed:
        raise VaekitError(f"cannot write {what} to '{path}': expected a file ending in {', '.join(sorted(allowed))}")
    if path.is_dir():
        raise VaekitError(f"--out {path} is a folder, expected a file name")
    if path.exists() and not overwrite:
        raise VaekitError(f"{path} already exists: choose another --out, or pass --overwrite to replace it")
    return path


def to_uint8_images(x: torch.Tensor) -> np.ndarray:
    """(N, C, H, W) in [0, 1] -> (N, H, W, C) uint8."""
    return (x.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def grid(x: torch.Tensor, ncol: int, pad: int = 2) -> Image.Image:
    """Tile images (N, C, H, W) into rows of ``ncol`` with a white border."""
    imgs = to_uint8_images(x)
    n, h, w, c = imgs.shape
    ncol = max(1, min(ncol, n))
    nrow = math.ceil(n / ncol)
    canvas = np.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad, c), 255, dtype=np.uint8)
    for i, img in enumerate(imgs):
        r, q = divmod(i, ncol)
        canvas[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + q * (w + pad) : pad + q * (w + pad) + w] = img
    return Image.fromarray(canvas[..., 0] if c == 1 else canvas, mode="L" if c == 1 else "RGB")


def save_image(img: Image.Image, path: Path, upscale: int | None = None) -> None:
    if upscale is None:  # small images (MNIST) are enlarged so they are comfortable to look at
        upscale = max(1, min(4, 800 // max(img.size)))
    if upscale > 1:
        img = img.resize((img.width * upscale, img.height * upscale), Image.Resampling.NEAREST)
    fmt = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG"
    atomic_write(path, lambda p: img.save(p, format=fmt))


def save_gif(frames: torch.Tensor, path: Path, ms_per_frame: int = 120) -> None:
    """Frames (T, C, H, W) -> an animated, looping GIF that plays forward then back."""
    images = [grid(f[None], 1, pad=0) for f in frames]
    images = [i.resize((i.width * 4, i.height * 4), Image.Resampling.NEAREST) for i in images]
    images = images + images[-2:0:-1]
    atomic_write(
        path,
        lambda p: images[0].save(
            p, format="GIF", save_all=True, append_images=images[1:], duration=ms_per_frame, loop=0
        ),
    )


def save_array(
    x: torch.Tensor | np.ndarray,
    path: Path,
    schema: Schema | None = None,
    labels: np.ndarray | None = None,
    prefix: str = "x",
    column_names: list[str] | None = None,
    condition: np.ndarray | None = None,
) -> None:
    """(N, ...) values to .npy (shape kept) or .csv (one row per sample; table columns keep their names and
    categorical columns hold category names; in .npy they hold the category's index). ``condition`` (N, K): a
    conditional table model's condition values, written as its columns after the others in a .csv."""
    arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if path.suffix.lower() == ".npy":

        def write_npy(p: Path) -> None:
            with open(p, "wb") as f:  # a file object: np.save would append ".npy" to the temp name
                np.save(f, arr, allow_pickle=False)

        atomic_write(path, write_npy)
        return
    import pandas as pd

    flat = arr.reshape(len(arr), -1)
    tabular = schema is not None and (schema.has_categorical or (condition is not None and schema.kind == "table"))
    if column_names is None and tabular and flat.shape[1] == schema.size:
        from ..data.tables import frame_with_condition  # category indices back to category names

        frame = frame_with_condition(flat.astype(np.float64), schema, condition)
        if labels is not None:
            frame.insert(0, "label", labels)
        atomic_write(path, lambda p: frame.to_csv(p, index=False))
        return
    if column_names is not None:
        columns = column_names
    elif schema is not None and schema.columns is not None and flat.shape[1] == len(schema.columns):
        columns = list(schema.columns)
    else:
        columns = [f"{prefix}{i}" for i in range(flat.shape[1])]
    frame = pd.DataFrame(flat, columns=columns)
    if labels is not None:
        frame.insert(0, "label", labels)
    atomic_write(path, lambda p: frame.to_csv(p, index=False))
