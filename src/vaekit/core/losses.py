"""Loss terms as pure functions of (x, posterior, likelihood, beta): never computed inside ``forward``."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..errors import VaekitError
from .distributions import LOG_2PI, PointMass


@dataclass
class LossOutput:
    loss: torch.Tensor  # scalar to minimize: mean over the batch of -(reconstruction - beta * kl)
    elbo: torch.Tensor  # (N,) per-sample ELBO with beta = 1, in nats
    reconstruction: torch.Tensor  # (N,) log p(x|z) for the sampled z
    kl: torch.Tensor  # (N,) KL(q(z|x) || N(0, I))
    iwae: torch.Tensor | None = None  # (N,) K-sample importance-weighted bound on log p(x) (IWAE objective)
    tc: torch.Tensor | None = None  # (N,) total-correlation estimate of the batch (beta-TCVAE objective)


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


def _log_normal(z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mean, exp(logvar)) per element (broadcasting)."""
    return -0.5 * (LOG_2PI + logvar + (z - mean) ** 2 * torch.exp(-logvar))


def tc_decomposition(
    z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor, dataset_size: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The KL term split into (mutual information, total correlation, dimension-wise KL), each (N,).

    z (N, D) is one draw from q(z|x) = N(mean, exp(logvar)) per input of the batch; p(z) = N(0, I). The aggregate
    posterior q(z) and its marginals q(z_j) are estimated by minibatch-weighted sampling (Chen et al., 2018):
    log q(z_i) ~ logsumexp_j log q(z_i|x_j) - log(N * dataset_size), likewise per dimension. The three terms
    telescope to log q(z|x) - log p(z), a one-sample estimate of the KL. MWS is biased: the constant
    log(N * dataset_size) moves log(dataset_size) nats into MI, (D - 1) of them into TC and -D out of the
    dimension-wise KL (no effect on gradients). Cost: O(N^2 D) time and memory.
    """
    if z.dim() != 2 or mean.shape != z.shape or logvar.shape != z.shape:
        raise ValueError(
            f"tc_decomposition needs z, mean and logvar of one shape (N, D), got {tuple(z.shape)}, "
            f"{tuple(mean.shape)} and {tuple(logvar.shape)}"
        )
    if dataset_size < 1:
        raise ValueError(f"dataset_size must be a positive number of training inputs, got {dataset_size}")
    log_qz_x = _log_normal(z, mean, logvar).sum(-1)
    log_pz = (-0.5 * (LOG_2PI + z**2)).sum(-1)
    pairs = _log_normal(z[:, None, :], mean[None], logvar[None])  # (N, N, D): log q(z_i,d | x_j)
    log_weight = math.log(z.shape[0] * dataset_size)
    log_qz = torch.logsumexp(pairs.sum(-1), 1) - log_weight
    log_prod_qzj = (torch.logsumexp(pairs, 1) - log_weight).sum(-1)
    return log_qz_x - log_qz, log_qz - log_prod_qzj, log_prod_qzj - log_pz


def betatc_loss(
    x: torch.Tensor,
    latents,
    likelihood,
    *,
    beta: float,
    dataset_size: int,
    alpha: float = 1.0,
    gamma: float = 1.0,
    mask: torch.Tensor | None = None,
) -> LossOutput:
    """Negative beta-TCVAE objective (Chen et al., 2018): -mean(log p(x|z) - alpha MI - beta TC - gamma dimKL).

    ``latents``: one draw per input with ``z`` (N, D), ``kl()`` (N,) in closed form and ``posterior`` (the
    ``DiagonalGaussian`` q(z|x) z came from; one latent level, prior N(0, I)). ``dataset_size``: the number of
    training inputs, for the minibatch-weighted estimate (see :func:`tc_decomposition`). With alpha = beta = gamma
    = 1 the loss is the negative ELBO with a one-sample KL. The reported ELBO is the plain one (closed-form KL).
    """
    posterior = getattr(latents, "posterior", None)
    if posterior is None or isinstance(posterior, PointMass) or latents.z.dim() != 2:
        raise VaekitError(
            "the beta-TCVAE objective needs one Gaussian latent level and one draw per input "
            "(not a two-level model, a plain autoencoder or importance samples)"
        )
    reconstruction = likelihood.log_prob(x, mask)
    mi, tc, dim_kl = tc_decomposition(latents.z, posterior.mean, posterior.logvar, dataset_size)
    kl = latents.kl()
    loss = -(reconstruction - alpha * mi - beta * tc - gamma * dim_kl).mean()
    return LossOutput(loss=loss, elbo=reconstruction - kl, reconstruction=reconstruction, kl=kl, tc=tc)


def condition_nll(guess: torch.Tensor, y: torch.Tensor, blocks: list[tuple[int, int, bool]]) -> torch.Tensor:
    """How badly ``guess`` (N, width), a critic's output, predicts the condition y (N, K): per attribute the
    cross-entropy of its block of logits (categorical) or the squared error of its standardized value (numeric),
    summed over attributes. ``blocks``: (start, size, categorical) per attribute; y holds category indices and
    standardized numbers. (N,)"""
    total = torch.zeros(len(y), device=guess.device)
    for j, (start, size, categorical) in enumerate(blocks):
        part = guess[:, start : start + size]
        if categorical:
            total = total + torch.nn.functional.cross_entropy(part, y[:, j].long(), reduction="none")
        else:
            total = total + 0.5 * (part[:, 0] - y[:, j]).square()
    return total


def uninformative_nll(guess: torch.Tensor, y: torch.Tensor, blocks: list[tuple[int, int, bool]]) -> torch.Tensor:
    """How far a critic's guess is from knowing nothing about y: per categorical attribute the cross-entropy to
    the batch's class frequencies, per numeric one the squared distance of the guess from the batch mean. (N,)"""
    total = torch.zeros(len(y), device=guess.device)
    for j, (start, size, categorical) in enumerate(blocks):
        part = guess[:, start : start + size]
        if categorical:
            freq = torch.nn.functional.one_hot(y[:, j].long(), size).float().mean(0)
            total = total - (freq * torch.log_softmax(part, -1)).sum(-1)
        else:
            total = total + 0.5 * (part[:, 0] - y[:, j].mean()).square()
    return total
