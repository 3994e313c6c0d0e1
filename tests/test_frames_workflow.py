"""Video clips and time series end to end: train (the video / series preset, chosen by the data), sample, predict,
reconstruct and evaluate from the CLI, with the files they write read back."""

import json

import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import vaekit
from vaekit.cli import app

FAST = {"epochs": 2, "batch_size": 8, "progress": False, "seed": 1, "time_limit": None}


def _cli(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """40 clips of 8 frames, 16×16: a bright square moving one pixel right per frame from a random start."""
    rng = np.random.default_rng(0)
    x = np.zeros((40, 8, 16, 16), dtype=np.uint8)
    for i in range(40):
        r, c = rng.integers(2, 12), rng.integers(0, 6)
        for t in range(8):
            x[i, t, r : r + 3, c + t : c + t + 3] = 255
    path = tmp_path_factory.mktemp("clips") / "clips.npy"
    np.save(path, x)
    return path


@pytest.fixture(scope="module")
def video_run(tmp_path_factory, clips):
    out = tmp_path_factory.mktemp("runs") / "video"
    model = vaekit.train(str(clips), out=out, preset="video", **FAST)
    assert model.schema.kind == "video" and model.schema.shape == (8, 1, 16, 16)
    return out


def test_video_sample_predict_reconstruct_evaluate(video_run, clips, tmp_path):
    code, text = _cli("sample", video_run, "--n", 3, "--out", tmp_path / "s.gif")
    assert code == 0, text
    frames = iio.imread(tmp_path / "s.gif", index=None)
    assert frames.shape[0] == 8  # one frame of the grid per clip frame
    code, text = _cli("predict", video_run, "--n", 2, "--frames", 5, "--samples", 3, "--out", tmp_path / "p.gif")
    assert code == 0 and "best of 3" in text and "repeating the last given frame" in text, text
    code, text = _cli("predict", video_run, "--n", 1, "--context", 2, "--frames", 4, "--samples", 2, "--out",
                      tmp_path / "p.png")  # fmt: skip
    assert code == 0, text
    from PIL import Image

    with Image.open(tmp_path / "p.png") as strip:  # 3 strips (truth, 2 samples) of 6 frames, 16 px + 2 px borders
        assert strip.size == (4 * (6 * 18 + 2), 4 * (3 * 18 + 2))  # enlarged 4x
    first = np.load(clips)[0, :3]  # one clip's first 3 frames, (T, H, W) uint8
    np.save(tmp_path / "first.npy", first)
    code, text = _cli("predict", video_run, "--input", tmp_path / "first.npy", "--frames", 4, "--samples", 2,
                      "--out", tmp_path / "p.npy")  # fmt: skip
    assert code == 0, text
    assert np.load(tmp_path / "p.npy").shape == (2, 7, 1, 16, 16)  # samples × (3 given + 4 predicted)
    code, text = _cli("reconstruct", video_run, "--n", 2, "--out", tmp_path / "r.npy")
    assert code == 0 and np.load(tmp_path / "r.npy").shape == (4, 8, 1, 16, 16), text
    code, text = _cli("evaluate", video_run)
    assert code == 0, text
    result = json.loads((video_run / "eval.json").read_text())
    per_frame = result["elbo_per_frame"]  # its own draw of the noise: sums to the ELBO up to that noise
    assert len(per_frame) == 8 and sum(per_frame) == pytest.approx(result["elbo"], rel=0.02)


def test_video_samples_are_deterministic_and_survive_reload(video_run):
    a, b = vaekit.load(video_run), vaekit.load(video_run)
    assert torch.equal(a.sample(2, seed=5), b.sample(2, seed=5))
    assert not torch.equal(a.sample(2, seed=5), a.sample(2, seed=6))
    assert a.sample(2, seed=5).shape == (2, 8, 1, 16, 16)


def test_series_train_sample_predict(tmp_path):
    model = vaekit.train("ucr:ItalyPowerDemand", out=tmp_path / "s", **FAST)  # the series preset, from the data
    assert model.schema.kind == "series" and model.schema.shape == (24, 1)
    assert model.run_config["training"]["preset"] == "series"
    code, text = _cli("sample", tmp_path / "s", "--n", 4, "--out", tmp_path / "s.csv")
    assert code == 0, text
    table = pd.read_csv(tmp_path / "s.csv")
    assert list(table.columns[:2]) == ["series", "step"] and len(table) == 4 * 24
    code, text = _cli("predict", tmp_path / "s", "--context", 12, "--frames", 12, "--out", tmp_path / "p.png")
    assert code == 0 and "best of 5" in text, text
    assert (tmp_path / "p.png").stat().st_size > 1000
    code, text = _cli("sample", tmp_path / "s", "--n", 2, "--out", tmp_path / "s.gif")
    assert code == 2 and "expected a file ending in" in text
    code, text = _cli("interpolate", tmp_path / "s", "--out", tmp_path / "i.png")
    assert code == 2 and "not offered for video and time series" in text


def test_a_long_table_of_series_trains_and_resumes_with_its_columns(tmp_path):
    rng = np.random.default_rng(3)
    rows = [(f"s{i}", t, np.sin(0.3 * t + i) + 0.05 * rng.normal(), np.cos(0.3 * t)) for i in range(30)
            for t in range(rng.integers(15, 21))]  # fmt: skip
    table = pd.DataFrame(rows, columns=["id", "t", "a", "b"]).sample(frac=1, random_state=0)  # rows in any order
    table.to_csv(tmp_path / "l.csv", index=False)
    opts = {**FAST, "epochs": 1}
    model = vaekit.train(str(tmp_path / "l.csv"), out=tmp_path / "r", preset="series", id_column="id",
                         time_column="t", **opts)  # fmt: skip
    assert model.schema.shape == (20, 2) and model.schema.columns == ("a", "b")
    resumed = vaekit.train(str(tmp_path / "l.csv"), out=tmp_path / "r", resume=True, epochs=2, progress=False)
    assert len(resumed.history) == 2


def test_refusals_are_one_line(tmp_path, clips):
    code, text = _cli("train", clips, "--preset", "video", "--hidden", "64", "--out", tmp_path / "x", "--quiet")
    assert code == 2 and "--hidden" in text
    code, text = _cli("train", "moving-mnist:32", "--preset", "seed", "--out", tmp_path / "y", "--quiet")
    assert code == 2 and "--preset video" in text
