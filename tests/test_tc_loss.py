"""The beta-TCVAE objective: the MWS decomposition of the KL into MI, TC and dimension-wise KL, and its loss."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from vaekit.core.distributions import DiagonalGaussian, PointMass
from vaekit.core.likelihoods import Gaussian
from vaekit.core.losses import LossOutput, betatc_loss, elbo_loss, tc_decomposition
from vaekit.errors import VaekitError


def _batch(n: int, d: int, std: float, seed: int, tie: bool = False):
    """Posteriors N(mean_i, std^2 I) with means ~ N(0, I) (dims 0 and 1 equal when ``tie``) and one draw each."""
    g = torch.Generator().manual_seed(seed)
    mean = torch.randn(n, d, generator=g)
    if tie:
        mean[:, 1] = mean[:, 0]
    logvar = torch.full((n, d), 2 * math.log(std))
    z = mean + std * torch.randn(n, d, generator=g)
    return z, mean, logvar


def test_terms_are_per_sample_and_telescope_to_the_one_sample_kl():
    z, mean, logvar = _batch(64, 4, 0.5, seed=0)
    mi, tc, dim_kl = tc_decomposition(z, mean, logvar, dataset_size=1000)
    assert mi.shape == tc.shape == dim_kl.shape == (64,)
    q = DiagonalGaussian(mean, logvar)
    log_pz = -0.5 * (math.log(2 * math.pi) + z**2).sum(-1)
    torch.testing.assert_close(mi + tc + dim_kl, q.log_prob(z) - log_pz, rtol=1e-4, atol=1e-4)


def test_expected_decomposition_matches_the_closed_form_kl():
    z, mean, logvar = _batch(2000, 3, 0.5, seed=1)
    mi, tc, dim_kl = tc_decomposition(z, mean, logvar, dataset_size=1)
    total = mi + tc + dim_kl
    kl = DiagonalGaussian(mean, logvar).kl()
    se = (total - kl).std() / math.sqrt(len(total))
    assert abs((total - kl).mean()) < 4 * se
    assert se < 0.1  # the check above is tight: a wrong density would miss by far more


def test_dataset_size_enters_as_the_mws_constant():
    """log(N * dataset_size) normalizes q(z) once and each of the D marginals once."""
    z, mean, logvar = _batch(128, 3, 0.7, seed=2)
    mi1, tc1, kl1 = tc_decomposition(z, mean, logvar, dataset_size=10)
    mi2, tc2, kl2 = tc_decomposition(z, mean, logvar, dataset_size=1000)
    shift = math.log(100)
    torch.testing.assert_close(mi2 - mi1, torch.full_like(mi1, shift), rtol=0, atol=1e-4)
    torch.testing.assert_close(tc2 - tc1, torch.full_like(tc1, 2 * shift), rtol=0, atol=1e-4)
    torch.testing.assert_close(kl2 - kl1, torch.full_like(kl1, -3 * shift), rtol=0, atol=1e-4)
    assert bool((mi1 <= math.log(128 * 10) + 1e-4).all())  # the MWS MI is bounded by log(N * dataset_size)


def test_total_correlation_is_small_for_independent_dims_and_large_for_tied_ones():
    z, mean, logvar = _batch(1000, 3, 0.5, seed=3)
    _, tc_independent, _ = tc_decomposition(z, mean, logvar, dataset_size=1)
    z, mean, logvar = _batch(1000, 3, 0.1, seed=3, tie=True)  # z_1 ~ z_0 across the batch
    _, tc_tied, _ = tc_decomposition(z, mean, logvar, dataset_size=1)
    assert abs(tc_independent.mean().item()) < 0.1
    # the true TC of the tied pair is -0.5 log(1 - rho^2) with rho = 1 / 1.01: about 1.96 nats
    assert tc_tied.mean().item() > 1.5
    assert tc_tied.mean().item() > tc_independent.mean().item() + 1.4


def test_rejects_mismatched_shapes_and_dataset_size():
    z, mean, logvar = _batch(8, 2, 0.5, seed=4)
    with pytest.raises(ValueError, match="one shape"):
        tc_decomposition(z, mean[:, :1], logvar, dataset_size=10)
    with pytest.raises(ValueError, match="dataset_size"):
        tc_decomposition(z, mean, logvar, dataset_size=0)


def _model_outputs(n: int, d: int, seed: int):
    """A linear 'encoder/decoder' so gradients can be followed back to the posterior parameters."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=g)
    mean = (0.5 * torch.randn(n, d, generator=g)).requires_grad_()
    logvar = torch.full((n, d), -1.0).requires_grad_()
    posterior = DiagonalGaussian(mean, logvar)
    z = posterior.rsample(g)
    decoder = torch.randn(d, 5, generator=g)
    likelihood = Gaussian(z @ decoder, torch.zeros(n, 5))
    latents = SimpleNamespace(z=z, kl=posterior.kl, posterior=posterior)
    return x, latents, likelihood, mean, logvar


def test_betatc_loss_reports_the_elbo_and_tc_and_weights_the_terms():
    x, latents, likelihood, mean, logvar = _model_outputs(256, 4, seed=5)
    out = betatc_loss(x, latents, likelihood, beta=1.0, dataset_size=5000)
    assert isinstance(out, LossOutput)
    assert out.tc is not None and out.tc.shape == out.elbo.shape == out.kl.shape == (256,)
    plain = elbo_loss(x, latents.posterior, likelihood)
    torch.testing.assert_close(out.elbo, plain.elbo)
    # beta = alpha = gamma = 1: the negative ELBO with a one-sample KL estimate instead of the closed form
    one_sample_kl = latents.posterior.log_prob(latents.z) + 0.5 * (math.log(2 * math.pi) + latents.z**2).sum(-1)
    torch.testing.assert_close(out.loss, -(out.reconstruction - one_sample_kl).mean())
    # raising beta adds (beta - 1) * TC; alpha and gamma weight MI and the dimension-wise KL the same way
    mi, tc, dim_kl = tc_decomposition(latents.z, mean, logvar, 5000)
    heavy = betatc_loss(x, latents, likelihood, beta=6.0, dataset_size=5000, alpha=0.5, gamma=2.0)
    torch.testing.assert_close(heavy.loss - out.loss, (5.0 * tc - 0.5 * mi + dim_kl).mean())


def test_betatc_loss_gradients_reach_mean_and_logvar():
    x, latents, likelihood, mean, logvar = _model_outputs(128, 3, seed=6)
    betatc_loss(x, latents, likelihood, beta=4.0, dataset_size=1000).loss.backward()
    for param in (mean, logvar):
        assert param.grad is not None and torch.isfinite(param.grad).all() and param.grad.abs().sum() > 0


def test_betatc_loss_needs_a_single_gaussian_posterior():
    x, latents, likelihood, _, _ = _model_outputs(16, 2, seed=7)
    with pytest.raises(VaekitError, match="one Gaussian latent level"):
        betatc_loss(x, SimpleNamespace(z=latents.z, kl=latents.kl, posterior=None), likelihood, beta=2, dataset_size=9)
    point = PointMass(latents.z.detach())
    with pytest.raises(VaekitError, match="one Gaussian latent level"):
        betatc_loss(x, SimpleNamespace(z=latents.z, kl=point.kl, posterior=point), likelihood, beta=2, dataset_size=9)
