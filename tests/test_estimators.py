"""log p(x) by importance sampling: exact on a linear-Gaussian model, above the ELBO, tighter with more samples."""

import math

import pytest
import torch
from torch.distributions import MultivariateNormal

from vaekit.data.schema import Schema
from vaekit.estimators import iwae_log_px, latent_diagnostics
from vaekit.likelihoods import GaussianConfig
from vaekit.model import VAE, ModelConfig
from vaekit.nn import MLPConfig
from vaekit.training.loop import elbo_stats

DX, DZ, NOISE_VAR = 5, 2, 0.25


@pytest.fixture(scope="module")
def linear_gaussian():
    """p(z) = N(0, I), p(x|z) = N(Wz + b, s2 I): log p(x) = log N(x; b, W W^T + s2 I) exactly.

    The encoder gives the exact posterior mean with too wide a variance: a usable but loose proposal q."""
    g = torch.Generator().manual_seed(0)
    w, b = torch.randn(DX, DZ, generator=g), torch.randn(DX, generator=g)
    model = VAE(
        ModelConfig(latent_dim=DZ, architecture=MLPConfig(hidden=()), likelihood=GaussianConfig()),
        Schema("vector", (DX,)),
    ).eval()
    post_cov = torch.linalg.inv(torch.eye(DZ) + w.T @ w / NOISE_VAR)
    with torch.no_grad():
        dec, enc = model.decoder.net[0], model.encoder.net[0]
        dec.weight.zero_(), dec.bias.zero_()
        dec.weight[:DX] = w
        dec.bias[:DX] = b
        dec.bias[DX:] = math.log(NOISE_VAR)
        gain = post_cov @ w.T / NOISE_VAR  # posterior mean = gain (x - b)
        enc.weight.zero_(), enc.bias.zero_()
        enc.weight[:DZ] = gain
        enc.bias[:DZ] = -gain @ b
        enc.bias[DZ:] = torch.log(torch.diagonal(post_cov)) + 1.0  # too wide: q is a deliberately loose proposal
    marginal = MultivariateNormal(b, w @ w.T + NOISE_VAR * torch.eye(DX))
    x = marginal.sample((4000,))
    return model, x, marginal.log_prob(x).double()


def test_iwae_converges_to_the_exact_log_likelihood(linear_gaussian):
    model, x, exact = linear_gaussian
    errors = []
    for k, n in ((1, 4000), (10, 4000), (100, 4000), (3000, 1000)):
        est = iwae_log_px(model, x[:n], k, generator=torch.Generator().manual_seed(k))
        errors.append((exact[:n] - est).mean().item())
    assert all(e > -0.005 for e in errors)  # a lower bound, up to Monte Carlo noise
    assert errors[0] > errors[1] > errors[2] > errors[3]
    assert errors[0] > 0.3 and abs(errors[3]) < 0.003  # K=1 (the ELBO) is loose; K=3000 is all but exact


def test_iwae_is_above_the_elbo_and_not_decreasing_in_k(linear_gaussian):
    model, x, _ = linear_gaussian
    elbo = elbo_stats(model, x, seed=1)["elbo"]
    means = [iwae_log_px(model, x, k, generator=torch.Generator().manual_seed(7)).mean().item() for k in (1, 5, 50)]
    assert abs(means[0] - elbo) < 0.12  # K=1 is the ELBO in expectation (3 standard errors here)
    assert means[0] < means[1] < means[2]
    assert means[2] > elbo


def test_chunking_does_not_change_the_estimate(linear_gaussian):
    model, x, _ = linear_gaussian
    a = iwae_log_px(model, x[:50], 64, generator=torch.Generator().manual_seed(3), rows_per_chunk=50 * 64)
    b = iwae_log_px(model, x[:50], 64, generator=torch.Generator().manual_seed(3), rows_per_chunk=50 * 7)
    assert a.shape == (50,)
    assert not torch.equal(a, b)  # different chunking draws the noise in another order...
    assert abs(a.mean() - b.mean()) < 0.02  # ...but estimates the same quantity


def test_bf16_stays_within_0_05_nats_of_fp32(linear_gaussian):
    model, x, _ = linear_gaussian
    x = x[:500]
    fp32 = iwae_log_px(model, x, 200, generator=torch.Generator().manual_seed(0), precision="fp32")
    bf16 = iwae_log_px(model, x, 200, generator=torch.Generator().manual_seed(0), precision="bf16")
    assert abs(fp32.mean() - bf16.mean()) < 0.05


def test_autoencoder_has_no_likelihood_estimate():
    model = VAE(
        ModelConfig(latent_dim=2, architecture=MLPConfig(hidden=(4,)), autoencoder=True), Schema("vector", (3,))
    )
    with pytest.raises(ValueError, match="autoencoder"):
        iwae_log_px(model, torch.rand(4, 3), 10)


def test_active_units_and_kl_per_dim(linear_gaussian):
    model, x, _ = linear_gaussian
    d = latent_diagnostics(model, x)
    assert d["active_units"] == DZ and len(d["kl_per_dim"]) == DZ and all(k > 0 for k in d["kl_per_dim"])
    with torch.no_grad():
        enc = model.encoder.net[0]
        saved = enc.weight.clone()
        enc.weight[1] = 0  # dimension 1's mean no longer depends on x: an inactive unit
        d = latent_diagnostics(model, x)
        enc.weight.copy_(saved)
    assert d["active_units"] == 1 and d["posterior_mean_variance"][1] < 1e-12
