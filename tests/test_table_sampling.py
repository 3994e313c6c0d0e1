"""Table likelihoods draw rows spread like the distribution (``sample``) and give the most probable row (``mode``)."""

from __future__ import annotations

import math

import pytest
import torch

from vaekit.core.likelihoods import (
    Bernoulli,
    Gaussian,
    GaussianConfig,
    Mixed,
    MixedConfig,
    StudentT,
    StudentTConfig,
)

N = 10_000
CITY = torch.tensor([0.40, 0.35, 0.25])  # "Berlin", "Paris", "Rome"


def frequencies(codes: torch.Tensor, k: int) -> torch.Tensor:
    """Share of each category 0..k-1 among integer-valued codes (any shape). (k,)"""
    assert torch.equal(codes, codes.round()) and codes.min() >= 0 and codes.max() < k
    return torch.bincount(codes.long().flatten(), minlength=k).double() / codes.numel()


def city_table(n: int = N) -> Mixed:
    """n rows of a table (income numeric, city categorical, age numeric, member categorical of 2)."""
    loc = torch.tensor([3.0, 40.0]).expand(n, 2)
    logvar = torch.log(torch.tensor([4.0, 0.25])).expand(n, 2)  # std 2 and 0.5
    logits = torch.cat([CITY.log() + 1.7, torch.tensor([0.0, math.log(9.0)])]).expand(n, 5)  # member: 0.1 / 0.9
    return Mixed(loc, logvar, logits, cardinalities=(0, 3, 0, 2))


def test_categorical_draws_follow_the_softmax():
    """Guards `sample` on a table returning the most probable city (8 of 10 Berlin where the data has 40 %)."""
    rows = city_table().sample(torch.Generator().manual_seed(0))
    assert rows.shape == (N, 4)
    assert torch.allclose(frequencies(rows[:, 1], 3), CITY.double(), atol=0.02)
    assert torch.allclose(frequencies(rows[:, 3], 2), torch.tensor([0.1, 0.9], dtype=torch.float64), atol=0.02)


def test_numeric_draws_have_the_gaussian_mean_and_std():
    rows = city_table().sample(torch.Generator().manual_seed(1))
    income, age = rows[:, 0], rows[:, 2]  # numeric columns stay in their table position
    assert abs(income.mean() - 3.0) < 0.06 and abs(income.std() - 2.0) < 0.05
    assert abs(age.mean() - 40.0) < 0.015 and abs(age.std() - 0.5) < 0.0125


def test_mode_is_the_most_probable_row():
    table = city_table(5)
    expected = torch.tensor([3.0, 0.0, 40.0, 1.0]).expand(5, 4)
    assert torch.equal(table.mode, expected)
    assert torch.equal(table.mean, expected)  # codes have no mean: a categorical column's mean is its mode


def test_draws_are_reproducible_per_seed_and_differ_between_seeds():
    table = city_table(200)
    a, b = (table.sample(torch.Generator().manual_seed(7)) for _ in range(2))
    c = table.sample(torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_mixed_config_builds_draws_in_data_units():
    """The decoder output layout (means, log-variances, then logits) and the un-standardization reach `sample`."""
    cfg = MixedConfig(cardinalities=(3, 0))  # a categorical column first, then a numeric one
    out = torch.cat([torch.tensor([0.5, math.log(0.25)]), CITY.log()]).expand(N, 5)  # standardized mean 0.5, std 0.5
    shift, scale = torch.tensor([0.0, 100.0]), torch.tensor([1.0, 10.0])
    p = cfg.build(out, shift, scale)
    rows = p.sample(torch.Generator().manual_seed(2))
    assert torch.allclose(frequencies(rows[:, 0], 3), CITY.double(), atol=0.02)
    assert abs(rows[:, 1].mean() - 105.0) < 0.15 and abs(rows[:, 1].std() - 5.0) < 0.125
    assert torch.equal(p.mode[0], torch.tensor([0.0, 105.0]))


def test_categorical_draws_with_sample_dimensions():
    """Logits with leading sample dimensions (K, N, ...) draw one category per (k, n)."""
    logits = CITY.log().expand(20, 500, 3)
    p = Mixed(torch.zeros(20, 500, 0), torch.zeros(20, 500, 0), logits, cardinalities=(3,))
    rows = p.sample(torch.Generator().manual_seed(3))
    assert rows.shape == (20, 500, 1)
    assert torch.allclose(frequencies(rows, 3), CITY.double(), atol=0.02)


@pytest.mark.parametrize("kind", ["gaussian", "studentt"])
def test_numeric_table_likelihoods_sample_and_mode(kind: str):
    """Tables without categorical columns: Gaussian or Student-t per column, built from decoder output."""
    if kind == "gaussian":
        out = torch.tensor([0.2, -0.3, math.log(0.09), math.log(0.04)]).expand(N, 4)  # std 0.3 and 0.2
        p = GaussianConfig().build(out, torch.tensor([1.0, -2.0]), torch.tensor([10.0, 1.0]))
        assert isinstance(p, Gaussian)
        std = torch.tensor([3.0, 0.2])
    else:
        raw_df = math.log(math.expm1(8.0))  # softplus -> df = 2 + 8 = 10
        out = torch.tensor([0.2, -0.3, math.log(0.09), math.log(0.04), raw_df, raw_df]).expand(N, 6)
        p = StudentTConfig().build(out, torch.tensor([1.0, -2.0]), torch.tensor([10.0, 1.0]))
        assert isinstance(p, StudentT)
        std = torch.tensor([3.0, 0.2]) * math.sqrt(10 / 8)
    loc = torch.tensor([3.0, -2.3])
    assert torch.allclose(p.mode, loc.expand(N, 2)) and torch.allclose(p.mean, p.mode)
    assert torch.allclose(p.stddev[0], std, rtol=1e-5)
    draws = p.sample(torch.Generator().manual_seed(4))
    assert draws.shape == (N, 2)
    assert torch.all((draws.mean(0) - loc).abs() < 4 * std / math.sqrt(N))
    assert torch.allclose(draws.std(0), std, rtol=0.05)


def test_bernoulli_mode_thresholds_the_mean():
    p = Bernoulli(torch.tensor([[-2.0, 0.5, 3.0]]))
    assert torch.equal(p.mode, torch.tensor([[0.0, 1.0, 1.0]]))
    draws = Bernoulli(torch.full((N,), math.log(0.3 / 0.7)), event_dims=0).sample(torch.Generator().manual_seed(5))
    assert abs(draws.mean() - 0.3) < 0.02
