"""Anomaly scores of time series and video clips per input and per step: shapes, NaN exactly where nothing is
observed, the steps summing to the series' score, determinism, a spike found at its step, the CLI's --per-step files,
calibration of a series run, and one-line refusals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from series_helpers import one_line, run_cli, sine_waves

import vaekit
from vaekit.core.likelihoods import GaussianConfig
from vaekit.data.schema import Dataset, Schema
from vaekit.errors import VaekitError
from vaekit.inference.anomaly import anomaly_scores
from vaekit.inference.frame_scores import frame_anomaly_scores
from vaekit.models.module import ModelConfig
from vaekit.nn import FramesConfig

T = 32


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def sine_run(tmp_path_factory, one_torch_thread):
    """A series model of sine waves (a few seconds), saved as a run, and a wide CSV of clean test series."""
    root = tmp_path_factory.mktemp("sines")
    data = Dataset(splits={"train": torch.from_numpy(sine_waves(64, 0))}, schema=Schema("series", (T, 1)))
    vaekit.train(data, out=root / "run", preset="series", epochs=15, seed=0, progress=False)
    pd.DataFrame(sine_waves(40, 1)[..., 0]).to_csv(root / "clean.csv", index=False)
    return root


def test_per_step_scores_shape_nan_sum_and_determinism(sine_run):
    model = vaekit.load(sine_run / "run")
    x = torch.from_numpy(sine_waves(6, 2))
    x[0, 20:] = math.nan  # a shorter series: end padding
    x[1, 5] = math.nan  # a missing step
    steps = frame_anomaly_scores(model, x)
    assert steps.shape == (6, T) and steps.dtype == torch.float64
    assert torch.equal(torch.isnan(steps), torch.isnan(x[..., 0]))  # NaN exactly where nothing is observed
    per_series = model.anomaly_score(x)  # the default score of a series model: -ELBO over the observed steps
    torch.testing.assert_close(steps.nansum(1), per_series)
    torch.testing.assert_close(anomaly_scores(model, x, "elbo"), per_series)
    again = frame_anomaly_scores(model, x)
    assert torch.allclose(again, steps, equal_nan=True, rtol=0, atol=0)
    assert torch.isfinite(steps[2:]).all()


def test_a_spike_scores_highest_at_its_step(sine_run):
    model = vaekit.load(sine_run / "run")
    x = torch.from_numpy(sine_waves(8, 3))
    spiked = x.clone()
    spiked[:, 20, 0] += 4.0  # far outside any sine of amplitude 1
    steps = frame_anomaly_scores(model, spiked)
    assert (steps.argmax(1) == 20).all(), steps.argmax(1)
    assert (model.anomaly_score(spiked) > model.anomaly_score(x)).all()


def test_cli_per_step_csv_and_npy_sum_to_the_series_scores(sine_run, tmp_path):
    run = sine_run / "run"
    holes = pd.read_csv(sine_run / "clean.csv").iloc[:5]
    holes.iloc[1, 3] = np.nan  # a missing step
    holes.iloc[2, 25:] = np.nan  # a shorter series
    holes.to_csv(tmp_path / "h.csv", index=False)
    code, text = run_cli("anomaly", "score", run, "--data", tmp_path / "h.csv", "--out", tmp_path / "s.csv",
                      "--per-step", tmp_path / "steps.csv")  # fmt: skip
    assert code == 0 and "every step's score" in text, text
    per_input = pd.read_csv(tmp_path / "s.csv")
    steps = pd.read_csv(tmp_path / "steps.csv")
    assert list(steps.columns) == ["input", "step", "score_elbo"]
    assert len(steps) == 4 * T + 25 and steps["score_elbo"].isna().sum() == 1  # no rows past an end; one gap
    assert np.isnan(steps.set_index(["input", "step"]).loc[(1, 3), "score_elbo"])
    sums = steps.groupby("input")["score_elbo"].sum().to_numpy()
    np.testing.assert_allclose(sums, per_input["score_elbo"].to_numpy(), rtol=1e-9)
    code, text = run_cli("anomaly", "score", run, "--data", tmp_path / "h.csv", "--out", tmp_path / "s2.csv",
                      "--per-step", tmp_path / "steps.npy")  # fmt: skip
    assert code == 0, text
    values = np.load(tmp_path / "steps.npy")
    assert values.shape == (5, T) and np.isnan(values[2, 25:]).all() and np.isnan(values[1, 3])
    np.testing.assert_allclose(np.nansum(values, 1), per_input["score_elbo"].to_numpy(), rtol=1e-9)


def test_calibrating_a_series_run_gives_p_values(sine_run, tmp_path):
    run = sine_run / "run"
    code, text = run_cli("anomaly", "calibrate", run, "--data", sine_run / "clean.csv", "--fpr", 0.1)
    assert code == 0 and "calibrated the elbo score on 40 clean rows" in text, text
    x = sine_waves(4, 5)
    x[3, 12, 0] += 5.0
    pd.DataFrame(x[..., 0]).to_csv(tmp_path / "new.csv", index=False)
    code, text = run_cli("anomaly", "score", run, "--data", tmp_path / "new.csv", "--out", tmp_path / "s.csv")
    assert code == 0, text
    scored = pd.read_csv(tmp_path / "s.csv")
    assert {"score_elbo", "p_value", "anomaly"} <= set(scored.columns)
    assert scored["anomaly"].iloc[3] == 1 and scored["p_value"].iloc[3] == scored["p_value"].min()
    (run / "anomaly.json").unlink()


def test_refusals_are_one_line(sine_run, tmp_path):
    run = sine_run / "run"
    code, text = run_cli("anomaly", "score", run, "--data", sine_run / "clean.csv", "--score", "recon",
                      "--out", tmp_path / "s.csv")  # fmt: skip
    assert code == 2 and one_line(text) and "score with elbo" in text, text
    code, text = run_cli("anomaly", "score", run, "--data", sine_run / "clean.csv", "--out", tmp_path / "s.csv",
                      "--per-step", tmp_path / "s.csv")  # fmt: skip
    assert code == 2 and one_line(text) and "is the --out file" in text, text
    code, text = run_cli("anomaly", "score", run, "--data", sine_run / "clean.csv", "--out", tmp_path / "s.csv",
                      "--per-step", tmp_path / "s.png")  # fmt: skip
    assert code == 2 and one_line(text) and ".csv, .npy" in text, text
    table = tmp_path / "t.csv"
    pd.DataFrame(np.random.default_rng(0).normal(size=(40, 3)), columns=list("abc")).to_csv(table, index=False)
    vaekit.train(str(table), out=tmp_path / "tab", preset="table", epochs=1, progress=False)
    code, text = run_cli("anomaly", "score", tmp_path / "tab", "--out", tmp_path / "t_s.csv", "--per-step",
                      tmp_path / "t_steps.csv")  # fmt: skip
    assert code == 2 and one_line(text) and "--per-step scores the frames" in text, text


def test_video_clips_score_per_frame():
    torch.manual_seed(0)
    cfg = ModelConfig(latent_dim=3, architecture=FramesConfig(channels=4, hidden=16, features=16, rnn=16))
    model = vaekit.VAE(cfg, Schema("video", (5, 1, 16, 16)))
    clips = torch.rand(3, 5, 1, 16, 16)
    model.fit_data_stats(clips)
    steps = frame_anomaly_scores(model, clips)
    assert steps.shape == (3, 5) and torch.isfinite(steps).all()
    torch.testing.assert_close(steps.sum(1), model.anomaly_score(clips))
    with pytest.raises(VaekitError, match="score with elbo"):
        model.anomaly_score(clips, "relative")


def test_a_table_model_has_no_per_step_scores():
    cfg = ModelConfig(latent_dim=2, likelihood=GaussianConfig())
    model = vaekit.VAE(cfg, Schema("table", (3,)))
    with pytest.raises(VaekitError, match="per-step scores need a video or time series model"):
        frame_anomaly_scores(model, torch.zeros(2, 3))
