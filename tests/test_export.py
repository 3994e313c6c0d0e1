"""``vaekit export --format onnx``: the graphs reproduce PyTorch within 1e-4 under ONNX Runtime, with any batch
size, for an image and a table model (missing cells and a categorical column included) and for conditional ones
(a label; table columns, categorical and numeric), whose condition features y numpy builds from onnx.json alone;
a sampler needs only onnxruntime and numpy, and with a conditional model's fitted code Gaussians from onnx.json it
draws what ``VAE.sample`` draws; other kinds and bad options are refused in one line and leave nothing behind."""

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


def build_y(manifest: dict, values: dict) -> np.ndarray:
    """The docs' numpy-only construction of a conditional model's y from raw condition values (names or numbers)."""
    cond = manifest["condition"]
    n = len(next(iter(values.values())))
    y = np.zeros((n, cond["width"]), np.float32)
    for block in cond["blocks"]:
        raw = list(values[block["name"]])
        if block["type"] == "categorical":
            y[np.arange(n), block["start"] + np.array([block["categories"].index(str(v)) for v in raw])] = 1
        else:
            y[:, block["start"]] = (np.asarray(raw, np.float32) - block["shift"]) / np.float32(block["scale"])
    return y


def fitted_codes(manifest: dict, group: int, eps: np.ndarray) -> np.ndarray:
    """The docs' numpy-only draw of codes from a group's fitted Gaussian."""
    mean, chol = np.asarray(manifest["sampling"]["mean"]), np.asarray(manifest["sampling"]["chol"])
    return (mean[group] + eps @ chol[group].T).astype(np.float32)


def largest(got: np.ndarray, expected: torch.Tensor) -> float:
    return float(np.abs(got - expected.detach().numpy()).max())


@pytest.fixture(scope="module")
def conditional_image(tmp_path_factory):
    rng = np.random.default_rng(0)
    x = (rng.random((300, 8, 8)) < np.linspace(0.1, 0.9, 64).reshape(8, 8)).astype(np.float32)
    labels = rng.integers(0, 3, 300)
    x[labels == 1] = x[labels == 1, ::-1]  # the label changes the images
    folder = tmp_path_factory.mktemp("cimg")
    vaekit.train(x, folder / "run", labels=labels, condition="label", epochs=2, hidden=(32,), latent_dim=3, seed=0,
                 progress=False)  # fmt: skip
    ok("export", folder / "run", "--out", folder / "onnx")
    return folder, x, labels


def test_conditional_image_export_reads_y_and_samples_like_vaekit(conditional_image):
    folder, x, labels = conditional_image
    manifest = json.loads((folder / "onnx" / "onnx.json").read_text())
    assert manifest["condition"]["width"] == 3 and manifest["condition"]["blocks"] == [
        {"name": "label", "type": "categorical", "start": 0, "size": 3, "categories": ["0", "1", "2"]}
    ]
    sampling = manifest["sampling"]
    assert sampling["z"] == "fitted" and sampling["groups"] == 3 and sampling["group_by"] == ["label"]
    assert np.asarray(sampling["chol"]).shape == (3, 3, 3)
    model = vaekit.load(folder / "run")
    encoder, decoder = session(folder / "onnx" / "encoder.onnx"), session(folder / "onnx" / "decoder.onnx")
    assert [i.name for i in encoder.get_inputs()] == ["x", "y"] and [i.name for i in decoder.get_inputs()] == ["z", "y"]
    z_all = np.random.default_rng(1).standard_normal((64, 3)).astype(np.float32)
    diffs = []
    for n in (1, 5, 64):  # the batch is dynamic
        values = model.condition_values({"label": labels[:n].tolist()})
        y = build_y(manifest, {"label": labels[:n]})
        np.testing.assert_array_equal(y, model.condition_features(values, n).numpy())  # numpy alone builds y
        mean, logvar = encoder.run(None, {"x": x[:n, None], "y": y})
        q = model.encode(torch.from_numpy(x[:n, None]), condition=values)
        (logits,) = decoder.run(None, {"z": z_all[:n], "y": y})
        p = model.decode(torch.from_numpy(z_all[:n]), values)
        diffs += [largest(mean, q.mean), largest(logvar, q.logvar), largest(logits, p.logits)]
    assert max(diffs) <= 1e-4, diffs
    # an ONNX-only sampler: z from the label's fitted Gaussian, as VAE.sample draws it (same standard normals)
    eps = torch.randn(16, 3, generator=torch.Generator().manual_seed(3)).numpy()
    z = fitted_codes(manifest, group=2, eps=eps)  # group_by label: the group is the label's index
    (logits,) = decoder.run(None, {"z": z, "y": build_y(manifest, {"label": ["2"] * 16})})
    expected = model.sample(16, seed=3, condition={"label": "2"}).numpy()
    np.testing.assert_allclose(1 / (1 + np.exp(-logits)), expected, atol=1e-5, rtol=0)


def test_conditional_table_export_reads_category_and_numeric_conditions(tmp_path):
    rng = np.random.default_rng(0)
    n = 240
    city, age = rng.choice(["Berlin", "Paris", "Rome"], n), rng.uniform(20, 60, n)
    income = np.where(city == "Berlin", 30.0, 60.0) + 0.5 * age + rng.normal(0, 2, n)
    frame = pd.DataFrame({"city": city, "age": age, "income": income, "pet": rng.choice(["cat", "dog"], n)})
    model = vaekit.train(frame, tmp_path / "run", condition="city,age", epochs=2, hidden=(16,), latent_dim=2, seed=0,
                         progress=False)  # fmt: skip
    ok("export", tmp_path / "run", "--out", tmp_path / "onnx")
    manifest = json.loads((tmp_path / "onnx" / "onnx.json").read_text())
    assert manifest["columns"] == ["income", "pet"] and manifest["categories"] == {"pet": ["cat", "dog"]}
    cond = manifest["condition"]
    assert cond["names"] == ["city", "age"] and cond["width"] == 4
    assert cond["blocks"][0]["categories"] == ["Berlin", "Paris", "Rome"] and cond["blocks"][1]["start"] == 3
    assert manifest["sampling"]["group_by"] == ["city"] and manifest["sampling"]["groups"] == 3
    from vaekit.data.tables import frame_values

    encoder, decoder = session(tmp_path / "onnx" / "encoder.onnx"), session(tmp_path / "onnx" / "decoder.onnx")
    diffs = []
    for rows in (1, 3, 50):
        part = frame.iloc[:rows]
        x = frame_values(part[["income", "pet"]], model.schema, "the table")
        values = model.condition_values(part[["city", "age"]])
        y = build_y(manifest, {"city": part["city"], "age": part["age"]})
        np.testing.assert_allclose(y, model.condition_features(values, rows).numpy(), atol=1e-6, rtol=0)
        mean, logvar = encoder.run(None, {"x": x, "y": y})
        q = model.encode(torch.from_numpy(x), condition=values)
        z = np.random.default_rng(rows).standard_normal((rows, 2)).astype(np.float32)
        (params,) = decoder.run(None, {"z": z, "y": y})
        zc = model.with_condition(torch.from_numpy(z), values)
        expected = model.add_condition_bias(model.decoder(zc), zc)  # the raw output decode() builds p(x|z, y) from
        diffs += [largest(mean, q.mean), largest(logvar, q.logvar), largest(params, expected)]
    assert max(diffs) <= 1e-4, diffs


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
    refused(
        "export", tmp_path / "ae", "--out", tmp_path / "o3", match="images and tables; this run is a plain autoencoder"
    )
    assert snapshot(tmp_path) == before
    ok("export", run, "--out", tmp_path / "onnx", "--overwrite")
