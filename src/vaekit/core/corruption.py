"""Input corruption for denoising VAEs (Im et al., 2017) and for making noisy test inputs.

A spec is ``KIND:LEVEL``:

- ``gaussian:S``: add N(0, S²) noise (S in (0, 10]); images in pixel units, clipped to [0, 1]; tables in units of
  each column's standard deviation;
- ``saltpepper:P``: a share P in (0, 1) of the values set to 0 or 1 (half each); images only;
- ``dropout:P``: a share P in (0, 1) of the values set to 0 (images), to the column mean (tables), or marked
  missing (NaN) for a model whose encoder reads which values are observed (``as_missing``).

Training with ``corrupt=SPEC`` feeds the encoder a freshly corrupted copy of every batch and scores the
reconstruction against the clean batch.
"""

from __future__ import annotations

import torch

KINDS = {"gaussian": (0.0, 10.0), "saltpepper": (0.0, 1.0), "dropout": (0.0, 1.0)}  # level in (lo, hi] / (lo, hi)
VALID = "gaussian:S with S in (0, 10], saltpepper:P or dropout:P with P in (0, 1), e.g. gaussian:0.3"


def parse_corrupt(spec: str) -> tuple[str, float]:
    """``"gaussian:0.3"`` -> ("gaussian", 0.3); ValueError with one line naming the valid kinds otherwise."""
    kind, _, level_text = str(spec).strip().partition(":")
    kind = kind.strip().lower()
    try:
        level = float(level_text)
    except ValueError:
        level = float("nan")
    lo, hi = KINDS.get(kind, (0.0, 0.0))
    inside = lo < level <= hi if kind == "gaussian" else lo < level < hi
    if kind not in KINDS or not inside:
        raise ValueError(f"corrupt must be {VALID}; got '{spec}'")
    return kind, level


def corrupt(
    x: torch.Tensor,
    spec: str,
    generator: torch.Generator | None = None,
    *,
    image: bool = True,
    shift: torch.Tensor | None = None,
    scale: torch.Tensor | None = None,
    as_missing: bool = False,
) -> torch.Tensor:
    """A corrupted copy of x (N, *shape), data units. Tables (``image=False``) need the model's ``shift`` and
    ``scale`` (column means and standard deviations). ``as_missing``: dropped table values become NaN."""
    kind, level = parse_corrupt(spec)
    if not image and kind == "saltpepper":
        raise ValueError("saltpepper corruption needs image data; use gaussian or dropout for tables")
    u = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) if kind != "gaussian" else None
    if kind == "gaussian":
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype) * level
        return (x + noise).clamp(0.0, 1.0) if image else x + noise * (scale if scale is not None else 1.0)
    if kind == "saltpepper":
        return torch.where(u < level, (u < level / 2).to(x.dtype), x)
    if as_missing and not image:
        return torch.where(u < level, torch.full_like(x, float("nan")), x)
    fill = torch.zeros_like(x) if image or shift is None else shift.expand_as(x)
    return torch.where(u < level, fill, x)
