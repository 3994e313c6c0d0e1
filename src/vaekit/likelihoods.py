"""Decoder likelihoods p(x|z): one abstraction for images and tables.

A likelihood *config* says how many decoder outputs each data value needs (``params_per_value``) and turns the
decoder's raw output into a distribution object. Every distribution offers ``log_prob(x, mask=None)`` summed
over all non-batch dimensions (the optional mask, 1 = observed, is how missing data and inpainting will enter),
``mean`` and ``sample()``. Values are in data units: the Gaussian undoes the model's standardization, so its
log-density is that of the original data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from .distributions import LOG_2PI


def _sum_event(t: torch.Tensor, mask: torch.Tensor | None, event_dims: int | None) -> torch.Tensor:
    """Sum (masked) per-value terms over the event: the last ``event_dims`` dimensions (default: all but the
    first). (*batch, *event) -> (*batch,)"""
    if mask is not None:
        t = t * mask
    if event_dims is None:
        event_dims = t.dim() - 1
    return t.flatten(-event_dims).sum(-1) if event_dims > 0 else t


class Bernoulli:
    """Independent Bernoulli per value, parameterized by logits. Targets may be binary or in [0, 1]."""

    def __init__(self, logits: torch.Tensor, event_dims: int | None = None):
        self.logits = logits
        self.event_dims = event_dims  # trailing dimensions that make up one sample (None: all but the first)

    @property
    def mean(self) -> torch.Tensor:
        return torch.sigmoid(self.logits)

    def log_prob(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Sum of log p(x_i) over the event. (N,)"""
        # x*l - softplus(l) = x log sigmoid(l) + (1-x) log sigmoid(-l): stable, and on CPU ~4x faster than
        # binary_cross_entropy_with_logits (which matters for importance sampling with K=1000)
        if mask is not None:
            return _sum_event(x * self.logits - F.softplus(self.logits), mask, self.event_dims)
        e = self.event_dims if self.event_dims is not None else self.logits.dim() - 1
        if e == 0:
            return x * self.logits - F.softplus(self.logits)
        logits = self.logits.flatten(-e)
        # the dot product broadcasts x over extra sample dimensions without materializing x * logits
        return torch.linalg.vecdot(x.flatten(-e), logits) - F.softplus(logits).sum(-1)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.bernoulli(self.mean, generator=generator)


class Gaussian:
    """Independent Gaussian per value with a learned (per-value) variance, in data units."""

    def __init__(self, loc: torch.Tensor, logvar: torch.Tensor, event_dims: int | None = None):
        self.loc = loc
        self.logvar = logvar
        self.event_dims = event_dims  # trailing dimensions that make up one sample (None: all but the first)

    @property
    def mean(self) -> torch.Tensor:
        return self.loc

    @property
    def stddev(self) -> torch.Tensor:
        return torch.exp(0.5 * self.logvar)

    def log_prob(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        per_value = -0.5 * (LOG_2PI + self.logvar + (x - self.loc) ** 2 * torch.exp(-self.logvar))
        return _sum_event(per_value, mask, self.event_dims)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        eps = torch.randn(self.loc.shape, generator=generator, dtype=self.loc.dtype, device=self.loc.device)
        return self.loc + self.stddev * eps


@dataclass(frozen=True)
class BernoulliConfig:
    kind: Literal["bernoulli"] = "bernoulli"

    params_per_value = 1

    def build(self, out: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> Bernoulli:
        """out: decoder output (*batch, 1*C, ...) in model space -> Bernoulli over (*batch, C, ...)."""
        return Bernoulli(out, event_dims=shift.dim())


@dataclass(frozen=True)
class GaussianConfig:
    kind: Literal["gaussian"] = "gaussian"
    min_logvar: float = -7.0  # floor on the standardized log-variance: keeps the density from collapsing
    max_logvar: float = 4.0  # ceiling, for stability early in training

    params_per_value = 2

    def build(self, out: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> Gaussian:
        """out: decoder output (*batch, 2*C, ...) standardized; returns a Gaussian in data units."""
        loc, logvar = out.chunk(2, dim=-shift.dim())
        logvar = logvar.clamp(self.min_logvar, self.max_logvar)
        return Gaussian(loc * scale + shift, logvar + 2 * torch.log(scale), event_dims=shift.dim())


LikelihoodConfig = BernoulliConfig | GaussianConfig
LIKELIHOODS: dict[str, type[BernoulliConfig] | type[GaussianConfig]] = {
    "bernoulli": BernoulliConfig,
    "gaussian": GaussianConfig,
}


def bits_per_dim(nats: float, dims: int) -> float:
    return nats / (dims * math.log(2))
