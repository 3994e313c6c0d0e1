"""Loss terms as pure functions of (x, posterior, likelihood, beta): never computed inside ``forward``."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .distributions import LOG_2PI, DiagonalGaussian


@dataclass
class LossOutput:
    loss: torch.Tensor  # scalar to minimize: mean over the batch of -(reconstruction - beta * kl)
    elbo: torch.Tensor  # (N,) per-sample ELBO with beta = 1, in nats
    reconstruction: torch.Tensor  # (N,) log p(x|z) for the sampled z
    kl: torch.Tensor  # (N,) KL(q(z|x) || N(0, I))
    iwae: torch.Tensor | None = None  # (N,) K-sample importance-weighted bound on log p(x) (IWAE objective)


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


def iwae_loss(
    x: torch.Tensor,
    posterior: DiagonalGaussian,
    z: torch.Tensor,
    likelihood,
    beta: float = 1.0,
    mask: torch.Tensor | None = None,
) -> LossOutput:
    """Negative K-sample importance-weighted bound (Burda et al., 2016), the IWAE objective.

    z: (K, N, D) reparameterized samples of ``posterior``; ``likelihood`` is p(x|z) over (K, N, *shape).
    log w_k = log p(x|z_k) + beta * (log p(z_k) - log q(z_k|x)); the loss is -mean_n logmeanexp_k log w.
    The reported ELBO, reconstruction and KL are the per-sample averages (KL in closed form).
    """
    k = z.shape[0]
    rec = likelihood.log_prob(x, mask)  # x (N, *shape) broadcasts over the K samples: (K, N)
    log_ratio = -0.5 * (LOG_2PI + z**2).sum(-1) - posterior.log_prob(z)  # log p(z) - log q(z|x), (K, N)
    bound = torch.logsumexp(rec + beta * log_ratio, 0) - math.log(k)
    kl = posterior.kl()
    reconstruction = rec.mean(0)
    iwae = torch.logsumexp(rec + log_ratio, 0) - math.log(k) if beta != 1.0 else bound
    return LossOutput(loss=-bound.mean(), elbo=reconstruction - kl, reconstruction=reconstruction, kl=kl, iwae=iwae)
