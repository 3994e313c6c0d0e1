"""Tables with missing values and categorical columns: training on the holes, the mask, types, `vaekit impute`.

One small mixed table (numeric, text, boolean and integer-code columns, 15 % of its cells empty) is trained on
once for the module; the tests only read that run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from test_cli import ok, refused, snapshot

import vaekit
from vaekit import VAE
from vaekit.core.likelihoods import GaussianConfig, MixedConfig
from vaekit.core.losses import elbo_loss
from vaekit.data import load_dataset
from vaekit.data.schema import Dataset, Schema
from vaekit.errors import DataError
from vaekit.models.module import ModelConfig
from vaekit.nn import MLPConfig

COLORS = ("blue", "green", "red")


def mixed_frame(n: int = 240, seed: int = 0, missing: float = 0.15) -> pd.DataFrame:
    """a ~ N(0, 1), b = 2a + noise, color by the sign of a, flag = a > 0.5, k in {0, 1, 2} (integer codes)."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "a": a,
            "b": 2 * a + 0.1 * rng.normal(size=n),
            "color": np.where(a > 0.3, "red", np.where(a < -0.3, "blue", "green")),
            "flag": a > 0.5,
            "k": rng.integers(0, 3, n),
        }
    )
    holes = rng.random(frame.shape) < missing
    holes[:, 0] &= ~holes[:, 1]  # keep a or b in every row
    return frame.mask(holes)


@pytest.fixture(scope="module")
def mixed_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("mixed") / "data.csv"
    mixed_frame().to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def mixed_run(tmp_path_factory, mixed_csv) -> Path:
    run = tmp_path_factory.mktemp("mixedrun") / "RUN"
    options = ("--epochs", 30, "--lr", 3e-3, "--latent-dim", 2, "--hidden", 32, "--categorical", "k", "-q")
    ok("train", mixed_csv, "--out", run, *options)
    return run


@pytest.fixture
def here(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def numeric_model(d: int = 4, seed: int = 0) -> VAE:
    torch.manual_seed(seed)
    cfg = ModelConfig(latent_dim=2, architecture=MLPConfig(hidden=(16,)), likelihood=GaussianConfig(), mask_input=True)
    return VAE(cfg, Schema("table", (d,), columns=tuple("abcd"[:d]))).eval()


# -- training on the holes ---------------------------------------------------------------------------------------
def test_the_loss_ignores_missing_entries_whatever_their_value():
    model = numeric_model()
    x = torch.randn(6, 4)
    observed = torch.rand(6, 4) > 0.3
    holed = torch.where(observed, x, torch.nan)
    losses = []
    for fill in (torch.nan, 0.0, 1e6):
        xb = torch.where(observed, x, fill)
        levels = model.encode_levels(xb, observed)
        latents = model.sample_latents(levels, (), torch.Generator().manual_seed(0))
        out = elbo_loss(xb, latents, model.decode(latents.z), mask=observed)
        losses.append(out.loss.item())
    assert losses[0] == pytest.approx(losses[1], abs=1e-6) and losses[0] == pytest.approx(losses[2], abs=1e-6)
    # NaN alone marks the missing entries (no mask), and no NaN reaches the gradients
    model.train()
    latents, likelihood = model(holed, torch.Generator().manual_seed(0))
    loss = elbo_loss(holed, latents, likelihood).loss
    assert math.isfinite(loss.item())
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_the_encoder_reads_the_mask():
    model = numeric_model()
    x = torch.randn(5, 4)
    full = model.encode(x).mean
    hidden = torch.ones(5, 4, dtype=torch.bool)
    hidden[:, 2] = False
    assert not torch.allclose(model.encode(x, hidden).mean, full)  # same values, another mask: another code
    holed = x.clone()
    holed[:, 2] = torch.nan
    assert torch.allclose(model.encode(holed).mean, model.encode(x, hidden).mean)  # NaN == masked out


def test_training_on_a_table_with_holes_uses_nan_aware_statistics():
    x = torch.randn(300, 3) * torch.tensor([1.0, 10.0, 0.1]) + torch.tensor([0.0, 50.0, -3.0])
    holed = torch.where(torch.rand(300, 3, generator=torch.Generator().manual_seed(0)) < 0.3, torch.nan, x)
    data = Dataset({"all": holed}, Schema("table", (3,), columns=("a", "b", "c")))
    model = vaekit.train(data, epochs=3, latent_dim=2, hidden=(16,), val_fraction=0.2, seed=1)
    assert model.config.mask_input and all(math.isfinite(r["val_elbo"]) for r in model.history)
    assert torch.allclose(model.shift, torch.tensor([0.0, 50.0, -3.0]), atol=1.5)
    assert torch.allclose(model.scale, torch.tensor([1.0, 10.0, 0.1]), rtol=0.2)
    again = vaekit.train(data, epochs=3, latent_dim=2, hidden=(16,), val_fraction=0.2, seed=1)
    assert torch.equal(model.sample(5, seed=0), again.sample(5, seed=0))  # same seed, same model


# -- column types ------------------------------------------------------------------------------------------------
def test_column_types_are_inferred_and_can_be_overridden(mixed_csv):
    d = load_dataset(mixed_csv)
    assert d.schema.column_types == ("numeric", "numeric", "categorical", "categorical", "numeric")
    assert d.schema.categories == {"color": COLORS, "flag": ("False", "True")}
    x = d.splits["all"]
    assert set(x[:, 2][~torch.isnan(x[:, 2])].tolist()) == {0.0, 1.0, 2.0}
    d = load_dataset(mixed_csv, categorical=["k"], numeric=["flag"])
    assert d.schema.column_types == ("numeric", "numeric", "categorical", "numeric", "categorical")
    assert d.schema.categories == {"color": COLORS, "k": ("0", "1", "2")}
    with pytest.raises(DataError, match=r"--categorical names column\(s\) \['nope'\]"):
        load_dataset(mixed_csv, categorical=["nope"])
    with pytest.raises(DataError, match=r"\['k'\] are named in both"):
        load_dataset(mixed_csv, categorical=["k"], numeric=["k"])
    with pytest.raises(DataError, match=r"column 'color' .* is numeric but holds '(red|blue|green)'"):
        load_dataset(mixed_csv, numeric=["color"])


def test_cli_type_options(mixed_csv, here):
    refused("train", mixed_csv, "--out", "R", "--numeric", "color", match="column 'color'")
    refused("train", "mnist", "--out", "R", "--categorical", "a", match="apply to .csv")
    refused("train", mixed_csv, "--out", "R", "--likelihood", "gaussian", match="categorical columns need")
    assert not (here / "R" / "config.json").exists()


# -- a mixed run ---------------------------------------------------------------------------------------------------
def test_mixed_run_stores_its_schema_and_writes_category_names(mixed_run, mixed_csv, here):
    cfg = json.loads((mixed_run / "config.json").read_text())
    assert cfg["schema"]["column_types"] == ["numeric", "numeric", "categorical", "categorical", "categorical"]
    assert cfg["schema"]["categories"] == {"color": list(COLORS), "flag": ["False", "True"], "k": ["0", "1", "2"]}
    assert cfg["likelihood"]["kind"] == "mixed" and cfg["likelihood"]["cardinalities"] == [0, 0, 3, 2, 3]
    model = vaekit.load(mixed_run)
    assert model.schema.categories["color"] == COLORS and model.config.mask_input
    ok("sample", mixed_run, "--n", 50, "--out", "s.csv")
    ok("reconstruct", mixed_run, "--n", 20, "--out", "r.csv")
    ok("encode", mixed_run, "--out", "z.csv")
    ok("decode", mixed_run, "z.csv", "--out", "d.csv")
    for name in ("s.csv", "r.csv", "d.csv"):
        t = pd.read_csv(here / name)
        assert list(t.columns) == ["a", "b", "color", "flag", "k"] and not t.isna().any().any()
        assert set(t["color"]) <= set(COLORS) and set(t["flag"]) <= {True, False} and set(t["k"]) <= {0, 1, 2}
    ok("report", mixed_run, "--out", "report.html")
    assert "<td>red</td>" in (here / "report.html").read_text() or "<td>blue</td>" in (here / "report.html").read_text()
    ok("evaluate", mixed_run, "--iw-samples", 10)  # the held-out rows have holes: scores cover observed cells
    e = json.loads((mixed_run / "eval.json").read_text())
    assert math.isfinite(e["elbo"]) and math.isfinite(e["iwae"])
    ok("anomaly", "score", mixed_run, "--out", "scores.csv", "--score", "elbo,iwae,recon", "--iw-samples", 10)
    scores = pd.read_csv(here / "scores.csv")
    assert len(scores) == 240 and np.isfinite(scores.filter(like="score").to_numpy()).all()
    # the model learned the relation: red where a is large
    filled = vaekit.impute_frame(
        model,
        pd.DataFrame({"a": [2.0, -2.0], "b": [4.0, -4.0], "color": [None, None], "flag": [None, None], "k": [0, 1]}),
    )
    assert filled["color"].tolist() == ["red", "blue"] and filled["k"].tolist() == [0, 1]


def test_impute_fills_every_hole_and_keeps_observed_cells(mixed_run, mixed_csv, here):
    result = ok("impute", mixed_run, "--data", mixed_csv, "--out", "filled.csv")
    assert "missing cells" in result.stdout
    original, filled = pd.read_csv(mixed_csv), pd.read_csv(here / "filled.csv")
    assert list(filled.columns) == list(original.columns) and len(filled) == len(original)
    assert not filled.isna().any().any()
    observed = original.notna()
    for c in original.columns:
        assert (filled[c][observed[c]] == original[c][observed[c]]).all(), c  # exactly, not rounded
    assert set(filled["color"]) == set(COLORS)
    # same seed, same table; the default data is the run's own table
    ok("impute", mixed_run, "--out", "again.csv")
    assert (here / "again.csv").read_bytes() == (here / "filled.csv").read_bytes()


def test_multiple_imputation_is_one_long_table(mixed_run, mixed_csv, here):
    ok("impute", mixed_run, "--data", mixed_csv, "--out", "draws.csv", "--draws", 4, "--seed", 3)
    original, draws = pd.read_csv(mixed_csv), pd.read_csv(here / "draws.csv")
    assert list(draws.columns) == ["draw", *original.columns] and len(draws) == 4 * len(original)
    assert draws["draw"].tolist() == [m for m in range(1, 5) for _ in range(len(original))]
    assert not draws.isna().any().any()
    parts = [draws[draws["draw"] == m].drop(columns="draw").reset_index(drop=True) for m in range(1, 5)]
    holes = original["a"].isna()
    assert (parts[0]["a"][~holes] == original["a"][~holes]).all()
    assert not np.allclose(parts[0]["a"][holes], parts[1]["a"][holes])  # the draws differ
    ok("impute", mixed_run, "--data", mixed_csv, "--out", "draws2.csv", "--draws", 4, "--seed", 3)
    assert (here / "draws2.csv").read_bytes() == (here / "draws.csv").read_bytes()


def test_impute_reordered_columns_and_empty_rows(mixed_run, mixed_csv, here):
    frame = pd.read_csv(mixed_csv).head(10)[["k", "color", "a", "flag", "b"]]
    frame.iloc[3] = None  # a row with nothing observed
    frame.to_csv(here / "in.csv", index=False)
    result = ok("impute", mixed_run, "--data", "in.csv", "--out", "out.csv")
    assert "1 rows had no observed value" in result.stdout
    out = pd.read_csv(here / "out.csv")
    assert list(out.columns) == ["k", "color", "a", "flag", "b"] and not out.isna().any().any()


# -- bad input: one line, nothing written --------------------------------------------------------------------------
def test_impute_refuses_bad_tables(mixed_run, mixed_csv, here):
    frame = pd.read_csv(mixed_csv).head(20)
    frame.drop(columns=["flag"]).to_csv(here / "missing.csv", index=False)
    frame.assign(extra=1.0).to_csv(here / "extra.csv", index=False)
    frame.assign(color=frame["color"].replace("red", "purple")).to_csv(here / "unknown.csv", index=False)
    frame.assign(a=frame["a"].where(frame.index != 4, np.inf)).to_csv(here / "inf.csv", index=False)
    before = snapshot(here, mixed_run)
    refused("impute", mixed_run, "--data", "missing.csv", "--out", "o.csv", match=r"missing \['flag'\]")
    refused("impute", mixed_run, "--data", "extra.csv", "--out", "o.csv", match=r"unexpected \['extra'\]")
    refused("impute", mixed_run, "--data", "unknown.csv", "--out", "o.csv", match=r"column 'color' .*'purple'")
    refused("impute", mixed_run, "--data", "inf.csv", "--out", "o.csv", match=r"infinite .*column 'a', row 5")
    refused("impute", mixed_run, "--data", "extra.csv", "--out", "extra.csv", "--overwrite", match="input")
    refused("impute", mixed_run, "--data", "extra.csv", "--out", "o.png", match=r"\.csv")
    refused("impute", mixed_run, "--data", "extra.csv", "--out", "o.csv", "--draws", -1, match="draws")
    assert snapshot(here, mixed_run) == before and not (here / "o.csv").exists()


def test_impute_needs_a_table_model(here):
    model = VAE(ModelConfig(latent_dim=2, architecture=MLPConfig(hidden=(8,))), Schema("image", (1, 4, 4)))
    with pytest.raises(vaekit.VaekitError, match="tables"):
        vaekit.impute_frame(model, pd.DataFrame({"a": [1.0]}))


def test_mixed_likelihood_pieces():
    cfg = MixedConfig(cardinalities=(0, 3, 0, 2))
    assert cfg.output_size == 2 * 2 + 3 + 2
    out = torch.randn(7, 5, cfg.output_size)
    lik = cfg.build(out, torch.zeros(4), torch.ones(4))
    x = torch.tensor([[0.5, 2.0, torch.nan, 1.0]] * 5)
    assert lik.log_prob(x).shape == (7, 5) and lik.mean.shape == (7, 5, 4) and lik.sample().shape == (7, 5, 4)
    probs = torch.softmax(out[..., 4:7], -1)
    expected = torch.log(probs[..., 2]) + torch.log_softmax(out[..., 7:9], -1)[..., 1]
    gauss = -0.5 * (math.log(2 * math.pi) + out[..., 2] + (0.5 - out[..., 0]) ** 2 * torch.exp(-out[..., 2]))
    assert torch.allclose(lik.log_prob(x), expected + gauss, atol=1e-5)
    w = torch.softmax(torch.randn(7, 5), 0)
    point = lik.mixture_point(w)
    assert point.shape == (5, 4)
    assert torch.equal(point[:, 1], torch.einsum("kn,knc->nc", w, probs).argmax(-1).float())


def test_a_table_bundle_from_before_column_types_still_loads(tmp_path):
    model = VAE(
        ModelConfig(latent_dim=2, architecture=MLPConfig(hidden=(8,)), likelihood=GaussianConfig()),
        Schema("table", (3,), columns=("a", "b", "c")),
    )
    model.save(tmp_path / "old")
    cfg = json.loads((tmp_path / "old" / "config.json").read_text())
    for key in ("column_types", "categories"):
        del cfg["schema"][key]
    del cfg["model"]["mask_input"]
    (tmp_path / "old" / "config.json").write_text(json.dumps(cfg))
    old = vaekit.load(tmp_path / "old")
    assert old.schema.cardinalities == (0, 0, 0) and not old.config.mask_input
    frame = pd.DataFrame({"c": [1.0, 2.0], "a": [None, 0.5], "b": [0.0, None]})
    filled = vaekit.impute_frame(old, frame)  # an old model imputes too (its encoder sees the filled-in values)
    assert list(filled.columns) == ["c", "a", "b"] and not filled.isna().any().any()


def test_the_table_preset(mixed_csv, here):
    ok("train", mixed_csv, "--out", "T", "--preset", "table", "--epochs", 2, "-q")
    cfg = json.loads((here / "T" / "config.json").read_text())
    assert cfg["model"]["architecture"] == {"kind": "mlp", "hidden": [512], "activation": "tanh"}
    options = cfg["training"]["options"]
    assert (options["objective"], options["iw_samples"], options["val_fraction"]) == ("iwae", 20, 0.0)


def test_student_t_likelihood_matches_torch_and_skips_missing():
    from vaekit.core.likelihoods import StudentTConfig

    torch.manual_seed(0)
    out = torch.randn(4, 9)  # 3 columns x (loc, logvar, df)
    shift, scale = torch.tensor([1.0, -2.0, 0.5]), torch.tensor([2.0, 0.5, 1.0])
    p = StudentTConfig().build(out, shift, scale)
    x = torch.randn(4, 3)
    ref = torch.distributions.StudentT(p.df, p.loc, torch.exp(p.log_scale)).log_prob(x).sum(-1)
    torch.testing.assert_close(p.log_prob(x), ref)
    holed = x.clone()
    holed[0, 1] = float("nan")
    expected = ref.clone()
    expected[0] -= torch.distributions.StudentT(p.df, p.loc, torch.exp(p.log_scale)).log_prob(x)[0, 1]
    torch.testing.assert_close(p.log_prob(holed), expected)
    a = p.sample(torch.Generator().manual_seed(3))
    b = p.sample(torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and not torch.equal(a, p.sample(torch.Generator().manual_seed(4)))
    assert bool((p.df > 2).all())


def test_sample_draws_rows_spread_like_the_data(mixed_run, here):
    """k is uniform over {0, 1, 2} and independent of the rest: drawn rows keep it near 1/3 each, while the most
    probable value (--mode, the old default) piles onto one code."""
    ok("sample", mixed_run, "--n", 3000, "--out", "drawn.csv")
    drawn = pd.read_csv("drawn.csv")
    share = drawn["k"].value_counts(normalize=True)
    assert len(share) == 3 and share.max() < 0.5, share.to_dict()
    assert set(drawn["color"].dropna()) <= set(COLORS) and drawn["color"].nunique() >= 2  # category names
    ok("sample", mixed_run, "--n", 3000, "--mode", "--out", "mode.csv")
    assert pd.read_csv("mode.csv")["k"].value_counts(normalize=True).max() > share.max()
    frame = vaekit.load(mixed_run).sample_frame(3000, seed=0)
    pd.testing.assert_frame_equal(frame.astype(str), drawn.astype(str))  # Python and the CLI draw the same rows
