"""Image inpainting and denoising with a trained image model.

Inpainting fills the pixels a mask marks, conditioned on the rest, with ``vaekit.inference.imputation.impute``
(the same machinery as missing table cells): the importance-weighted conditional mean E[x_fill | x_rest] as the single
answer, and ``draws`` alternative completions (each the decoded mean of one latent code resampled by the
importance weights). Observed pixels are returned exactly as given.

Mask convention (like common inpainting tools): **white / nonzero / True = a pixel to fill**; black / 0 / False
= keep. (``impute``'s own ``mask`` is the other way round: True = observed.) NaN pixels of a .npy input are
filled as well. A mask may be one image for all inputs — (H, W) or a PNG — one per image (N, H, W), or per
channel (N, C, H, W). A mask that marks no pixel at all is refused ("nothing to fill"); inputs of a batch whose
mask is empty are returned unchanged.

Denoising is the model's reconstruction of the noisy input: the decoded mean of q(z|x_noisy)'s mean, or with
``samples`` > 0 the average of the decoded means of that many draws from q. For a model trained with
``--corrupt`` (a denoising VAE) that is a learned denoiser; for another model, its plain reconstruction.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..data.convert import as_batch
from ..defaults import IW_SAMPLES
from ..errors import DataError
from ..models.module import VAEModule as VAE
from .imputation import Imputation, impute

REFINE = 100  # default optimization steps towards the posterior mode (large holes: +1.3 dB on MNIST halves)


# -- the library functions (``VAE.inpaint`` and ``VAE.denoise``) --------------------------------------------
def require_images(model: VAE, what: str) -> None:
    if model.schema.kind != "image":
        raise DataError(f"{what} needs a model trained on images; this one is a {model.schema.kind} model")


def _in_range(x: torch.Tensor) -> torch.Tensor:
    """x itself, after checking that its (non-NaN) values are pixels in [0, 1]."""
    finite = x[~torch.isnan(x)]
    if len(finite) and (finite.min() < 0 or finite.max() > 1):
        raise DataError("image values must lie in [0, 1] (floats) or 0..255 (uint8): clip or rescale them")
    return x


def fill_mask(mask: Any, shape: tuple[int, ...]) -> torch.Tensor:
    """The pixels to fill, (N, C, H, W) bool, from a mask of shape (H, W), (N, H, W), (C, H, W) or (N, C, H, W)
    (nonzero/True = fill)."""
    n, c, h, w = shape
    m = torch.as_tensor(np.asarray(mask.cpu() if torch.is_tensor(mask) else mask))
    if m.dtype.is_floating_point and not torch.isfinite(m).all():
        raise DataError("the mask contains NaN or infinite values")
    m = m != 0
    if m.dim() == 2 and tuple(m.shape) == (h, w):
        m = m[None, None]
    elif m.dim() == 3 and tuple(m.shape[1:]) == (h, w) and m.shape[0] in (n, c):
        m = m[:, None] if m.shape[0] == n else m[None]
    elif not (m.dim() == 4 and tuple(m.shape[2:]) == (h, w) and m.shape[0] in (1, n) and m.shape[1] in (1, c)):
        raise DataError(
            f"the mask has shape {tuple(m.shape)}, expected ({h}, {w}) for every image, ({n}, {h}, {w}) one per "
            f"image, or ({n}, {c}, {h}, {w})"
        )
    return m.expand(shape)


def inpaint(
    model: VAE,
    x: Any,
    holes: Any = None,
    *,
    draws: int = 0,
    k: int = IW_SAMPLES,
    refine: int = REFINE,
    seed: int = 0,
) -> Imputation:
    """Fill the pixels of images x (N, C, H, W) in [0, 1] (uint8, (N, H, W) and one image accepted) where
    ``holes`` is True/nonzero (and where x is NaN). Returns an ``Imputation``: ``.mean`` the conditional mean,
    ``.draws`` (M, N, C, H, W) alternative completions, ``.mask`` True where observed, ``.ess``."""
    require_images(model, "inpainting")
    x = _in_range(as_batch(x, model.schema, model.shift.device, allow_missing=True))
    fill = torch.isnan(x)
    if holes is not None:
        fill = fill | fill_mask(holes, tuple(x.shape)).to(x.device)
    if not fill.any():
        raise DataError("nothing to fill: the mask marks no pixel (white / nonzero / True = a pixel to fill)")
    g = torch.Generator(x.device).manual_seed(seed)
    return impute(model, x, ~fill, k=k, draws=draws, refine=refine, noise=False, generator=g)


@torch.no_grad()
def denoise(model: VAE, x: Any, *, samples: int = 0, seed: int = 0, batch_size: int = 1000) -> torch.Tensor:
    """The model's reconstruction of noisy images x (N, C, H, W) in [0, 1]: the decoded posterior mean, or the
    average decoded mean of ``samples`` draws from q(z|x). (N, C, H, W)"""
    require_images(model, "denoising")
    x = _in_range(as_batch(x, model.schema, model.shift.device))
    g = torch.Generator(x.device).manual_seed(seed)
    parts = []
    for i in range(0, len(x), batch_size):
        q = model.encode(x[i : i + batch_size])
        if samples:
            z = q.mean + q.stddev * torch.randn((samples, *q.mean.shape), generator=g, device=x.device)
            parts.append(model.decode(z).mean.float().mean(0))
        else:
            parts.append(model.decode(q.mean).mean.float())
    return torch.cat(parts)
