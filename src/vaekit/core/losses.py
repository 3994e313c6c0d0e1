"""Loss terms as pure functions of (x, posterior, likelihood, beta): never computed inside ``forward``."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class LossOutput:
    loss: torch.Tensor  # scalar to minimize: mean over the batch of -(reconstruction - beta * kl)
    elbo: torch.Tensor  # (N,) per-sample ELBO with beta = 1, in nats
    reconstruction: torch.Tensor  # (N,) log p(x|z) for the sampled z
    kl: torch.Tensor  # (N,) KL(q(z|x) || N(0, I))
    iwae: torch.Tensor | None = None  # (N,) K-sample importance-weighted bound on log p(x) (IWAE objective)


def elbo_loss(
    x: torch.Tensor,
    posterior,
    likelihood,
    beta: float = 1.0,
    mask: torch.Tensor | None = None,
    free_bits: float = 0.0,
) -> LossOutput:
    """Negative (beta-weighted) ELBO. x: (N, ...) targets in data units; mask: 1 where observed.

    ``posterior`` is anything with ``kl()`` -> (N,): a ``DiagonalGaussian`` (KL to N(0, I)) or the model's
    ``Latents`` (the KL of every latent level to its prior). ``free_bits`` > 0 (nats per latent dimension;
    needs ``posterior.kl_dims``): the loss counts each dimension's batch-mean KL as at least that much, so no
    gradient pushes a dimension below it and the decoder cannot profit from ignoring z (Kingma et al., 2016).
    The reported ELBO is the plain one."""
    reconstruction = likelihood.log_prob(x, mask)
    kl = posterior.kl()
    kl_dims = getattr(posterior, "kl_dims", None)
    if free_bits > 0 and kl_dims is not None:
        penalty = kl_dims.reshape(-1, kl_dims.shape[-1]).mean(0).clamp_min(free_bits).sum()
        loss = -reconstruction.mean() + beta * penalty
    else:
        loss = -(reconstruction - beta * kl).mean()
    return LossOutput(loss=loss, elbo=reconstruction - kl, reconstruction=reconstruction, kl=kl)


def iwae_loss(
    x: torch.Tensor,
    latents,
    likelihood,
    beta: float = 1.0,
    mask: torch.Tensor | None = None,
) -> LossOutput:
    """Negative K-sample importance-weighted bound (Burda et al., 2016), the IWAE objective.

    ``latents``: the model's ``Latents`` for K draws per input (``log_ratio`` (K, N) = log p(z) - log q(z|x));
    ``likelihood`` is p(x|z) over (K, N, *shape). log w_k = log p(x|z_k) + beta * log_ratio_k; the loss is
    -mean_n logmeanexp_k log w. The reported ELBO, reconstruction and KL are per-sample averages.
    """
    log_ratio = latents.log_ratio
    k = log_ratio.shape[0]
    rec = likelihood.log_prob(x, mask)  # x (N, *shape) broadcasts over the K samples: (K, N)
    bound = torch.logsumexp(rec + beta * log_ratio, 0) - math.log(k)
    kl = latents.kl()
    reconstruction = rec.mean(0)
    iwae = torch.logsumexp(rec + log_ratio, 0) - math.log(k) if beta != 1.0 else bound
    return LossOutput(loss=-bound.mean(), elbo=reconstruction - kl, reconstruction=reconstruction, kl=kl, iwae=iwae)
