"""The ``vaekit`` CLI, in-process: every command on tiny trained runs, one-line refusals of bad input.

Runs are trained once per module (an MNIST subset, an RGB and a grayscale image folder, a CSV table) and
shared by the tests, which only read them (tests that need to damage a run work on a copy).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from typer.testing import CliRunner

from vaekit.cli.app import app
from vaekit.models.presets import PRESET_NOTES

COMMANDS = ("train", "evaluate", "sample", "reconstruct", "interpolate", "traverse", "encode", "decode")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
CSV_MEANS = {"small": 0.0, "medium": 50.0, "large": 1000.0, "negative": -20.0}
CSV_STDS = {"small": 1.0, "medium": 10.0, "large": 200.0, "negative": 3.0}


# -- helpers -------------------------------------------------------------------------------------------------
def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def ok(*args: object):
    """Run a command that must succeed; on failure show what it printed."""
    result = invoke(*args)
    assert result.exit_code == 0, f"{args}: exit {result.exit_code}\n{result.output}\n{result.exception!r}"
    assert "Traceback" not in result.output
    return result


def refused(*args: object, match: str | None = None) -> str:
    """Run a command that must be refused: exit 2, one ``error: ...`` line on stderr, no traceback."""
    result = invoke(*args)
    stderr = ANSI.sub("", result.stderr)
    assert result.exit_code == 2, f"{args}: exit {result.exit_code}\n{result.output}\n{result.exception!r}"
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one error line, got {lines}"
    assert lines[0].startswith("error: "), lines[0]
    assert len(lines[0]) > len("error: ") + 5
    assert not stderr.startswith("\n") and stderr.count("\n") == 1, repr(stderr)
    for text in (result.output, result.stdout, result.stderr):
        assert "Traceback" not in text
    if match is not None:
        assert re.search(match, lines[0]), f"{match!r} not in {lines[0]!r}"
    return lines[0]


def snapshot(*roots: Path) -> dict[str, tuple[int, str]]:
    """Every file under ``roots`` -> (mtime_ns, sha256): to prove a refused command changed nothing."""
    out = {}
    for root in roots:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for p in files:
            out[str(p)] = (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def image(path: Path) -> Image.Image:
    with Image.open(path) as im:
        im.load()
        out = im.copy()
        out.format = im.format
        return out


def write_pngs(folder: Path, n_per_class: int, mode: str, size: int = 16, seed: int = 0) -> None:
    """Two classes: bright images with a dark square ("a") and dark ones with a bright square ("b")."""
    rng = np.random.default_rng(seed)
    channels = 3 if mode == "RGB" else 1
    for k, name in enumerate(("a", "b")):
        (folder / name).mkdir(parents=True)
        for i in range(n_per_class):
            low, high = (150, 256) if k == 0 else (0, 100)
            arr = rng.integers(low, high, (size, size, channels))
            arr[4:10, 4:10] = 255 - arr[4:10, 4:10]
            arr = arr.astype(np.uint8)
            Image.fromarray(arr[..., 0] if channels == 1 else arr, mode=mode).save(folder / name / f"{i}.png")


# -- runs trained once for the whole module ------------------------------------------------------------------
@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("mnist") / "RUN"
    result = ok(
        "train", "mnist", "--out", run, "--subset", 600, "--epochs", 1, "--quiet", "--hidden", 64, "--latent-dim", 4
    )
    assert "trained 1 epochs" in result.stdout
    return run


@pytest.fixture(scope="module")
def rgb_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("rgb") / "images"
    write_pngs(folder, 20, "RGB")
    return folder


@pytest.fixture(scope="module")
def rgb_run(tmp_path_factory, rgb_folder) -> Path:
    run = tmp_path_factory.mktemp("rgbrun") / "RUN"
    ok("train", rgb_folder, "--out", run, "--preset", "conv", "--epochs", 1, "--latent-dim", 3, "--quiet")
    return run


@pytest.fixture(scope="module")
def gray_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("gray") / "images"
    write_pngs(folder, 20, "L", seed=1)
    return folder


@pytest.fixture(scope="module")
def gray_run(tmp_path_factory, gray_folder) -> Path:
    run = tmp_path_factory.mktemp("grayrun") / "RUN"
    ok("train", gray_folder, "--out", run, "--epochs", 2, "--hidden", 32, "--latent-dim", 3, "--quiet")
    return run


@pytest.fixture(scope="module")
def table_csv(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({c: rng.normal(CSV_MEANS[c], CSV_STDS[c], 200) for c in CSV_MEANS})
    path = tmp_path_factory.mktemp("table") / "data.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory, table_csv) -> Path:
    run = tmp_path_factory.mktemp("csvrun") / "RUN"
    ok("train", table_csv, "--out", run, "--latent-dim", 2, "--hidden", 32, "--epochs", 8, "--batch-size", 32, "-q")
    return run


@pytest.fixture
def here(tmp_path, monkeypatch) -> Path:
    """Run the command from an empty temporary folder (relative paths land there)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- 1. every command on the MNIST run -----------------------------------------------------------------------
def test_train_writes_a_complete_run(mnist_run):
    names = sorted(p.name for p in mnist_run.iterdir())
    assert names == ["config.json", "metrics.jsonl", "model.safetensors", "training_state"]
    cfg = json.loads((mnist_run / "config.json").read_text())
    assert cfg["training"]["data"] == "mnist"
    assert cfg["training"]["result"]["epochs_completed"] == 1
    assert cfg["model"]["latent_dim"] == 4
    assert cfg["schema"]["shape"] == [1, 28, 28]
    metrics = [json.loads(line) for line in (mnist_run / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) == 1


def test_evaluate(mnist_run):
    result = ok("evaluate", mnist_run, "--iw-samples", 0)
    r = json.loads((mnist_run / "eval.json").read_text())
    assert r["split"] == "test" and r["n"] == 10000 and "iwae" not in r
    for key in ("elbo", "reconstruction", "kl", "bits_per_dim"):
        assert math.isfinite(r[key]), key
    assert r["elbo"] == pytest.approx(r["reconstruction"] - r["kl"], rel=1e-6)
    assert r["kl"] >= 0 and r["elbo"] < 0
    assert r["bits_per_dim"] == pytest.approx(-r["elbo"] / (784 * math.log(2)), rel=1e-6)
    assert len(r["kl_per_dim"]) == 4 and 0 <= r["active_units"] <= 4
    assert sum(r["kl_per_dim"]) == pytest.approx(r["kl"], rel=1e-4)
    assert f"{r['elbo']:.2f}" in result.stdout and "test ELBO" in result.stdout
    assert result.stderr == ""
    assert r["device"] == ("cuda" if torch.cuda.is_available() else "cpu")  # auto


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_evaluate_on_cuda_without_a_gpu_is_refused(mnist_run):
    before = snapshot(mnist_run)
    refused("evaluate", mnist_run, "--device", "cuda", match="no CUDA device")
    assert snapshot(mnist_run) == before


def test_evaluate_with_importance_sampling_and_per_sample_rows(mnist_run, here):
    result = ok("evaluate", mnist_run, "--split", "val", "--iw-samples", 20, "--per-sample", "rows.csv")
    r = json.loads((mnist_run / "eval-val.json").read_text())  # the run's own eval.json is its default split's
    assert r["split"] == "val" and r["iw_samples"] == 20
    assert r["iwae"] > r["elbo"] and r["nll"] == pytest.approx(-r["iwae"])
    assert r["bits_per_dim"] == pytest.approx(r["nll"] / (784 * math.log(2)), rel=1e-6)
    rows = pd.read_csv(here / "rows.csv")
    assert list(rows.columns) == ["label", "elbo", "reconstruction", "kl", "iwae"] and len(rows) == r["n"]
    assert rows["iwae"].mean() == pytest.approx(r["iwae"], rel=1e-6)
    assert f"NLL {r['nll']:.2f} (K=20)" in result.stdout


def test_sample_png_and_npy(mnist_run, here):
    ok("sample", mnist_run, "--n", 8, "--out", "x.png")
    im = image(here / "x.png")
    assert im.format == "PNG" and im.mode == "L"
    assert 3 * 28 <= im.width <= 4 * 3 * 32 and 3 * 28 <= im.height <= 4 * 3 * 32

    ok("sample", mnist_run, "--n", 8, "--out", "x.npy")
    x = np.load(here / "x.npy")
    assert x.shape == (8, 1, 28, 28) and x.dtype == np.float32
    assert x.min() >= 0 and x.max() <= 1 and x.std() > 0

    ok("sample", mnist_run, "--n", 8, "--out", "again.npy")
    ok("sample", mnist_run, "--n", 8, "--seed", 1, "--out", "other.npy")
    np.testing.assert_array_equal(np.load(here / "again.npy"), x)
    assert not np.array_equal(np.load(here / "other.npy"), x)


def test_reconstruct(mnist_run, here, mnist):
    result = ok("reconstruct", mnist_run, "--data", "mnist", "--n", 4, "--out", "r.png")
    assert "r.png" in result.stdout
    im = np.asarray(image(here / "r.png"))
    assert im.shape[1] > im.shape[0]  # 4 columns, 2 rows (originals above reconstructions)
    scale = im.shape[1] // (4 * 30 + 2)
    assert scale >= 1 and im.shape == (scale * (2 * 30 + 2), scale * (4 * 30 + 2))
    first = im[2 * scale : 30 * scale : scale, 2 * scale : 30 * scale : scale]  # top-left tile: test image 0
    expected = (mnist.splits["test"][0, 0].numpy() * 255).round().astype(np.uint8)
    np.testing.assert_array_equal(first, expected)

    ok("reconstruct", mnist_run, "--data", "mnist", "--n", 4, "--out", "r.npy")
    r = np.load(here / "r.npy")
    assert r.shape == (4, 1, 28, 28) and r.min() >= 0 and r.max() <= 1
    assert not np.allclose(r[0], r[1])


def test_interpolate(mnist_run, here):
    ok("interpolate", mnist_run, "--data", "mnist", "--pair", 0, 1, "--steps", 5, "--out", "p.png")
    im = image(here / "p.png")
    assert im.width > 4 * im.height  # one strip of 5 images

    ok("interpolate", mnist_run, "--data", "mnist", "--pair", 0, 1, "--steps", 5, "--slerp", "--out", "p.gif")
    with Image.open(here / "p.gif") as gif:
        assert gif.format == "GIF" and gif.n_frames >= 5

    ok("interpolate", mnist_run, "--data", "mnist", "--pair", 0, 1, "--steps", 5, "--out", "p.npy")
    ok("reconstruct", mnist_run, "--data", "mnist", "--n", 2, "--out", "r.npy")
    path, recon = np.load(here / "p.npy"), np.load(here / "r.npy")
    assert path.shape == (5, 1, 28, 28)
    np.testing.assert_allclose(path[0], recon[0], atol=1e-5)  # the path starts and ends at the two inputs
    np.testing.assert_allclose(path[-1], recon[1], atol=1e-5)


def test_traverse(mnist_run, here):
    ok("traverse", mnist_run, "--dims", "0,1", "--range", 2, "--out", "t.png")
    im = image(here / "t.png")
    assert im.width > 3 * im.height  # 2 rows of 9

    ok("traverse", mnist_run, "--dims", "0,1", "--range", 2, "--steps", 3, "--out", "t.npy")
    t = np.load(here / "t.npy")
    assert t.shape == (6, 1, 28, 28)
    assert not np.allclose(t[0], t[2])  # -2 std and +2 std of dimension 0 differ


def test_encode_and_decode(mnist_run, here, mnist):
    ok("encode", mnist_run, "--data", "mnist", "--out", "z.npy")
    z = np.load(here / "z.npy")
    assert z.shape == (10000, 4) and np.isfinite(z).all() and z.std() > 0  # the test split

    ok("encode", mnist_run, "--data", "mnist", "--out", "z.csv")
    table = pd.read_csv(here / "z.csv")
    assert list(table.columns) == ["label", "z0", "z1", "z2", "z3"]
    np.testing.assert_array_equal(table["label"].to_numpy(), mnist.labels["test"].numpy())
    np.testing.assert_allclose(table[["z0", "z1", "z2", "z3"]].to_numpy(), z, rtol=1e-5, atol=1e-6)

    np.save(here / "z4.npy", z[:4])
    ok("decode", mnist_run, "z4.npy", "--out", "d.png")
    assert image(here / "d.png").mode == "L"
    ok("decode", mnist_run, "z4.npy", "--out", "d.npy")
    d = np.load(here / "d.npy")
    assert d.shape == (4, 1, 28, 28)
    ok("reconstruct", mnist_run, "--data", "mnist", "--n", 4, "--out", "r.npy")
    np.testing.assert_allclose(d, np.load(here / "r.npy"), atol=1e-5)  # decode(encode(x)) == reconstruct(x)
    ok("decode", mnist_run, "z.csv", "--out", "from_csv.npy")  # encode's CSV, label column and all, round-trips
    np.testing.assert_allclose(np.load(here / "from_csv.npy")[:4], d, atol=1e-5)
    refused("decode", mnist_run, "z4.npy", "--out", "d.npy", match="already exists")  # never replaced silently
    ok("decode", mnist_run, "z4.npy", "--out", "d.npy", "--overwrite")


def test_version():
    result = ok("--version")
    assert result.stdout.startswith("vaekit ")


def test_top_level_help_names_every_data_kind_and_preset():
    text = " ".join(ok("--help").stdout.split())
    assert "images, tables and molecules" in text  # it said "images and tables" while molecules had commands
    train_help = " ".join(ok("train", "--help").stdout.split())
    for name in PRESET_NOTES:  # the --preset help is generated from the presets table
        assert f"{name}:" in train_help, name


# -- 2. image-folder and table runs --------------------------------------------------------------------------
@pytest.mark.parametrize(("which", "channels"), [("rgb", 3), ("gray", 1)])
def test_image_folder_runs(which, channels, request, here):
    run = request.getfixturevalue(f"{which}_run")
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["schema"]["kind"] == "image" and cfg["schema"]["shape"] == [channels, 16, 16]
    assert cfg["schema"]["label_names"] == ["a", "b"]

    ok("sample", run, "--n", 4, "--out", "s.png")
    assert image(here / "s.png").mode == ("RGB" if channels == 3 else "L")
    ok("sample", run, "--n", 4, "--out", "s.npy")
    s = np.load(here / "s.npy")
    assert s.shape == (4, channels, 16, 16) and s.min() >= 0 and s.max() <= 1

    ok("reconstruct", run, "--n", 4, "--out", "r.png")
    assert image(here / "r.png").width > image(here / "r.png").height

    ok("encode", run, "--out", "z.csv")
    codes = pd.read_csv(here / "z.csv")
    assert list(codes.columns) == ["label", "z0", "z1", "z2"] and len(codes) == 40
    assert sorted(codes["label"].unique()) == [0, 1] and (codes["label"] == 0).sum() == 20

    ok("encode", run, "--out", "z.npy")
    z = np.load(here / "z.npy")
    assert z.shape == (40, 3)
    ok("decode", run, "z.npy", "--out", "d.npy")
    assert np.load(here / "d.npy").shape == (40, channels, 16, 16)
    ok("decode", run, "z.npy", "--out", "d.png")
    assert image(here / "d.png").mode == ("RGB" if channels == 3 else "L")

    ok("evaluate", run, "--iw-samples", 10)
    r = json.loads((run / "eval.json").read_text())
    assert r["split"] == "val" and r["n"] == 4  # 10 % of 40 held out
    assert math.isfinite(r["elbo"]) and r["elbo"] == pytest.approx(r["reconstruction"] - r["kl"], rel=1e-6)


def test_conv_preset_was_used(rgb_run, gray_run):
    rgb = json.loads((rgb_run / "config.json").read_text())
    gray = json.loads((gray_run / "config.json").read_text())
    assert rgb["training"]["preset"] == "conv" and gray["training"]["preset"] == "seed"
    assert rgb["model"]["architecture"] != gray["model"]["architecture"]


def test_table_run(csv_run, table_csv, here):
    cfg = json.loads((csv_run / "config.json").read_text())
    assert cfg["schema"]["columns"] == list(CSV_MEANS)

    ok("sample", csv_run, "--n", 500, "--out", "s.csv")
    s = pd.read_csv(here / "s.csv")
    train = pd.read_csv(table_csv)
    assert list(s.columns) == list(CSV_MEANS) and len(s) == 500
    for col in CSV_MEANS:  # de-standardized: on the data's scale, not around 0 ± 1
        assert abs(s[col].mean() - train[col].mean()) < 0.75 * train[col].std(), col
    assert s["large"].mean() > 500 and s["medium"].mean() > 25 and s["negative"].mean() < -10
    assert s["large"].std() > 10 * s["small"].std() > 0  # each column's own spread restored

    ok("sample", csv_run, "--n", 5, "--out", "s.npy")
    assert np.load(here / "s.npy").shape == (5, 4)

    ok("reconstruct", csv_run, "--n", 7, "--out", "r.csv")
    r = pd.read_csv(here / "r.csv")
    assert list(r.columns) == list(CSV_MEANS) and len(r) == 7

    ok("encode", csv_run, "--out", "z.csv")
    z = pd.read_csv(here / "z.csv")
    assert list(z.columns) == ["z0", "z1"] and len(z) == 200  # no labels in this table
    ok("decode", csv_run, "z.csv", "--out", "d.csv")
    d = pd.read_csv(here / "d.csv")
    assert list(d.columns) == list(CSV_MEANS) and len(d) == 200
    assert abs(d["large"].mean() - 1000) < 150

    ok("evaluate", csv_run, "--iw-samples", 50)
    e = json.loads((csv_run / "eval.json").read_text())
    assert e["split"] == "val" and e["n"] == 20 and math.isfinite(e["elbo"])


@pytest.mark.parametrize("out", ["x.png", "x.gif", "x.jpg"])
def test_table_run_refuses_image_output(csv_run, here, out):
    refused("sample", csv_run, "--out", out, match=r"\.csv")
    assert not (here / out).exists()


def test_table_run_refuses_image_commands(csv_run, here):
    refused("interpolate", csv_run, "--out", "p.gif")
    refused("traverse", csv_run, "--out", "t.png")
    assert list(here.iterdir()) == []


# -- 3. bad input: one line, exit 2, nothing written ---------------------------------------------------------
def test_unknown_dataset(here):
    refused("train", "mnsit", "--out", "R", match="unknown dataset 'mnsit'")
    assert list(here.iterdir()) == []


def test_missing_file(here):
    refused("train", "nope.csv", "--out", "R", match="nope.csv")
    assert list(here.iterdir()) == []


def test_truncated_idx(here):
    header = struct.pack(">I", 0x00000803) + struct.pack(">III", 10, 28, 28)
    (here / "train-images-idx3-ubyte").write_bytes(header + bytes(5 * 28 * 28))
    before = snapshot(here)
    refused("train", "train-images-idx3-ubyte", "--out", "R", match="train-images-idx3-ubyte")
    assert not (here / "R").exists() and snapshot(here) == before


def test_image_folder_without_images(here):
    (here / "imgs" / "a").mkdir(parents=True)
    (here / "imgs" / "a" / "notes.txt").write_text("not an image")
    (here / "imgs" / "b").mkdir()
    before = snapshot(here)
    refused("train", "imgs", "--out", "R", match="no PNG or JPEG")
    assert not (here / "R").exists() and snapshot(here) == before


def test_wrong_column_count(csv_run, table_csv, here):
    pd.read_csv(table_csv).drop(columns=["medium"]).to_csv(here / "other.csv", index=False)
    before = snapshot(here, csv_run)
    refused("encode", csv_run, "--data", "other.csv", "--out", "z.npy", match="medium")
    assert not (here / "z.npy").exists() and snapshot(here, csv_run) == before


def test_not_a_run(mnist_run, here):
    (here / "some_empty_dir").mkdir()
    refused("sample", "some_empty_dir", "--out", "x.png", match="not a vaekit run")
    (here / "weights_only").mkdir()
    shutil.copy(mnist_run / "model.safetensors", here / "weights_only")
    before = snapshot(here)
    refused("sample", "weights_only", "--out", "x.png", match="config.json")
    refused("sample", "no_such_run", "--out", "x.png", match="no such run folder")
    refused("sample", "weights_only/model.safetensors", "--out", "x.png", match="is a file")
    assert not (here / "x.png").exists() and snapshot(here) == before


def test_train_refuses_to_overwrite_another_run(mnist_run, here):
    existing = here / "EXISTING_RUN"
    shutil.copytree(mnist_run, existing)
    before = snapshot(existing)
    refused("train", "mnist", "--out", existing, "--subset", 100, "--epochs", 1, "--quiet", match="already holds a run")
    assert snapshot(existing) == before
    assert (existing / "model.safetensors").read_bytes() == (mnist_run / "model.safetensors").read_bytes()
    assert (existing / "config.json").read_bytes() == (mnist_run / "config.json").read_bytes()

    (here / "stuff").mkdir()
    (here / "stuff" / "thesis.tex").write_text("precious")
    before = snapshot(here / "stuff")
    refused("train", "mnist", "--out", "stuff", "--subset", 100, "--epochs", 1, "--quiet", match="not empty")
    assert snapshot(here / "stuff") == before and sorted(p.name for p in (here / "stuff").iterdir()) == ["thesis.tex"]

    (here / "file.txt").write_text("a file")
    refused("train", "mnist", "--out", "file.txt", "--quiet", match="is a file")
    assert (here / "file.txt").read_text() == "a file"


def test_pickled_weights_are_refused(mnist_run, here):
    run2 = here / "RUN2"
    shutil.copytree(mnist_run, run2)
    torch.save(load_file(str(mnist_run / "model.safetensors")), run2 / "model.safetensors")
    np.save(here / "z.npy", np.zeros((2, 4), dtype=np.float32))
    before = snapshot(here)
    refused("sample", run2, "--out", "x.png", match="pickle")
    refused("evaluate", run2, match="pickle")
    refused("decode", run2, "z.npy", "--out", "d.npy", match="pickle")
    assert snapshot(here) == before
    assert not (here / "x.png").exists() and not (here / "d.npy").exists()


@pytest.mark.parametrize("out", ["x.txt", "x", "x.gif"])
def test_unsupported_output_extension(mnist_run, here, out):
    refused("sample", mnist_run, "--out", out, match=r"\.png")
    assert list(here.iterdir()) == []


def test_output_is_a_folder(mnist_run, here):
    (here / "out.png").mkdir()
    refused("sample", mnist_run, "--out", "out.png", match="folder")
    assert list((here / "out.png").iterdir()) == []


def test_pair_out_of_range(mnist_run, here):
    refused("interpolate", mnist_run, "--data", "mnist", "--pair", 0, 99999999, "--out", "p.png", match="out of range")
    assert not (here / "p.png").exists()


def test_decode_wrong_latent_width(mnist_run, here):
    np.save(here / "bad_shape.npy", np.zeros((3, 5), dtype=np.float32))
    refused("decode", mnist_run, "bad_shape.npy", "--out", "d.png", match=r"\(3, 5\).*4")
    np.save(here / "bad_rank.npy", np.zeros((2, 2, 4), dtype=np.float32))
    refused("decode", mnist_run, "bad_rank.npy", "--out", "d.png")
    refused("decode", mnist_run, "missing.npy", "--out", "d.png", match="missing.npy")
    assert not (here / "d.png").exists()


@pytest.mark.parametrize(
    "args",
    [
        ("sample", "--n", 0, "--out", "x.png"),
        ("traverse", "--dims", "0,9", "--out", "t.png"),
        ("traverse", "--dims", "zero", "--out", "t.png"),
        ("interpolate", "--steps", 1, "--out", "p.png"),
        ("evaluate", "--split", "bogus"),
    ],
)
def test_bad_option_values(mnist_run, here, args):
    before = snapshot(mnist_run)
    refused(args[0], mnist_run, *args[1:])
    assert list(here.iterdir()) == [] and snapshot(mnist_run) == before


def test_error_message_is_one_line_even_when_long(here):
    # a long path makes a message wider than any terminal: it must still be a single line
    long_name = "x" * 150 + ".csv"
    line = refused("train", long_name, "--out", "R")
    assert long_name in line


# -- 4. help -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_has_examples(command):
    args = ["--help"] if command is None else [command, "--help"]
    result = ok(*args)
    assert "Example" in result.stdout
    assert "Usage" in result.stdout
    if command is not None:
        assert f"vaekit {command}" in " ".join(result.stdout.split())


# -- 5. resume -----------------------------------------------------------------------------------------------
def test_resume_without_a_run(here):
    (here / "empty").mkdir()
    refused("train", "mnist", "--out", "empty", "--resume", "--quiet", match="cannot resume")
    assert list((here / "empty").iterdir()) == []
    refused("train", "mnist", "--out", "missing", "--resume", "--quiet", match="cannot resume")
    assert not (here / "missing").exists()


def test_reconstruct_uses_the_rows_of_the_given_file_in_order(csv_run, table_csv, tmp_path):
    """--data FILE means that file's rows, first N in order, not the run's validation split."""
    import vaekit

    out = tmp_path / "r.csv"
    ok("reconstruct", csv_run, "--data", table_csv, "--n", 3, "--out", out)
    expected = vaekit.load(csv_run).reconstruct(pd.read_csv(table_csv).iloc[:3]).numpy()
    assert np.allclose(pd.read_csv(out).to_numpy(), expected, atol=1e-4)
