"""Imputation: on a linear-Gaussian model the conditional distribution of the missing entries is known exactly."""

import pytest
import torch

from vaekit.errors import DataError
from vaekit.inference.imputation import impute, observed_mask


def exact_conditional(marginal, x, observed):
    """E[x_m | x_o] and the conditional variances of a Gaussian, row by row (every row has its own pattern)."""
    mean, cov = marginal.loc.double(), marginal.covariance_matrix.double()
    out_mean, out_var = x.double().clone(), torch.zeros_like(x, dtype=torch.float64)
    for i in range(len(x)):
        o, m = observed[i], ~observed[i]
        gain = cov[m][:, o] @ torch.linalg.inv(cov[o][:, o])
        out_mean[i, m] = mean[m] + gain @ (x[i, o].double() - mean[o])
        out_var[i, m] = torch.diagonal(cov[m][:, m] - gain @ cov[o][:, m])
    return out_mean, out_var


@pytest.fixture(scope="module")
def missing(linear_gaussian):
    """400 rows of the model's own data with 2 of 5 entries removed at random in each row."""
    model, x, _, marginal = linear_gaussian
    x = x[:400]
    g = torch.Generator().manual_seed(1)
    order = torch.rand(x.shape, generator=g).argsort(1)
    observed = order >= 2
    holed = torch.where(observed, x, torch.nan)
    return model, x, holed, observed, exact_conditional(marginal, x, observed)


@pytest.mark.parametrize("refine", [0, 30])
def test_conditional_mean_converges_to_the_exact_one(missing, refine):
    model, x, holed, observed, (exact, _) = missing
    errors = []
    for k in (1, 30, 8000):
        r = impute(model, holed, k=k, refine=refine, generator=torch.Generator().manual_seed(k))
        errors.append((r.mean.double() - exact)[~observed].abs().mean().item())
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.02, errors  # the missing entries themselves vary with std ~ 1
    truth = (x.double() - exact)[~observed].abs().mean().item()
    assert errors[2] < 0.05 * truth  # far nearer the conditional mean than any single value is


def test_observed_entries_are_returned_unchanged_and_nan_marks_the_missing(missing):
    model, x, holed, observed, _ = missing
    r = impute(model, holed, k=10, draws=3)
    assert torch.equal(r.mask, observed)
    assert torch.equal(r.mean[observed], x[observed]) and torch.isfinite(r.mean).all()
    assert r.draws.shape == (3, *x.shape)
    assert all(torch.equal(d[observed], x[observed]) for d in r.draws)
    assert ((r.ess >= 1 - 1e-6) & (r.ess <= 10 + 1e-6)).all()


def test_multiple_imputations_cover_the_truth_at_the_nominal_rate(missing):
    model, x, holed, observed, (exact, var) = missing
    r = impute(model, holed, k=1000, draws=200, generator=torch.Generator().manual_seed(0))
    lo, hi = r.draws.quantile(0.05, dim=0), r.draws.quantile(0.95, dim=0)
    covered = ((x >= lo) & (x <= hi))[~observed].double().mean().item()
    assert 0.85 < covered < 0.95, covered  # 800 missing values: the 90 % intervals hold 90 % of them
    spread = r.draws.double().var(0)[~observed]
    assert spread.mean().item() == pytest.approx(var[~observed].mean().item(), rel=0.15)


def test_same_seed_same_result_and_an_explicit_mask(missing):
    model, x, holed, observed, _ = missing
    a = impute(model, holed, k=50, draws=2, generator=torch.Generator().manual_seed(3))
    b = impute(model, x, observed, k=50, draws=2, generator=torch.Generator().manual_seed(3))  # same holes
    assert torch.equal(a.mean, b.mean) and torch.equal(a.draws, b.draws)
    c = impute(model, holed, k=50, generator=torch.Generator().manual_seed(4))
    assert not torch.equal(a.mean, c.mean)


def test_a_fully_missing_row_gets_the_model_mean_and_a_full_row_stays(linear_gaussian):
    model, x, _, marginal = linear_gaussian
    rows = torch.stack([torch.full((5,), torch.nan), x[0]])
    r = impute(model, rows, k=4000, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(r.mean[0], marginal.loc, atol=0.1)
    assert torch.equal(r.mean[1], x[0])


def test_masks_broadcast_per_sample_and_a_wrong_shape_is_refused():
    x = torch.zeros(4, 1, 3, 3)
    one = torch.ones(1, 3, 3, dtype=torch.bool)
    one[0, 0, 0] = False
    assert observed_mask(x, one).shape == x.shape and observed_mask(x, one).sum() == 4 * 8
    assert observed_mask(x, one[0]).sum() == 4 * 8  # (H, W) for single-channel images
    with pytest.raises(DataError, match=r"mask has shape \(2, 2\), expected"):
        observed_mask(x, torch.ones(2, 2))


def test_model_impute_accepts_numpy_with_nan(missing):
    model, x, holed, observed, _ = missing
    r = model.impute(holed.numpy(), k=20, seed=5)
    assert torch.equal(r.mean[observed], x[observed]) and torch.isfinite(r.mean).all()
    with pytest.raises(DataError, match="infinite"):
        model.impute(torch.full((2, 5), torch.inf))


def test_rows_whose_weights_collapse_are_imputed_again_with_more_samples(missing, monkeypatch):
    import copy

    from vaekit.inference import imputation

    model, x, holed, observed, _ = missing
    sure = copy.deepcopy(model)  # an encoder far too sure of itself: a poor proposal, collapsing weights
    dz = model.config.latent_dim
    with torch.no_grad():
        sure.encoder.net[0].bias[dz:] -= 6.0
    adapted = impute(sure, holed, k=40, generator=torch.Generator().manual_seed(0))
    again = adapted.k == imputation.ADAPT * 40
    assert again.any() and set(adapted.k.unique().tolist()) <= {40, imputation.ADAPT * 40}
    assert torch.equal(adapted.mean[observed], x[observed])
    monkeypatch.setattr(imputation, "ADAPT", 1)
    plain = impute(sure, holed, k=40, generator=torch.Generator().manual_seed(0))
    assert (plain.k == 40).all()
    assert adapted.ess[again].mean() > 1.5 * plain.ess[again].mean()
