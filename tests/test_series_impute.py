"""Gaps in time series: only the missing values before each series' end are filled, observed values come back as
given, the model's fill matches or beats linear interpolation on sine waves it was trained on, the CLI round trips
(wide CSV, .npy, .ts), and what does not apply is refused in one line."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from series_helpers import one_line, run_cli, sine_waves

import vaekit
from vaekit.data.schema import Dataset, Schema
from vaekit.data.series import read_ts
from vaekit.errors import DataError
from vaekit.inference.series_gaps import fill_gaps, gap_mask, linear_fill
from vaekit.models.module import ModelConfig
from vaekit.nn import FramesConfig

T = 32


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def sine_run(tmp_path_factory, one_torch_thread):
    root = tmp_path_factory.mktemp("sines")
    data = Dataset(splits={"train": torch.from_numpy(sine_waves(64, 0, noise=0.02))}, schema=Schema("series", (T, 1)))
    vaekit.train(data, out=root / "run", preset="series", epochs=15, seed=0, progress=False)
    return root / "run"


def holed(n: int = 8, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(truth, with a gap of 6 steps per series, the gap mask); the last series is shorter (end padding)."""
    truth = torch.from_numpy(sine_waves(n, seed, noise=0.02))
    truth[-1, 26:] = math.nan
    rng = np.random.default_rng(seed)
    mask = torch.zeros_like(truth, dtype=torch.bool)
    for i in range(n):
        begin = int(rng.integers(2, 18))
        mask[i, begin : begin + 6] = True
    return truth, truth.masked_fill(mask, math.nan), mask


def test_gaps_are_the_missing_values_before_the_end():
    x = torch.tensor([[1.0, math.nan, 3.0, math.nan, math.nan], [math.nan, 2.0, math.nan, 4.0, 5.0]])[..., None]
    gaps = gap_mask(x)[..., 0]
    assert gaps.tolist() == [[False, True, False, False, False], [True, False, True, False, False]]
    filled = linear_fill(x, gap_mask(x))[..., 0]
    assert filled[0, :3].tolist() == [1.0, 2.0, 3.0] and math.isnan(filled[0, 3]) and math.isnan(filled[0, 4])
    assert filled[1].tolist() == [2.0, 2.0, 3.0, 4.0, 5.0]  # before the first observed value: its nearest one


def test_fill_keeps_observed_values_and_the_end_padding(sine_run):
    model = vaekit.load(sine_run)
    truth, x, mask = holed()
    for method in ("elbo", "iterate", "linear"):
        r = fill_gaps(model, x, method, steps=5 if method != "linear" else None)
        observed = ~torch.isnan(x)
        assert torch.equal(r.values[observed], x[observed])  # exactly as given
        assert torch.equal(r.gaps, mask) and torch.isfinite(r.values[mask]).all()
        assert torch.isnan(r.values[-1, 26:]).all()  # the shorter series stays shorter
    a, b = fill_gaps(model, x, steps=5), fill_gaps(model, x, steps=5)
    assert torch.equal(a.values.nan_to_num(), b.values.nan_to_num())  # deterministic


def test_the_model_fill_matches_or_beats_linear_interpolation_on_sines(sine_run):
    model = vaekit.load(sine_run)
    truth, x, mask = holed(16, seed=2)  # 6 missing steps of a period of 16: linear interpolation cuts the arcs
    linear = fill_gaps(model, x, "linear").values
    elbo = fill_gaps(model, x).values  # the default: up the ELBO of the whole series
    mse = {name: float((v - truth)[mask].pow(2).mean()) for name, v in (("linear", linear), ("elbo", elbo))}
    assert mse["elbo"] <= mse["linear"], mse


def test_cli_round_trips_a_wide_csv_and_writes_npy_and_ts(sine_run, tmp_path):
    truth, x, mask = holed()
    table = pd.DataFrame(x[..., 0].numpy(), columns=[f"t{i}" for i in range(T)])
    table.to_csv(tmp_path / "gaps.csv", index=False)
    table = pd.read_csv(tmp_path / "gaps.csv")  # the cells as written
    code, text = run_cli("impute", sine_run, "--data", tmp_path / "gaps.csv", "--out", tmp_path / "filled.csv")
    assert code == 0 and "filled 48 missing values in 8 of 8 series (elbo" in text, text
    filled = pd.read_csv(tmp_path / "filled.csv")
    assert list(filled.columns) == list(table.columns) and filled.shape == table.shape
    seen = table.notna().to_numpy()
    np.testing.assert_array_equal(filled.to_numpy()[seen], table.to_numpy()[seen])  # observed cells as written
    assert filled.isna().sum().sum() == 6 and filled.iloc[-1, 26:].isna().all()  # the end padding stays empty
    code, text = run_cli("impute", sine_run, "--data", tmp_path / "gaps.csv", "--out", tmp_path / "f.npy", "--method",
                      "linear")  # fmt: skip
    assert code == 0 and "(linear)" in text, text
    values = np.load(tmp_path / "f.npy")
    assert values.shape == (8, T, 1) and np.isnan(values[-1, 26:]).all() and not np.isnan(values[:-1]).any()
    code, text = run_cli("impute", sine_run, "--data", tmp_path / "gaps.csv", "--out", tmp_path / "f.ts", "--method",
                      "linear")  # fmt: skip
    assert code == 0, text
    back = read_ts(tmp_path / "f.ts")
    assert len(back.series) == 8 and back.series[-1].shape == (26, 1)
    np.testing.assert_allclose(back.series[0], values[0], rtol=1e-6)
    code, text = run_cli("impute", sine_run, "--data", tmp_path / "f.ts", "--out", tmp_path / "again.csv")
    assert code == 0 and "filled 0 missing values" in text, text  # a .ts in; nothing left to fill
    assert list(pd.read_csv(tmp_path / "again.csv").columns) == ["series", "step", "x0"]


def test_refusals_are_one_line(sine_run, tmp_path):
    truth, x, mask = holed()
    pd.DataFrame(x[..., 0].numpy()).to_csv(tmp_path / "g.csv", index=False)
    code, text = run_cli("impute", sine_run, "--data", tmp_path / "g.csv", "--out", tmp_path / "f.csv", "--draws", 3)
    assert code == 2 and one_line(text) and "--draws applies to tables" in text, text
    code, text = run_cli("impute", sine_run, "--data", tmp_path / "g.csv", "--out", tmp_path / "f.csv", "--method",
                      "spline")  # fmt: skip
    assert code == 2 and one_line(text) and "expected one of elbo, iterate, linear" in text, text
    code, text = run_cli("impute", sine_run, "--data", tmp_path / "g.csv", "--out", tmp_path / "g.csv", "--overwrite")
    assert code == 2 and one_line(text) and "the input is never overwritten" in text, text
    code, text = run_cli("impute", sine_run, "--data", tmp_path / "g.csv", "--out", tmp_path / "f.png")
    assert code == 2 and one_line(text) and "expected a file ending in" in text, text
    torch.manual_seed(0)
    cfg = ModelConfig(latent_dim=3, architecture=FramesConfig(channels=4, hidden=16, features=16, rnn=16))
    video = vaekit.VAE(cfg, Schema("video", (4, 1, 16, 16)))
    with pytest.raises(DataError, match="filling frames of video clips is not offered"):
        fill_gaps(video, torch.rand(2, 4, 1, 16, 16))
    video.save(tmp_path / "video")
    code, text = run_cli("impute", tmp_path / "video", "--data", tmp_path / "g.csv", "--out", tmp_path / "v.csv")
    assert code == 2 and one_line(text) and "filling frames of video clips is not offered" in text, text
