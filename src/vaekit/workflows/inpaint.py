"""``vaekit inpaint`` and ``vaekit denoise`` on a run folder: read the input image(s) and mask, fill or clean them
with :mod:`vaekit.inference.inpaint` (the mask convention and the algorithms are described there), write the
result.

Inputs: a PNG/JPEG (one image, converted to the model's channels) or a .npy of one image (H, W) / (C, H, W) or a
batch (N, H, W) / (N, C, H, W), uint8 (0..255) or float in [0, 1]. Images must have the model's height and
width: they are not resized, since a mask has to line up pixel for pixel.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.arrays import read_npy_safely
from ..data.convert import as_batch
from ..data.images import IMAGE_SUFFIXES, decode_image
from ..errors import DataError, VaekitError
from ..inference.inpaint import IW_SAMPLES, REFINE, denoise, inpaint, require_images
from ..vae import VAE, load_model
from .outputs import ARRAY_EXT, IMAGE_EXT, check_out, grid, save_array, save_image


# -- files ---------------------------------------------------------------------------------------------------
def read_input(path: str | Path, model: VAE, allow_nan: bool) -> tuple[torch.Tensor, tuple[int, ...]]:
    """An image file or .npy as (N, C, H, W) float32 in [0, 1], and the shape to give a .npy output."""
    path = Path(path)
    require_images(model, "inpainting and denoising")
    c, h, w = (int(s) for s in model.schema.shape)
    if not path.is_file():
        raise DataError(f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        x = torch.from_numpy(decode_image(path, c == 1, None))
        if tuple(x.shape[1:]) != (h, w):
            raise DataError(
                f"{path} is {x.shape[2]}×{x.shape[1]} pixels, the model takes {w}×{h}: resize the image (and its mask)"
            )
        return x[None], (c, h, w)
    if suffix != ".npy":
        raise DataError(f"unsupported input {path}: expected a .png/.jpg image or a .npy array")
    arr = _load_npy(path)
    if arr.dtype.kind not in "uif" and arr.dtype != np.bool_:
        raise DataError(f"{path} holds {arr.dtype} values, expected numbers")
    if arr.dtype.kind == "f" and (np.isinf(arr).any() or (not allow_nan and np.isnan(arr).any())):
        raise DataError(f"{path} contains {'NaN or ' if not allow_nan else ''}infinite values")
    if arr.dtype.kind in "ui" and arr.dtype != np.uint8:
        arr = arr.astype(np.float32)
    try:
        x = as_batch(arr, model.schema, allow_missing=allow_nan)
    except DataError as e:
        raise DataError(f"{path}: {e} (the model's images are {c}×{h}×{w})") from None
    return x, tuple(arr.shape)


@dataclass
class Filled:
    """What ``vaekit inpaint`` did: images, pixels filled of all pixels, the lowest effective sample size."""

    n: int
    filled: int
    pixels: int
    ess_min: float


@dataclass
class Denoised:
    """What ``vaekit denoise`` did: images, and the run's --corrupt spec (None: a plain reconstruction)."""

    n: int
    corrupt: str | None


def read_mask(path: str | Path) -> np.ndarray:
    """A mask file: PNG/JPEG (gray value >= 128 = fill) or .npy (nonzero = fill)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such mask file: {path}")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return decode_image(path, True, None)[0] >= 0.5
    if path.suffix.lower() != ".npy":
        raise DataError(f"unsupported mask {path}: expected a .png image or a .npy array")
    return _load_npy(path)


def _load_npy(path: Path) -> np.ndarray:
    """A .npy array, its header checked against the file before anything is allocated (empty arrays refused)."""
    return read_npy_safely(path)


def _write(x: torch.Tensor, draws: torch.Tensor | None, out: Path, npy_shape: tuple[int, ...]) -> None:
    """PNG: one image alone at its size; a batch as a grid; with draws one row per input (mean, then draws).
    .npy: the input's shape (with draws: (M, *that shape), the draws only)."""
    if out.suffix.lower() in ARRAY_EXT:
        save_array(x.reshape(npy_shape) if draws is None else draws.reshape(len(draws), *npy_shape), out)
    elif draws is None and len(x) == 1:
        save_image(grid(x, 1, pad=0), out, upscale=1)
    elif draws is None:
        save_image(grid(x, round(len(x) ** 0.5 + 0.49)), out)
    else:
        rows = torch.cat([x[:, None], draws.transpose(0, 1)], 1)  # (N, 1 + M, C, H, W)
        save_image(grid(rows.flatten(0, 1), rows.shape[1]), out)


def inpaint_run(  # noqa: PLR0913
    run: str | Path,
    input: str | Path,
    mask: str | Path | None,
    out: str | Path,
    *,
    draws: int = 0,
    k: int = IW_SAMPLES,
    refine: int = REFINE,
    seed: int = 0,
    overwrite: bool = False,
) -> Filled:
    """``vaekit inpaint``: read, fill, write atomically. Returns a summary (images, pixels filled, ESS)."""
    out = check_out(out, IMAGE_EXT | ARRAY_EXT, "the inpainted images", overwrite=overwrite)
    if draws < 0 or k < 1 or refine < 0:
        raise VaekitError("--draws and --refine must be >= 0 and --iw-samples >= 1")
    model = load_model(run)
    x, npy_shape = read_input(input, model, allow_nan=True)
    if mask is None and not torch.isnan(x).any():
        raise VaekitError("nothing to fill: pass --mask (white / nonzero = a pixel to fill) or NaN pixels in a .npy")
    holes = read_mask(mask) if mask is not None else None
    r = inpaint(model, x, holes, draws=draws, k=k, refine=refine, seed=seed)
    _write(r.mean, r.draws, out, npy_shape)
    return Filled(len(x), int((~r.mask).sum()), r.mask.numel(), float(r.ess.min()))


def denoise_run(
    run: str | Path, input: str | Path, out: str | Path, *, samples: int = 0, seed: int = 0, overwrite: bool = False
) -> Denoised:
    """``vaekit denoise``: the model's reconstruction of noisy images, written atomically."""
    out = check_out(out, IMAGE_EXT | ARRAY_EXT, "the denoised images", overwrite=overwrite)
    if samples < 0:
        raise VaekitError("--samples must be >= 0")
    model = load_model(run)
    x, npy_shape = read_input(input, model, allow_nan=False)
    _write(denoise(model, x, samples=samples, seed=seed), None, out, npy_shape)
    corrupt = model.record.corrupt
    return Denoised(len(x), corrupt)
