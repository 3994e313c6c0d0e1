"""Anomaly scores of video clips and time series (a frames model, ``vaekit.nn.frames``), per step and per input.

The score of step t of a clip is -ELBO_t = -(log p(x_t | z_<=t, x_<t) - KL(q(z_t | x_<=t) || p(z_t | x_<t))) in nats,
teacher-forced (the true previous frames are read), one posterior draw per step with fixed-seed noise
(``VAEModule.frame_elbo``); higher = more anomalous. A step where nothing is observed (a missing step, or the NaN
padding at the end of a shorter series) scores NaN: it carries no evidence. The score of a clip or series is the
sum of its steps' scores over the observed steps, its -ELBO (the ``elbo`` score of ``vaekit.inference.anomaly``):
a longer series accrues more, so compare series of one length, or divide by ``observed_steps``.

The noise is drawn one step at a time for a batch of ``batch_size`` inputs: the same inputs in the same order with
the same seed give the same scores; an input's score moves a little (the noise of one draw) with its position.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import DataError
from .estimators import batch_starts

FRAME_BATCH = 100  # clips per pass


def frames_tensor(model: Any, x: Any) -> torch.Tensor:
    """Clips (N, T, *frame) as float32 in data units from an array or tensor (one clip (T, *frame) is a batch of
    one; uint8 video is scaled to [0, 1]); NaN (a missing value) is kept for series. Shapes are checked here,
    values by the model."""
    if not getattr(model, "is_frames", False):
        raise DataError(
            f"per-step scores need a video or time series model, and this one was trained on {model.schema.kind} data"
        )
    t = x if torch.is_tensor(x) else torch.as_tensor(np.asarray(x))
    if t.dtype == torch.uint8 and model.schema.kind == "video":
        t = t.float() / 255.0
    t = t.to(device=model.shift.device, dtype=torch.float32)
    frame = tuple(model.schema.shape[1:])
    if t.dim() == len(frame) + 1:
        t = t.unsqueeze(0)
    if t.dim() != len(frame) + 2 or tuple(t.shape[2:]) != frame or t.shape[1] < 1:
        raise DataError(f"input has shape {tuple(t.shape)}, expected clips (N, T, {', '.join(map(str, frame))})")
    return t


def observed_steps(x: torch.Tensor) -> torch.Tensor:
    """True at the steps of clips x (N, T, *frame) with at least one observed (not NaN) value. (N, T) bool"""
    return ~torch.isnan(x).flatten(2).all(-1)


@torch.no_grad()
def frame_anomaly_scores(
    model: Any, x: Any, *, seed: int = 0, batch_size: int = FRAME_BATCH, description: str | None = None
) -> torch.Tensor:
    """-ELBO of every step of clips or series x (N, T, *frame) in nats, NaN where a step has no observed value;
    the sum over a row's observed steps is its ``elbo`` anomaly score. Same x and seed, same scores.
    (N, T) float64"""
    x = frames_tensor(model, x)
    was_training = model.training
    model.eval()
    g = torch.Generator(x.device).manual_seed(int(seed))
    starts = batch_starts(len(x), batch_size, description)
    parts = [-model.frame_elbo(x[i : i + batch_size], g).double().cpu() for i in starts]
    model.train(was_training)
    scores = torch.cat(parts) if parts else torch.zeros(0, x.shape[1], dtype=torch.float64)
    return scores.masked_fill(~observed_steps(x).cpu(), float("nan"))


def series_scores(step_scores: torch.Tensor) -> torch.Tensor:
    """Per-input scores from per-step ones: the sum over the observed (not NaN) steps. (N,) float64"""
    return step_scores.nansum(1)
