"""log p(x) by importance sampling: exact on a linear-Gaussian model, above the ELBO, tighter with more samples."""

import copy

import pytest
import torch

from vaekit import VAE
from vaekit.data.schema import Schema
from vaekit.inference.estimators import iwae_log_px, latent_diagnostics
from vaekit.models.module import ModelConfig
from vaekit.nn import MLPConfig
from vaekit.training.loop import elbo_stats


def test_iwae_converges_to_the_exact_log_likelihood(linear_gaussian):
    model, x, exact, _ = linear_gaussian
    errors = []
    for k, n in ((1, 4000), (10, 4000), (100, 4000), (3000, 1000)):
        est = iwae_log_px(model, x[:n], k, generator=torch.Generator().manual_seed(k))
        errors.append((exact[:n] - est).mean().item())
    assert all(e > -0.005 for e in errors)  # a lower bound, up to Monte Carlo noise
    assert errors[0] > errors[1] > errors[2] > errors[3]
    assert errors[0] > 0.3 and abs(errors[3]) < 0.003  # K=1 (the ELBO) is loose; K=3000 is all but exact


def test_iwae_is_above_the_elbo_and_not_decreasing_in_k(linear_gaussian):
    model, x, _, _ = linear_gaussian
    elbo = elbo_stats(model, x, seed=1)["elbo"]
    means = [iwae_log_px(model, x, k, generator=torch.Generator().manual_seed(7)).mean().item() for k in (1, 5, 50)]
    assert abs(means[0] - elbo) < 0.12  # K=1 is the ELBO in expectation (3 standard errors here)
    assert means[0] < means[1] < means[2]
    assert means[2] > elbo


def test_chunking_does_not_change_the_estimate(linear_gaussian):
    model, x, _, _ = linear_gaussian
    a = iwae_log_px(model, x[:50], 64, generator=torch.Generator().manual_seed(3), rows_per_chunk=50 * 64)
    b = iwae_log_px(model, x[:50], 64, generator=torch.Generator().manual_seed(3), rows_per_chunk=50 * 7)
    assert a.shape == (50,)
    assert not torch.equal(a, b)  # different chunking draws the noise in another order...
    assert abs(a.mean() - b.mean()) < 0.02  # ...but estimates the same quantity


def test_bf16_stays_within_0_05_nats_of_fp32(linear_gaussian):
    model, x, _, _ = linear_gaussian
    x = x[:500]
    fp32 = iwae_log_px(model, x, 200, generator=torch.Generator().manual_seed(0), precision="fp32")
    bf16 = iwae_log_px(model, x, 200, generator=torch.Generator().manual_seed(0), precision="bf16")
    assert abs(fp32.mean() - bf16.mean()) < 0.05


def test_bf16_decoder_follows_weight_updates(linear_gaussian):
    """The bf16 path decodes with a cached bf16 copy of the decoder; a step of training must refresh it."""
    model, x, _, _ = linear_gaussian
    model = copy.deepcopy(model)
    x = x[:200]

    def both():
        return [
            iwae_log_px(model, x, 50, generator=torch.Generator().manual_seed(0), precision=p).mean().item()
            for p in ("fp32", "bf16")
        ]

    before = both()
    with torch.no_grad():
        for p in model.decoder.parameters():
            p.mul_(1.5)  # in place, as an optimizer step is
    after = both()
    assert abs(after[0] - before[0]) > 1.0  # the change matters...
    assert abs(after[1] - after[0]) < 0.05  # ...and the bf16 estimate sees it


def test_autoencoder_has_no_likelihood_estimate():
    model = VAE(
        ModelConfig(latent_dim=2, architecture=MLPConfig(hidden=(4,)), autoencoder=True), Schema("vector", (3,))
    )
    with pytest.raises(ValueError, match="autoencoder"):
        iwae_log_px(model, torch.rand(4, 3), 10)


def test_active_units_and_kl_per_dim(linear_gaussian):
    model, x, _, _ = linear_gaussian
    d = latent_diagnostics(model, x)
    assert d["active_units"] == model.config.latent_dim == len(d["kl_per_dim"]) and all(k > 0 for k in d["kl_per_dim"])
    with torch.no_grad():
        enc = model.encoder.net[0]
        saved = enc.weight.clone()
        enc.weight[1] = 0  # dimension 1's mean no longer depends on x: an inactive unit
        d = latent_diagnostics(model, x)
        enc.weight.copy_(saved)
    assert d["active_units"] == 1 and d["posterior_mean_variance"][1] < 1e-12
