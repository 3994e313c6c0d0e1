"""The approximate posterior q(z|x): a diagonal Gaussian, or a point mass for the plain autoencoder.

Both expose the same interface (``mean``, ``mode``, ``stddev``, ``rsample``, ``sample``, ``kl``), so the loss, the
trainer and every task work unchanged for the VAE and the autoencoder.
"""

from __future__ import annotations

import math

import torch

LOG_2PI = math.log(2 * math.pi)


def float32(dist):
    """The same distribution object with its tensor parameters in float32 (networks run under bf16 autocast
    return bf16 parameters; densities are always summed in float32)."""
    for name, value in vars(dist).items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and value.dtype != torch.float32:
            setattr(dist, name, value.float())
    return dist


class DiagonalGaussian:
    """N(mean, diag(exp(logvar))) over a batch of latent vectors of shape (N, D)."""

    def __init__(self, mean: torch.Tensor, logvar: torch.Tensor):
        self.mean = mean
        self.logvar = logvar

    @property
    def stddev(self) -> torch.Tensor:
        return torch.exp(0.5 * self.logvar)

    @property
    def variance(self) -> torch.Tensor:
        return torch.exp(self.logvar)

    def rsample(
        self,
        generator: torch.Generator | None = None,
        sample_shape: tuple[int, ...] = (),
        eps: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Reparameterized sample z = mean + stddev * eps, differentiable in mean and logvar.

        Shape (*sample_shape, N, D): e.g. ``sample_shape=(K,)`` draws K samples per input for importance weighting.
        ``eps``: the standard-normal draws to use, broadcasting against (*sample_shape, N, D) — e.g. (K, 1, D), the
        same K draws for every input — instead of drawing them with ``generator``."""
        if eps is None:
            shape = (*sample_shape, *self.mean.shape)
            eps = torch.randn(shape, generator=generator, dtype=self.mean.dtype, device=self.mean.device)
        return self.mean + self.stddev * eps

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        with torch.no_grad():
            return self.rsample(generator)

    @property
    def mode(self) -> torch.Tensor:
        """The most probable code: the mean (a property, like the likelihoods' ``mode``). (N, D)"""
        return self.mean

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z) summed over latent dimensions. (N,) — z may carry extra leading sample dims."""
        return (-0.5 * (LOG_2PI + self.logvar + (z - self.mean) ** 2 / self.variance)).sum(-1)

    def kl(self) -> torch.Tensor:
        """KL(q || N(0, I)) per sample, closed form. (N,)"""
        return self.kl_per_dim().sum(-1)

    def kl_per_dim(self) -> torch.Tensor:
        """KL(q || N(0, I)) per sample and latent dimension. (N, D)"""
        return 0.5 * (self.mean**2 + self.variance - 1.0 - self.logvar)

    def kl_to(self, other: DiagonalGaussian) -> torch.Tensor:
        """KL(self || other) for another diagonal Gaussian of the same (broadcastable) shape, summed over D."""
        return self.kl_per_dim_to(other).sum(-1)

    def kl_per_dim_to(self, other: DiagonalGaussian) -> torch.Tensor:
        return 0.5 * (
            other.logvar - self.logvar + (self.variance + (self.mean - other.mean) ** 2) / other.variance - 1.0
        )


class PointMass(DiagonalGaussian):
    """A deterministic code: the plain autoencoder's 'posterior'. Sampling returns the mean; KL is zero."""

    def __init__(self, mean: torch.Tensor):
        super().__init__(mean, torch.full_like(mean, -math.inf))

    @property
    def stddev(self) -> torch.Tensor:
        return torch.zeros_like(self.mean)

    @property
    def variance(self) -> torch.Tensor:
        return torch.zeros_like(self.mean)

    def rsample(
        self,
        generator: torch.Generator | None = None,
        sample_shape: tuple[int, ...] = (),
        eps: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self.mean.expand(*sample_shape, *self.mean.shape)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        raise ValueError("a point-mass code has no density")

    def kl_per_dim(self) -> torch.Tensor:
        return torch.zeros_like(self.mean)
