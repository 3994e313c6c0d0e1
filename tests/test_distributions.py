"""Loss terms against closed forms from torch.distributions, and gradients through the reparameterization."""

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli as TorchBernoulli
from torch.distributions import Normal, kl_divergence

from vaekit.core.distributions import DiagonalGaussian, PointMass
from vaekit.core.likelihoods import Bernoulli, Gaussian, GaussianConfig
from vaekit.core.losses import elbo_loss


@pytest.fixture
def params():
    g = torch.Generator().manual_seed(0)
    return torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)


def test_kl_matches_torch_distributions(params):
    mean, logvar = params
    q = DiagonalGaussian(mean, logvar)
    expected = kl_divergence(Normal(mean, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(q.kl(), expected)
    torch.testing.assert_close(q.kl_per_dim().sum(-1), q.kl())


def test_posterior_log_prob_matches_normal(params):
    mean, logvar = params
    q = DiagonalGaussian(mean, logvar)
    z = torch.randn(5, 7)
    torch.testing.assert_close(q.log_prob(z), Normal(mean, q.stddev).log_prob(z).sum(-1))


def test_bernoulli_log_prob_matches_torch():
    logits = torch.randn(4, 1, 3, 3)
    x = torch.randint(0, 2, (4, 1, 3, 3)).float()
    expected = TorchBernoulli(logits=logits).log_prob(x).flatten(1).sum(-1)
    torch.testing.assert_close(Bernoulli(logits).log_prob(x), expected)
    torch.testing.assert_close(Bernoulli(logits).mean, torch.sigmoid(logits))
    mask = (torch.rand(4, 1, 3, 3) < 0.5).float()
    per_value = TorchBernoulli(logits=logits).log_prob(x)
    torch.testing.assert_close(Bernoulli(logits).log_prob(x, mask), (per_value * mask).flatten(1).sum(-1))
    soft = torch.rand(4, 1, 3, 3)  # targets in [0, 1] (non-binarized images): x log p + (1 - x) log (1 - p)
    expected = (soft * F.logsigmoid(logits) + (1 - soft) * F.logsigmoid(-logits)).flatten(1).sum(-1)
    torch.testing.assert_close(Bernoulli(logits).log_prob(soft), expected)


def test_gaussian_log_prob_matches_torch_and_mask_drops_entries():
    loc, logvar, x = torch.randn(3, 6), torch.randn(3, 6), torch.randn(3, 6)
    lik = Gaussian(loc, logvar)
    per_value = Normal(loc, (0.5 * logvar).exp()).log_prob(x)
    torch.testing.assert_close(lik.log_prob(x), per_value.sum(-1))
    mask = (torch.arange(6) % 2 == 0).float().expand(3, 6)
    torch.testing.assert_close(lik.log_prob(x, mask), (per_value * mask).sum(-1))


def test_gaussian_config_returns_data_units():
    out = torch.zeros(2, 2 * 3)  # standardized mean 0, raw logvar 0
    shift, scale = torch.tensor([1.0, 2.0, 3.0]), torch.tensor([10.0, 1.0, 0.5])
    lik = GaussianConfig().build(out, shift, scale)
    torch.testing.assert_close(lik.mean, shift.expand(2, 3))
    torch.testing.assert_close(lik.stddev, scale.expand(2, 3), rtol=1e-4, atol=1e-4)


def test_gaussian_logvar_is_bounded():
    cfg = GaussianConfig(min_logvar=-5.0, max_logvar=3.0)
    out = torch.cat([torch.zeros(1, 2), torch.tensor([[-100.0, 100.0]])], dim=1)
    logvar = cfg.build(out, torch.zeros(2), torch.ones(2)).logvar
    assert logvar[0, 0] >= -5.0 - 1e-5 and logvar[0, 1] <= 3.0 + 1e-5


def test_gradient_flows_through_reparameterization(params):
    mean, logvar = (p.clone().requires_grad_() for p in params)
    z = DiagonalGaussian(mean, logvar).rsample(torch.Generator().manual_seed(1))
    (z**2).sum().backward()
    assert mean.grad is not None and mean.grad.abs().sum() > 0
    assert logvar.grad is not None and logvar.grad.abs().sum() > 0


def test_rsample_distribution_moments():
    q = DiagonalGaussian(torch.full((20000, 1), 2.0), torch.full((20000, 1), 2 * torch.log(torch.tensor(3.0))))
    z = q.rsample(torch.Generator().manual_seed(0))
    assert abs(z.mean().item() - 2.0) < 0.1 and abs(z.std().item() - 3.0) < 0.1


def test_point_mass_is_deterministic_with_zero_kl():
    m = torch.randn(3, 4)
    q = PointMass(m)
    assert torch.equal(q.rsample(), m) and torch.equal(q.kl(), torch.zeros(3))


def test_elbo_loss_combines_terms(params):
    mean, logvar = params
    q = DiagonalGaussian(mean, logvar)
    lik = Bernoulli(torch.randn(5, 10))
    x = torch.randint(0, 2, (5, 10)).float()
    out = elbo_loss(x, q, lik, beta=0.5)
    torch.testing.assert_close(out.reconstruction, lik.log_prob(x))
    torch.testing.assert_close(out.elbo, out.reconstruction - q.kl())
    torch.testing.assert_close(out.loss, -(out.reconstruction - 0.5 * q.kl()).mean())
