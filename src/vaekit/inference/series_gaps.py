"""Gaps in time series: fill the missing values of series (N, T, D) from a trained series model (``vaekit.nn.frames``).

A gap is a missing value (NaN) at or before a series' last step with an observed value; the NaN padding after it
(a shorter series) is left as it is. Observed values are returned exactly as given. Methods:

* ``linear``: interpolation in time between the observed values around each gap, per channel (before the first
  observed value and after the last one of a channel, its nearest observed value); no model. The baseline, and the
  start of the others.
* ``elbo`` (default): from the linear start, the missing values (in standardized units) move up the model's ELBO
  of the whole series by L-BFGS (at most ``steps`` = 100 evaluations of the ELBO and its gradient, one fixed
  posterior draw, so the objective is one deterministic function). The learned prior and predictor make every step
  depend on the ones before it, so the observed steps after a gap inform the fill through their likelihood; the
  values settle where the model finds the whole series most probable.
* ``iterate``: from the linear start, replace the missing values by the teacher-forced reconstruction (each step's
  decoded mean given the steps before it and a posterior draw) ``steps`` times. The sequential posterior
  q(z_t | x_<=t) reads only the past, so the steps after a gap cannot pull the fill towards them: kept for
  comparison.

How the default was chosen (GunPoint, a series run trained 300 epochs, 40 test series with one gap of 10 % of
their length; MSE on the removed values): linear 0.044, iterate 0.97 (each round drifts further), elbo by Adam
(lr 0.05, fresh or fixed noise alike) 0.028 after 100 steps and 0.015 after 200, elbo by L-BFGS 0.022 after 50
and 0.011 after 100 evaluations (the default; about 1 s per series of 150 steps on a loaded 2-core CPU). Gaps of
25 %: linear 0.341, iterate 1.39, elbo (Adam, 100 steps) 0.326. Across UCR sets, ``benchmarks/series_ucr.py``
(docs/results.md#time-series), five sets × gaps of 10 % and 25 %: elbo beats linear interpolation in 7 of the 10
cells and iterate in 8; linear interpolation wins on the short 12-channel JapaneseVowels, scikit-learn's KNNImputer
(whole similar training series) on the 25 % gaps of GunPoint and ArrowHead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..errors import DataError
from .frame_scores import frames_tensor

METHODS = ("elbo", "iterate", "linear")
DEFAULT_METHOD = "elbo"
DEFAULT_STEPS = {"elbo": 100, "iterate": 10, "linear": 0}  # elbo: evaluations of the ELBO; iterate: rounds
GAP_BATCH = 256  # series per optimization


@dataclass
class GapFill:
    """What ``fill_gaps`` returns: the series with their gaps filled (data units), where they were, and how."""

    values: torch.Tensor  # (N, T, D): observed values as given, gaps filled, end padding still NaN
    gaps: torch.Tensor  # (N, T, D) bool: True where a value was filled
    method: str
    steps: int


def series_ends(x: torch.Tensor) -> torch.Tensor:
    """The length of each series of x (N, T, D): one past its last step with an observed value (0: none). (N,)"""
    present = ~torch.isnan(x).all(-1)  # (N, T)
    t = x.shape[1]
    last = t - 1 - present.flip(1).int().argmax(1)
    return torch.where(present.any(1), last + 1, torch.zeros_like(last))


def gap_mask(x: torch.Tensor) -> torch.Tensor:
    """True at the missing values of series x (N, T, D) that lie within each series (before its end), i.e. the
    values to fill; False at observed values and at the end padding. (N, T, D) bool"""
    inside = torch.arange(x.shape[1], device=x.device)[None, :] < series_ends(x)[:, None]
    return torch.isnan(x) & inside[..., None]


def linear_fill(x: torch.Tensor, gaps: torch.Tensor, fallback: torch.Tensor | None = None) -> torch.Tensor:
    """x (N, T, D) with the ``gaps`` filled by linear interpolation in time, per series and channel (the nearest
    observed value before the first / after the last one); a channel with nothing observed takes ``fallback``
    (D,) (default 0). Other values as given. (N, T, D)"""
    values = x.detach().cpu().double().numpy()
    out = values.copy()
    where = gaps.cpu().numpy()
    steps = np.arange(x.shape[1])
    default = fallback.detach().cpu().double().numpy() if fallback is not None else np.zeros(x.shape[2])
    for i, c in zip(*np.nonzero(where.any(1)), strict=True):
        seen = ~np.isnan(values[i, :, c])
        holes = where[i, :, c]
        out[i, holes, c] = np.interp(steps[holes], steps[seen], values[i, seen, c]) if seen.any() else default[c]
    return torch.as_tensor(out, dtype=x.dtype, device=x.device)


def fill_gaps(model: Any, x: Any, method: str = DEFAULT_METHOD, *, steps: int | None = None, seed: int = 0) -> GapFill:
    """Fill the gaps (missing values before each series' end) of series x (N, T, D) in data units with ``method``
    (module docstring); ``steps``: optimization steps (elbo) or rounds (iterate), default ``DEFAULT_STEPS``. The
    same x, method, steps and seed give the same values."""
    if method not in METHODS:
        raise DataError(f"unknown gap-filling method {method!r}: expected one of {', '.join(METHODS)}")
    if model.schema.kind != "series":
        raise DataError(
            f"filling gaps applies to time series models; this one was trained on {model.schema.kind} data"
            + (" (filling frames of video clips is not offered)" if model.schema.kind == "video" else "")
        )
    steps = DEFAULT_STEPS[method] if steps is None else int(steps)
    if steps < 0:
        raise DataError(f"steps must be 0 or more, got {steps}")
    x = frames_tensor(model, x)
    gaps = gap_mask(x)
    start = linear_fill(x, gaps, model.shift[0])
    if method == "linear" or steps == 0 or not bool(gaps.any()):
        return GapFill(start, gaps, method, steps)
    rows = gaps.flatten(1).any(1).nonzero().squeeze(1)  # only series with a gap are worked on
    out = start.clone()
    g = torch.Generator(x.device).manual_seed(int(seed))
    was_training = model.training
    model.eval()
    for i in range(0, len(rows), GAP_BATCH):
        b = rows[i : i + GAP_BATCH]
        begin = torch.where(gaps[b], start[b], x[b])
        if method == "elbo":
            out[b] = _elbo_ascent(model, begin, gaps[b], steps, int(seed) + i)
        else:
            out[b] = _iterate(model, begin, gaps[b], steps, g)
    model.train(was_training)
    return GapFill(torch.where(gaps, out, x), gaps, method, steps)


def _elbo_ascent(model: Any, x: torch.Tensor, gaps: torch.Tensor, steps: int, seed: int) -> torch.Tensor:
    """L-BFGS on the gap values (standardized) up the ELBO of x (N, T, D): at most ``steps`` evaluations of the
    ELBO, each with the same posterior noise (seed ``seed``), so the objective is a fixed function."""
    shift, scale = model.shift[0], model.scale[0]
    u = ((x - shift) / scale).nan_to_num().detach().clone().requires_grad_(True)
    optimizer = torch.optim.LBFGS(
        [u], lr=1, max_iter=steps, max_eval=steps, history_size=20, line_search_fn="strong_wolfe",
        tolerance_grad=1e-9, tolerance_change=1e-12,
    )  # fmt: skip

    def closure() -> torch.Tensor:
        full = torch.where(gaps, shift + scale * u, x)
        latents, likelihood = model(full, torch.Generator(x.device).manual_seed(seed))
        loss = -(likelihood.log_prob(full) - latents.kl_terms).sum()
        optimizer.zero_grad()
        loss.backward(inputs=[u])
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    return torch.where(gaps, shift + scale * u.detach(), x)


@torch.no_grad()
def _iterate(model: Any, x: torch.Tensor, gaps: torch.Tensor, steps: int, g: torch.Generator) -> torch.Tensor:
    """``steps`` rounds of: the gap values := the teacher-forced reconstruction of x (N, T, D)."""
    for _ in range(steps):
        x = torch.where(gaps, model(x, g)[1].mean.reshape(x.shape).float(), x)
    return x
