"""``vaekit export --format onnx``: the graphs reproduce PyTorch within 1e-4 under ONNX Runtime, with any batch
size, for an image and a table model (missing cells and a categorical column included); a sampler needs only
onnxruntime and numpy; other kinds and bad options are refused in one line and leave nothing behind."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from test_cli import ok, refused, snapshot

import vaekit

ort = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    rng = np.random.default_rng(0)
    x = (rng.random((300, 8, 8)) < np.linspace(0.1, 0.9, 64).reshape(8, 8)).astype(np.float32)
    out = tmp_path_factory.mktemp("img") / "run"
    vaekit.train(x, out, epochs=2, hidden=(32,), latent_dim=3, seed=0, progress=False)
    return out, x


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_image_export_matches_pytorch_and_samples_without_torch(image_run, tmp_path):
    run, x = image_run
    result = ok("export", run, "--format", "onnx", "--out", tmp_path / "onnx")
    assert "max abs difference" in result.stdout
    manifest = json.loads((tmp_path / "onnx" / "onnx.json").read_text())
    assert (
        manifest["latent_dim"] == 3 and manifest["input_shape"] == [1, 8, 8] and manifest["likelihood"] == "bernoulli"
    )
    assert max(manifest["max_abs_diff_vs_pytorch"].values()) <= 1e-4
    model = vaekit.load(run)
    encoder, decoder = session(tmp_path / "onnx" / "encoder.onnx"), session(tmp_path / "onnx" / "decoder.onnx")
    for n in (1, 5, 64):  # the batch is dynamic
        batch = x[:n, None]
        mean, logvar = encoder.run(None, {"x": batch})
        q = model.encode(torch.from_numpy(batch))
        np.testing.assert_allclose(mean, q.mean.detach().numpy(), atol=1e-4, rtol=0)
        np.testing.assert_allclose(logvar, q.logvar.detach().numpy(), atol=1e-4, rtol=0)
    # the docs' sampler: onnxruntime and numpy only
    z = np.random.default_rng(1).standard_normal((16, 3)).astype(np.float32)
    (logits,) = decoder.run(None, {"z": z})
    images = 1 / (1 + np.exp(-logits))  # Bernoulli means
    expected = model.decode(torch.from_numpy(z)).mean.detach().numpy()
    assert images.shape == (16, 1, 8, 8)
    np.testing.assert_allclose(images, expected, atol=1e-5, rtol=0)


def test_table_export_reads_missing_cells_and_categories(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"a": rng.normal(size=200), "b": rng.normal(5, 2, size=200), "c": rng.choice(["x", "y", "z"], 200)}
    )
    frame.loc[rng.random(200) < 0.2, "a"] = np.nan
    model = vaekit.train(frame, tmp_path / "run", epochs=2, hidden=(16,), latent_dim=2, seed=0, progress=False)
    ok("export", tmp_path / "run", "--out", tmp_path / "onnx")
    from vaekit.data.tables import frame_values

    x = frame_values(frame, model.schema, "the table")
    assert np.isnan(x).any()
    mean, logvar = session(tmp_path / "onnx" / "encoder.onnx").run(None, {"x": x.astype(np.float32)})
    q = model.encode(torch.from_numpy(x))
    np.testing.assert_allclose(mean, q.mean.detach().numpy(), atol=1e-4, rtol=0)
    np.testing.assert_allclose(logvar, q.logvar.detach().numpy(), atol=1e-4, rtol=0)


def test_refusals_are_one_line_and_write_nothing(image_run, tmp_path):
    run, x = image_run
    ok("export", run, "--out", tmp_path / "onnx")
    (tmp_path / "file").write_text("x")
    ae = vaekit.train(x, tmp_path / "ae", autoencoder=True, epochs=1, hidden=(16,), latent_dim=2, progress=False)
    assert ae.config.autoencoder
    before = snapshot(tmp_path)
    refused("export", run, "--out", tmp_path / "onnx", match="encoder.onnx already exists.*--overwrite")
    refused("export", run, "--format", "tflite", "--out", tmp_path / "o2", match="unknown export format 'tflite'")
    refused("export", run, "--out", tmp_path / "file", match="is a file, expected a folder")
    refused("export", tmp_path / "ae", "--out", tmp_path / "o3", match="this run is a plain autoencoder")
    assert snapshot(tmp_path) == before
    ok("export", run, "--out", tmp_path / "onnx", "--overwrite")
