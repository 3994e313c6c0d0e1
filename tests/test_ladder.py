"""The two-level (ladder-style) model: its importance weights are exact on a linear-Gaussian hierarchy, its
closed-form KL matches its sampled log-ratios, and every user operation works on it."""

import math

import pytest
import torch
from torch import nn
from torch.distributions import MultivariateNormal

from vaekit import VAE
from vaekit import load as load_model
from vaekit.core.likelihoods import GaussianConfig
from vaekit.data.schema import Schema
from vaekit.inference.estimators import iwae_log_px, latent_diagnostics
from vaekit.models.module import PRESET_TRAINING, PRESETS, ModelConfig
from vaekit.nn import MLPConfig, ResConvConfig
from vaekit.training import train
from vaekit.training.loop import elbo_stats

DX, D1, D2 = 5, 3, 2
NOISE_VAR = 0.5


@pytest.fixture(scope="module")
def linear_hierarchy():
    """z2 ~ N(0, I), z1 | z2 ~ N(A z2 + c, diag(s1)), x | z1 ~ N(W z1 + b, NOISE_VAR I): x is Gaussian with
    covariance W (A A^T + diag(s1)) W^T + NOISE_VAR I. W has orthogonal columns, so the ladder's precision-weighted
    q(z1|x, z2) can be exact; q(z2|x) has the exact posterior mean and a deliberately too wide variance."""
    g = torch.Generator().manual_seed(0)
    a, c = torch.randn(D1, D2, generator=g), torch.randn(D1, generator=g)
    s1 = torch.rand(D1, generator=g) + 0.3
    q_cols = torch.linalg.qr(torch.randn(DX, D1, generator=g))[0]
    col_scale = torch.tensor([2.0, 1.0, 0.5])
    w, b = q_cols * col_scale, torch.randn(DX, generator=g)
    torch.manual_seed(0)
    model = VAE(
        ModelConfig(latent_dim=D1, top_latent_dim=D2, architecture=MLPConfig(hidden=()), likelihood=GaussianConfig()),
        Schema("vector", (DX,)),
    ).eval()
    model.top_down = nn.Linear(D2, 2 * D1)  # a linear top-down path makes the marginal exact
    c_x = w @ torch.diag(s1) @ w.T + NOISE_VAR * torch.eye(DX)  # covariance of x given z2
    wa = w @ a
    post2_cov = torch.linalg.inv(torch.eye(D2) + wa.T @ torch.linalg.solve(c_x, wa))
    gain2 = post2_cov @ wa.T @ torch.linalg.inv(c_x)  # E[z2|x] = gain2 (x - W c - b)
    with torch.no_grad():
        dec = model.decoder.net[0]
        dec.weight.zero_(), dec.bias.zero_()
        dec.weight[:DX], dec.bias[:DX], dec.bias[DX:] = w, b, math.log(NOISE_VAR)
        td = model.top_down
        td.weight.zero_(), td.bias.zero_()
        td.weight[:D1], td.bias[:D1], td.bias[D1:] = a, c, torch.log(s1)
        enc = model.encoder.net[0]
        enc.weight.zero_(), enc.bias.zero_()
        # level 1: the message from x about z1, mean (W^T W)^-1 W^T (x - b), variance NOISE_VAR / scale^2
        enc.weight[:D1] = (w / col_scale**2).T
        enc.bias[:D1] = -(w / col_scale**2).T @ b
        enc.bias[D1 : 2 * D1] = torch.log(NOISE_VAR / col_scale**2)
        # level 2: q(z2|x)
        enc.weight[2 * D1 : 2 * D1 + D2] = gain2
        enc.bias[2 * D1 : 2 * D1 + D2] = -gain2 @ (w @ c + b)
        enc.bias[2 * D1 + D2 :] = torch.log(torch.diagonal(post2_cov)) + 1.0
    marginal = MultivariateNormal(w @ c + b, w @ (a @ a.T + torch.diag(s1)) @ w.T + NOISE_VAR * torch.eye(DX))
    x = marginal.sample((500,))
    return model, x, marginal.log_prob(x).double()


def test_iwae_converges_to_the_exact_log_likelihood_of_a_two_level_model(linear_hierarchy):
    model, x, exact = linear_hierarchy
    errors = [
        (exact - iwae_log_px(model, x, k, generator=torch.Generator().manual_seed(k))).mean().item()
        for k in (1, 30, 3000)
    ]
    assert errors[0] > errors[1] > errors[2] > -0.005  # a lower bound that tightens with K
    assert errors[0] > 0.1 and abs(errors[2]) < 0.01


def test_sampled_log_ratios_average_to_minus_the_closed_form_kl(linear_hierarchy):
    model, x, _ = linear_hierarchy
    with torch.no_grad():
        latents = model.sample_latents(model.encode_levels(x[:20]), (20000,), torch.Generator().manual_seed(0))
    assert latents.z.shape == (20000, 20, D1) and latents.log_ratio.shape == (20000, 20)
    standard_error = latents.log_ratio.std(0) / math.sqrt(20000)
    assert bool(((-latents.log_ratio.mean(0) - latents.kl()).abs() < 4.5 * standard_error).all())
    elbo = elbo_stats(model, x, seed=0)["elbo"]
    iwae = iwae_log_px(model, x, 50, generator=torch.Generator().manual_seed(1)).mean().item()
    assert iwae > elbo


def image_ladder():
    torch.manual_seed(0)
    cfg = ModelConfig(latent_dim=6, top_latent_dim=3, architecture=ResConvConfig(channels=4, hidden=16))
    return VAE(cfg, Schema("image", (1, 28, 28)))


def test_every_user_operation_works_on_two_levels(tmp_path):
    model = image_ladder().eval()
    x = torch.rand(5, 1, 28, 28)
    assert model.encode(x).mean.shape == (5, 6)  # the code the decoder reads: z1
    means, kl = model.latent_stats(x)
    assert means.shape == kl.shape == (5, 9) and bool((kl >= 0).all())  # z2's dims, then z1's
    assert model.total_latent_dim == 9
    assert model.sample(4, seed=0).shape == (4, 1, 28, 28)
    assert torch.equal(model.sample(4, seed=3), model.sample(4, seed=3))
    assert model.reconstruct(x).shape == (5, 1, 28, 28)
    assert model.interpolate(x[0], x[1], steps=4).shape == (4, 1, 28, 28)
    assert model.traverse([0, 5], steps=3).shape == (2, 3, 1, 28, 28)
    diag = latent_diagnostics(model, x)
    assert len(diag["kl_per_dim"]) == 9
    model.save(tmp_path / "run")
    loaded = load_model(tmp_path / "run")
    assert loaded.config.top_latent_dim == 3
    torch.testing.assert_close(loaded.reconstruct(x), model.reconstruct(x))


def test_two_levels_refuse_an_autoencoder():
    with pytest.raises(ValueError, match="top latent level"):
        VAE(ModelConfig(top_latent_dim=2, autoencoder=True), Schema("vector", (4,)))


def test_ladder_preset_trains_with_both_objectives(mnist):
    for objective in ("elbo", "iwae"):
        model = train(mnist, preset="ladder", subset=300, epochs=2, batch_size=50, objective=objective, iw_samples=3)
        first, last = model.history[0], model.history[-1]
        assert last["elbo"] > first["elbo"] and all(math.isfinite(r["kl"]) for r in model.history)
        x = mnist.splits["test"][:40]
        assert iwae_log_px(model, x, 8, generator=torch.Generator().manual_seed(0)).shape == (40,)


def test_best_preset_brings_its_training_defaults_and_explicit_options_win(mnist):
    assert PRESETS["best"].architecture.kind == "resconv"
    assert PRESET_TRAINING["best"] == {"epochs": 40, "time_limit": 60.0}
    model = train(mnist, preset="best", subset=100, epochs=1, batch_size=50)
    options = model.run_config["training"]["options"]
    assert options["epochs"] == 1 and options["time_limit"] == 60.0
