"""``vaekit serve``: the FastAPI app answers like the Python API, refuses bad requests with a 4xx and one JSON
message (never a 500), keeps its limits and its API key, and the CLI will not expose models without a key."""

from __future__ import annotations

import base64
import io
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from test_cli import refused

import vaekit

pytest.importorskip("fastapi")
pytest.importorskip("httpx2")
from fastapi.testclient import TestClient  # noqa: E402

from vaekit.cli.serve import is_loopback  # noqa: E402
from vaekit.server import Limits, create_app, model_names  # noqa: E402


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    rng = np.random.default_rng(0)
    images = (rng.random((300, 8, 8)) < np.linspace(0.1, 0.9, 64).reshape(8, 8)).astype(np.float32)
    vaekit.train(images, root / "digits", epochs=2, hidden=(32,), latent_dim=3, seed=0, progress=False)
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(5, 2, 200), "c": rng.choice(["x", "y"], 200)})
    vaekit.train(frame, root / "tab", epochs=2, hidden=(16,), latent_dim=2, seed=0, progress=False)
    return root, images, frame


@pytest.fixture(scope="module")
def client(runs):
    root, _, _ = runs
    return TestClient(create_app({"digits": root / "digits", "tab": root / "tab"}, limits=Limits(samples=50)))


def png(text: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(text))))


def test_health_models_and_openapi(client):
    assert client.get("/health").json()["status"] == "ok"
    models = {m["name"]: m for m in client.get("/models").json()}
    assert models["digits"]["kind"] == "image" and models["digits"]["latent_dim"] == 3
    assert models["tab"]["columns"] == ["a", "b", "c"] and models["tab"]["calibrated"] is False
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/models/{name}/sample", "/models/{name}/encode", "/models/{name}/anomaly"} <= set(paths)


def test_endpoints_answer_as_the_python_api(client, runs):
    root, images, frame = runs
    model = vaekit.load(root / "digits")
    a = client.post("/models/digits/sample", json={"n": 3, "seed": 1}).json()["images"]
    assert a == client.post("/models/digits/sample", json={"n": 3, "seed": 1}).json()["images"]  # same seed
    expected = (model.sample(3, seed=1)[:, 0].numpy() * 255).round().astype(np.uint8)
    np.testing.assert_array_equal(np.stack([png(t) for t in a]), expected)
    codes = client.post("/models/digits/encode", json={"inputs": images[:4].tolist()}).json()
    np.testing.assert_allclose(codes["mean"], model.encode(images[:4]).mean.detach().numpy(), atol=1e-6)
    decoded = client.post("/models/digits/decode", json={"z": codes["mean"]}).json()["images"]
    recon = client.post("/models/digits/reconstruct", json={"inputs": images[:4].tolist()}).json()["images"]
    assert decoded == recon and png(recon[0]).shape == (8, 8)
    scores = client.post("/models/digits/anomaly", json={"inputs": images[:5].tolist()}).json()
    assert scores["method"] == "relative" and "p_values" not in scores
    np.testing.assert_allclose(scores["scores"], model.anomaly_score(images[:5]).numpy(), rtol=1e-9)
    rows = client.post("/models/tab/sample", json={"n": 4, "seed": 0}).json()["rows"]
    assert len(rows) == 4 and set(rows[0]) == {"a", "b", "c"} and {r["c"] for r in rows} <= {"x", "y"}
    records = frame.head(3).to_dict(orient="records")
    records[0]["a"] = None  # a missing cell
    tab = vaekit.load(root / "tab")
    got = client.post("/models/tab/encode", json={"inputs": records}).json()["mean"]
    np.testing.assert_allclose(got, tab.encode(pd.DataFrame(records)).mean.detach().numpy(), atol=1e-6)


def test_impute_and_inpaint_answer_as_the_python_api(client, runs):
    root, images, frame = runs
    records = frame.head(4).to_dict(orient="records")
    records[1]["b"] = None
    records[2]["c"] = None
    rows = client.post("/models/tab/impute", json={"inputs": records, "seed": 0}).json()["rows"]
    expected = vaekit.impute_frame(vaekit.load(root / "tab"), pd.DataFrame(records), seed=0)
    assert rows[1]["b"] == pytest.approx(expected.loc[1, "b"]) and rows[2]["c"] == expected.loc[2, "c"]
    assert rows[0]["a"] == pytest.approx(records[0]["a"])  # observed cells as given
    holes = np.zeros((8, 8), dtype=int)
    holes[:4] = 1  # the top half
    out = client.post("/models/digits/inpaint", json={"inputs": images[:2].tolist(), "holes": holes.tolist()})
    filled = np.stack([png(t) for t in out.json()["images"]]) / 255
    np.testing.assert_allclose(filled[:, 4:], images[:2, 4:], atol=1 / 255)  # observed pixels kept
    path = client.post(
        "/models/digits/interpolate", json={"a": images[0].tolist(), "b": images[1].tolist(), "steps": 5}
    )
    expected = (vaekit.load(root / "digits").interpolate(images[0], images[1], steps=5)[:, 0].numpy() * 255).round()
    np.testing.assert_array_equal(np.stack([png(t) for t in path.json()["images"]]), expected.astype(np.uint8))
    rows = client.post("/models/tab/interpolate", json={"a": records[0], "b": records[3], "steps": 3}).json()["rows"]
    assert len(rows) == 3 and set(rows[0]) == {"a", "b", "c"}
    wrong = client.post("/models/digits/impute", json={"inputs": images[:1].tolist()})
    assert wrong.status_code == 422 and "impute fills missing cells of tables" in wrong.json()["detail"]


def test_a_calibrated_run_returns_p_values_and_flags(runs, tmp_path):
    root, images, _ = runs
    shutil.copytree(root / "digits", tmp_path / "digits")
    model = vaekit.load(tmp_path / "digits")
    model.calibrate(images[200:], fpr=0.1)
    model.save(tmp_path / "digits")
    client = TestClient(create_app({"d": tmp_path / "digits"}))
    out = client.post("/models/d/anomaly", json={"inputs": images[:6].tolist()}).json()
    assert out["method"] == "excess" and out["fpr"] == 0.1
    np.testing.assert_allclose(out["p_values"], model.p_values(images[:6]).numpy())
    assert out["anomaly"] == model.is_anomaly(images[:6]).tolist()


@pytest.mark.parametrize(
    ("path", "body", "status", "match"),
    [
        ("/models/nope/sample", {"n": 2}, 404, "no model 'nope'"),
        ("/models/digits/sample", {"n": 51}, 422, "at most 50 samples"),
        ("/models/digits/sample", {"n": 0}, 422, "n: Input should be greater than or equal to 1"),
        ("/models/digits/sample", {"n": "many"}, 422, "n: Input should be a valid integer"),
        ("/models/digits/sample", {"n": 1, "seed": 2**70}, 422, "seed: Input should be less than or equal to"),
        ("/models/digits/decode", {"z": [[1e308, 0, 0]]}, 422, "z.0.0: Input should be less than or equal to 1000"),
        ("/models/digits/decode", {"z": [[0, 0, 0], [0]]}, 422, "every code must have the same length"),
        ("/models/tab/encode", {"inputs": [None]}, 422, "each table row must be an object"),
        ("/models/digits/encode", {"inputs": [[1, 2], [3]]}, 422, "inputs must be of one shape"),
        ("/models/digits/encode", {"inputs": [[[0.0] * 5] * 5]}, 422, "shape"),
        ("/models/digits/decode", {"z": [[0.0, 1.0]]}, 422, "latents have 2 dimensions"),
        ("/models/tab/encode", {"inputs": [{"a": 1.0, "b": 2.0, "c": "w"}]}, 422, "'w'"),
        ("/models/digits/encode", {"inputs": []}, 422, "inputs: List should have at least 1 item"),
        ("/models/digits/encode", None, 422, "the request body: Field required"),
    ],
)
def test_bad_requests_get_a_4xx_with_one_message(client, path, body, status, match):
    r = client.post(path, json=body)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and match in detail, detail


def test_the_explorer_page_is_served_without_a_key_and_uses_only_the_api(runs):
    root, _, _ = runs
    keyed = TestClient(create_app({"d": root / "digits"}, api_key="s3cret"))
    r = keyed.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert "<script" in page and "http://" not in page and "https://" not in page  # nothing from outside
    for path in ("/models", "/decode", "/encode", "/reconstruct", "/anomaly", "/impute", "X-API-Key"):
        assert path in page


def test_body_limit_and_api_key(runs):
    root, images, _ = runs
    small = TestClient(create_app({"d": root / "digits"}, limits=Limits(body_bytes=1000)))
    r = small.post("/models/d/encode", json={"inputs": images[:20].tolist()})
    assert r.status_code == 413 and "over 1,000 bytes" in r.json()["detail"]
    chunks = (b'{"inputs": [' + b"0," * 300, b"0," * 300 + b"0]}")  # chunked: no length declared, counted as read
    r = small.post("/models/d/encode", content=iter(chunks), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "over 1,000 bytes" in r.json()["detail"]
    keyed = TestClient(create_app({"d": root / "digits"}, api_key="s3cret"))
    assert keyed.get("/health").status_code == 200
    assert keyed.get("/models").status_code == 401
    assert keyed.get("/models", headers={"X-API-Key": "wrong"}).status_code == 401
    assert keyed.get("/models", headers={"X-API-Key": "s3cret"}).status_code == 200


def test_cli_refuses_to_expose_models_without_a_key(runs, monkeypatch):
    root, _, _ = runs
    monkeypatch.delenv("VAEKIT_API_KEY", raising=False)
    refused("serve", root / "digits", "--host", "0.0.0.0", match="--api-key .*--no-auth")
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2") and not is_loopback("example.org")
    assert model_names([str(root / "digits"), f"t={root / 'tab'}"]) == {"digits": root / "digits", "t": root / "tab"}
    with pytest.raises(vaekit.VaekitError, match="two runs are named 'digits'"):
        model_names([str(root / "digits"), f"digits={root / 'tab'}"])
    assert torch.get_num_threads() >= 1


def encoded_png(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def test_images_may_come_as_png_of_any_size(client, runs):
    root, images, _ = runs
    as_lists = client.post("/models/digits/encode", json={"inputs": images[:2].tolist()}).json()["mean"]
    pngs = [encoded_png((image * 255).astype(np.uint8)) for image in images[:2]]
    pngs[1] = "data:image/png;base64," + pngs[1]  # what a browser's canvas gives
    assert client.post("/models/digits/encode", json={"inputs": pngs}).json()["mean"] == as_lists
    big = np.kron(images[0], np.ones((4, 4))).astype(np.uint8) * 255  # 32 x 32, RGB: resized and made gray
    r = client.post("/models/digits/reconstruct", json={"inputs": [encoded_png(np.stack([big] * 3, -1))]})
    assert r.status_code == 200 and png(r.json()["images"][0]).shape == (8, 8)
    truncated = base64.b64encode(base64.b64decode(pngs[0])[:60]).decode()
    for text in ("not an image", "\u0080", truncated):
        bad = client.post("/models/digits/encode", json={"inputs": [text]})
        assert bad.status_code == 422 and "base64 PNG" in bad.json()["detail"]
    small = TestClient(create_app({"d": root / "digits"}, limits=Limits(image_pixels=100)))
    r = small.post("/models/d/encode", json={"inputs": [encoded_png(big)]})
    assert r.status_code == 422 and "32x32: at most 100 pixels" in r.json()["detail"]


def test_temperature_and_a_conditional_model(client, runs, tmp_path):
    root, images, _ = runs
    model = vaekit.load(root / "digits")
    cold = client.post("/models/digits/sample", json={"n": 4, "seed": 3, "temperature": 0.3}).json()["images"]
    expected = (model.sample(4, seed=3, temperature=0.3)[:, 0].numpy() * 255).round().astype(np.uint8)
    np.testing.assert_array_equal(np.stack([png(t) for t in cold]), expected)
    assert client.post("/models/digits/sample", json={"n": 1, "temperature": 0}).status_code == 422
    labels = (images.sum((1, 2)) > np.median(images.sum((1, 2)))).astype(int)
    vaekit.train(
        images, tmp_path / "cond", labels=labels, condition="label", epochs=1, hidden=(16,), latent_dim=2, seed=0,
        progress=False,
    )  # fmt: skip
    cond = vaekit.load(tmp_path / "cond")
    c = TestClient(create_app({"c": tmp_path / "cond"}))
    (info,) = c.get("/models").json()
    assert info["conditions"] == [{"name": "label", "type": "categorical", "categories": ["0", "1"]}]
    got = c.post("/models/c/sample", json={"n": 3, "seed": 0, "condition": {"label": 1}}).json()["images"]
    expected = (cond.sample(3, seed=0, condition={"label": 1})[:, 0].numpy() * 255).round().astype(np.uint8)
    np.testing.assert_array_equal(np.stack([png(t) for t in got]), expected)
    codes = c.post("/models/c/encode", json={"inputs": images[:2].tolist(), "condition": {"label": [0, 1]}})
    y = cond.condition_values({"label": [0, 1]}, 2)
    expected = cond.encode(images[:2], condition=y).mean.detach().numpy()
    np.testing.assert_allclose(codes.json()["mean"], expected, atol=1e-6)
    missing = c.post("/models/c/sample", json={"n": 1})
    assert missing.status_code == 422 and "label" in missing.json()["detail"]
    unwanted = client.post("/models/digits/sample", json={"n": 1, "condition": {"label": 1}})
    assert unwanted.status_code == 422 and "condition" in unwanted.json()["detail"]


def test_models_show_the_runs_evaluation(runs, tmp_path):
    root, _, _ = runs
    shutil.copytree(root / "digits", tmp_path / "d")
    (tmp_path / "d" / "eval.json").write_text('{"elbo": -5.5, "seed": 3, "elbo_seconds": 0.1, "kl_per_dim": [1, 0]}')
    shutil.copytree(root / "tab", tmp_path / "t")
    (tmp_path / "t" / "eval.json").write_text('{"elbo": ')  # damaged: no metrics, still served
    (d, t) = TestClient(create_app({"d": tmp_path / "d", "t": tmp_path / "t"})).get("/models").json()
    assert d["metrics"] == {"elbo": -5.5, "kl_per_dim": [1, 0]} and t["metrics"] == {}


def test_a_request_past_the_deadline_gets_503(runs):
    root, _, _ = runs
    slow = TestClient(create_app({"d": root / "digits"}, limits=Limits(timeout=1e-9)))
    r = slow.post("/models/d/sample", json={"n": 2})
    assert r.status_code == 503 and "longer than 1e-09 s" in r.json()["detail"]


def test_images_come_as_one_png_grid_when_asked(client):
    r = client.post("/models/digits/sample", json={"n": 4, "seed": 1}, headers={"accept": "image/png"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    grid = np.asarray(Image.open(io.BytesIO(r.content)))
    assert grid.shape == (2 + 8 + 2, 2 + 4 * (8 + 2))  # one row of four, 2-pixel borders
    one = client.post("/models/digits/sample", json={"n": 4, "seed": 1}).json()["images"]
    np.testing.assert_array_equal(grid[2:10, 2:10], png(one[0]))
    np.testing.assert_array_equal(grid[2:10, 32:40], png(one[3]))
    assert (
        "image/png"
        in client.get("/openapi.json").json()["paths"]["/models/{name}/decode"]["post"]["responses"]["200"]["content"]
    )
