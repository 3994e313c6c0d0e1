"""Loss terms as pure functions of (x, posterior, likelihood, beta): never computed inside ``forward``."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .distributions import DiagonalGaussian


@dataclass
class LossOutput:
    loss: torch.Tensor  # scalar to minimize: mean over the batch of -(reconstruction - beta * kl)
    elbo: torch.Tensor  # (N,) per-sample ELBO with beta = 1, in nats
    reconstruction: torch.Tensor  # (N,) log p(x|z) for the sampled z
    kl: torch.Tensor  # (N,) KL(q(z|x) || N(0, I))


def elbo_loss(
    x: torch.Tensor,
    posterior: DiagonalGaussian,
    likelihood,
    beta: float = 1.0,
    mask: torch.Tensor | None = None,
) -> LossOutput:
    """Negative (beta-weighted) ELBO. x: (N, ...) targets in data units; mask: 1 where observed."""
    reconstruction = likelihood.log_prob(x, mask)
    kl = posterior.kl()
    loss = -(reconstruction - beta * kl).mean()
    return LossOutput(loss=loss, elbo=reconstruction - kl, reconstruction=reconstruction, kl=kl)
