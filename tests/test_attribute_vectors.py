"""Attribute vectors (White, 2016): the vector against a hand computation, edits (amount 0 is the reconstruction, the
"scale" vector of a shapes model grows the shapes), RUN/attributes.json (round trip, damaged and oversized files
refused in one line), conditional models, and `vaekit attributes` / `vaekit edit` on the command line."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import vaekit
from vaekit.bundle import attributes as stored
from vaekit.bundle.attributes import read_attributes, write_attributes
from vaekit.cli.app import app
from vaekit.core.likelihoods import BernoulliConfig, GaussianConfig
from vaekit.data import load_dataset
from vaekit.data.schema import Attributes, Schema
from vaekit.data.shapes import SHAPES, measure_scale, render_shapes, shape_factors
from vaekit.errors import BundleError, DataError
from vaekit.inference.attributes import attribute_vectors
from vaekit.models.module import ModelConfig
from vaekit.nn.mlp import MLPConfig
from vaekit.vae import VAE
from vaekit.workflows.attributes import EditInput, attributes, edit

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
DATA = "shapes:600"


# -- fixtures ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory) -> Path:
    """A small VAE trained on 600 shapes (a few seconds), with the vectors of scale, x and shape stored."""
    run = tmp_path_factory.mktemp("attr") / "shapes"
    vaekit.train(
        DATA, run, epochs=5, latent_dim=6, hidden=(128,), batch_size=32, lr=3e-3, val_fraction=0.0, seed=0,
        progress=False,
    )  # fmt: skip
    attributes(run, columns="scale,x,shape")
    return run


@pytest.fixture
def run_copy(shapes_run: Path, tmp_path: Path) -> Path:
    """A copy of the trained run, for tests that change its attributes.json."""
    return Path(shutil.copytree(shapes_run, tmp_path / "run"))


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory) -> Path:
    """An untrained shapes model conditioned on the shape (weights are random: what is checked holds for any)."""
    torch.manual_seed(0)
    condition = Attributes(("shape",), ("categorical",), {"shape": SHAPES})
    config = ModelConfig(latent_dim=3, architecture=MLPConfig(hidden=(16,)), likelihood=BernoulliConfig())
    model = VAE(config, Schema("image", (1, 32, 32), condition=condition))
    run = tmp_path_factory.mktemp("attr") / "conditional"
    model.save(run, training={"data": DATA})
    return run


def one_line(e: pytest.ExceptionInfo) -> str:
    text = str(e.value)
    assert "\n" not in text and text
    return text


# -- the vectors -------------------------------------------------------------------------------------------------
def test_binary_vector_points_from_the_mean_code_without_to_the_mean_code_with() -> None:
    g = torch.Generator().manual_seed(0)
    codes = torch.randn(40, 3, generator=g)
    flag = (torch.arange(40) % 4 == 0).float()
    codes[flag == 1] += torch.tensor([2.0, 0.0, -1.0])  # the attribute moves the codes this way
    (entry,) = attribute_vectors(codes, flag[:, None], Attributes(("flag",), ("numeric",))).values()
    c, f = codes.numpy().astype(np.float64), flag.numpy()
    expected = c[f == 1].mean(0) - c[f == 0].mean(0)
    assert np.allclose(entry["vector"].numpy(), expected, atol=1e-6)
    assert entry["vector"][0] > 1 and entry["vector"][2] < 0  # from "without" towards "with", not the reverse
    assert (entry["positive"], entry["negative"]) == (10, 30)
    assert entry["norm"] == pytest.approx(float(np.linalg.norm(expected)), rel=1e-5)
    assert entry["split"] == "binary" and entry["attribute"] == "flag"


def test_numeric_slope_categories_and_missing_values() -> None:
    codes = torch.arange(24, dtype=torch.float32).reshape(12, 2)
    size = torch.tensor([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, float("nan")])
    colour = torch.tensor([0, 0, 0, 1, 1, 1, 1, 3, 3, 3, 3, 3], dtype=torch.float32)  # "green" (2) has no input
    pair = torch.tensor([1, 0] * 6, dtype=torch.float32)
    info = Attributes(
        ("size", "colour", "pair"), ("numeric", "categorical", "categorical"),
        {"colour": ("red", "blue", "green", "grey"), "pair": ("no", "yes")},
    )  # fmt: skip
    out = attribute_vectors(codes, torch.stack([size, colour, pair], 1), info)
    assert set(out) == {"size", "colour=red", "colour=blue", "colour=grey", "pair"}
    s = out["size"]
    assert s["split"] == "slope" and s["mean"] == 6.0  # the NaN row is left out: mean of 1..11
    assert s["sd"] == pytest.approx(np.sqrt(10.0)) and (s["positive"], s["negative"]) == (5, 6)
    # codes = 2 * (size - 1) + (0, 1): they grow by 2 per unit of size, 2 sd per standard deviation
    assert torch.allclose(s["vector"], torch.full((2,), 2 * np.sqrt(10.0), dtype=torch.float32))
    red = out["colour=red"]
    assert red["category"] == "red" and (red["positive"], red["negative"]) == (3, 9)
    assert torch.allclose(red["vector"], codes[:3].mean(0) - codes[3:].mean(0))
    assert torch.allclose(out["pair"]["vector"], codes[::2].mean(0) - codes[1::2].mean(0))  # "yes" minus "no"


def test_an_attribute_with_fewer_than_two_inputs_on_a_side_is_refused() -> None:
    codes = torch.randn(6, 2)
    with pytest.raises(DataError) as e:
        attribute_vectors(codes, torch.tensor([[1.0], [0], [0], [0], [0], [0]]), Attributes(("rare",), ("numeric",)))
    assert "rare" in one_line(e) and "at least 2" in str(e.value)
    with pytest.raises(DataError):  # every value the same: nothing above the mean
        attribute_vectors(codes, torch.full((6, 1), 3.0), Attributes(("same",), ("numeric",)))
    with pytest.raises(DataError):
        attribute_vectors(codes, torch.zeros(5, 1), Attributes(("short",), ("numeric",)))


# -- attributes.json ---------------------------------------------------------------------------------------------
def test_attributes_json_round_trip(tmp_path: Path) -> None:
    vectors = {
        "smiling": {"vector": torch.tensor([0.1, -2.5, 3.0]), "positive": 4, "negative": 7, "norm": 3.9,
                    "description": "smiling: 1 minus 0", "split": "binary"},
        "age": {"vector": [1.0, 2.0, 1e-8], "positive": 5, "negative": 5, "threshold": 40.0, "split": "median"},
    }  # fmt: skip
    path = write_attributes(tmp_path, vectors, latent_dim=3)
    assert path == tmp_path / "attributes.json"
    back = read_attributes(tmp_path, latent_dim=3)
    assert set(back) == {"smiling", "age"}
    assert torch.equal(back["smiling"]["vector"], torch.tensor([0.1, -2.5, 3.0]))
    assert back["age"]["vector"].dtype == torch.float32 and back["age"]["threshold"] == 40.0
    assert back["smiling"]["positive"] == 4 and back["smiling"]["description"] == "smiling: 1 minus 0"
    assert json.loads(path.read_text())["format_version"] == 1
    assert read_attributes(tmp_path / "elsewhere") == {}  # no file: no vectors
    with pytest.raises(BundleError):  # NaN is never written
        write_attributes(tmp_path, {"bad": {"vector": [float("nan"), 0.0, 0.0]}}, latent_dim=3)


def _doc(**vectors) -> dict:
    return {"format_version": 1, "latent_dim": 2, "vectors": vectors}


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        (json.dumps({**_doc(), "format_version": 7}), "newer vaekit"),
        (json.dumps({**_doc(), "latent_dim": 0}), "latent_dim"),
        (json.dumps({**_doc(), "latent_dim": 5}), "another model"),
        (json.dumps({**_doc(), "vectors": [1.0, 2.0]}), "vectors must be an object"),
        (json.dumps(_doc(a={"vector": [1.0]})), "list of 2 finite numbers"),
        (json.dumps(_doc(a={"vector": [1.0, True]})), "list of 2 finite numbers"),
        ('{"format_version": 1, "latent_dim": 2, "vectors": {"a": {"vector": [NaN, 1]}}}', "finite"),
        (json.dumps(_doc(a={"vector": [1.0, 2.0], "positive": -1})), "positive"),
        (json.dumps(_doc(a={"vector": [1.0, 2.0], "description": 5})), "description"),
        (json.dumps(_doc(**{" ": {"vector": [1.0, 2.0]}})), "non-empty string"),
        (json.dumps(_doc(a=[1.0, 2.0])), "must be an object"),
    ],
)
def test_a_damaged_attributes_json_is_refused_in_one_line(tmp_path: Path, text: str, match: str) -> None:
    (tmp_path / "attributes.json").write_text(text)
    with pytest.raises(BundleError, match=match) as e:
        read_attributes(tmp_path, latent_dim=2)
    assert "attributes.json" in one_line(e)


def test_oversized_and_overfull_files_are_refused_before_use(tmp_path: Path, monkeypatch) -> None:
    write_attributes(tmp_path, {f"v{i}": {"vector": [float(i), 0.0]} for i in range(5)}, latent_dim=2)
    monkeypatch.setattr(stored, "MAX_ATTRIBUTES_BYTES", 100)
    with pytest.raises(BundleError, match="larger than") as e:
        read_attributes(tmp_path, latent_dim=2)
    one_line(e)
    monkeypatch.setattr(stored, "MAX_ATTRIBUTES_BYTES", 10**6)
    monkeypatch.setattr(stored, "MAX_ATTRIBUTE_VECTORS", 4)
    with pytest.raises(BundleError, match="5 vectors, at most 4") as e:
        read_attributes(tmp_path, latent_dim=2)
    one_line(e)


# -- a trained model -------------------------------------------------------------------------------------------
def test_workflow_vector_matches_the_mean_codes_of_the_data(shapes_run: Path) -> None:
    model = vaekit.load(shapes_run)
    data = load_dataset(DATA, schema=model.schema)
    x, scale = data.splits["train"], data.attributes["train"][:, 1]
    codes = model.latent_codes(x).double()
    s = scale.double()
    slope = np.polyfit(s.numpy(), codes.numpy(), 1)[0]  # least squares per code dimension, per unit of scale
    entry = read_attributes(shapes_run, model.config.latent_dim)["scale"]
    assert np.allclose(entry["vector"].numpy(), slope * s.std(unbiased=False).item(), atol=1e-5)
    above = s > s.mean()
    assert (entry["positive"], entry["negative"]) == (int(above.sum()), int((~above).sum()))
    assert entry["split"] == "slope" and entry["source"] == f"{DATA} (train)"
    assert {f"shape={s}" for s in SHAPES} <= set(read_attributes(shapes_run))


def test_edit_at_amount_zero_is_the_reconstruction(shapes_run: Path) -> None:
    model = vaekit.load(shapes_run)
    model.run_path = shapes_run
    x = load_dataset(DATA, schema=model.schema).splits["test"][:5]
    out = model.edit(x, "scale", [-1.0, 0.0, 2.0])
    assert out.shape == (5, 3, 1, 32, 32)
    assert torch.allclose(out[:, 1], model.reconstruct(x), atol=1e-5)
    assert not torch.allclose(out[:, 0], out[:, 1], atol=1e-3)  # the other amounts do change something
    single = model.edit(x[0], "scale", [0.0, 1.0])
    assert single.shape == (2, 1, 32, 32)
    assert torch.allclose(single[0], out[0, 1], atol=1e-5)


def test_the_scale_vector_grows_the_shapes(shapes_run: Path) -> None:
    model = vaekit.load(shapes_run)
    model.run_path = shapes_run
    x = load_dataset(DATA, schema=model.schema).splits["test"][:100]
    out = model.edit(x, "scale", [-1.5, 0.0, 1.5])
    small, same, large = (measure_scale(out[:, i]) for i in range(3))
    assert (large > small).mean() >= 0.8, (large > small).mean()
    assert large.mean() > same.mean() > small.mean()


def test_fit_attributes_in_memory_and_unknown_names(shapes_run: Path) -> None:
    model = vaekit.load(shapes_run)
    model.run_path = None  # a model that came from no run folder: nothing stored is read
    with pytest.raises(DataError, match="none stored, run `vaekit attributes") as e:
        model.edit(torch.zeros(1, 32, 32), "scale", [0.0])
    one_line(e)
    data = load_dataset(DATA, schema=model.schema)
    info, idx = data.attribute_info.select(["x"])
    entries = model.fit_attributes(data.splits["train"], data.attributes["train"][:, idx], info)
    assert set(entries) == {"x"} and set(model.attribute_vectors) == {"x"}
    with pytest.raises(DataError, match="unknown attribute 'y': the model has vectors for x") as e:
        model.attribute_vector("y")
    one_line(e)


def test_a_loaded_model_reads_its_stored_vectors(shapes_run: Path) -> None:
    model = vaekit.load(shapes_run)
    if model.run_path is None:
        pytest.skip("bundle.load_model does not set model.run_path yet")
    assert {"scale", "x"} <= set(model.attribute_vectors)
    assert model.attribute_vectors["scale"].shape == (6,)


def test_attributes_merge_and_recompute(run_copy: Path) -> None:
    before = read_attributes(run_copy)
    r = attributes(run_copy, columns=["orientation"], split="test")
    assert [v.name for v in r.vectors] == ["orientation"] and r.kept == len(before) and r.split == "test"
    after = read_attributes(run_copy)
    assert set(after) == set(before) | {"orientation"}
    assert torch.equal(after["scale"]["vector"], before["scale"]["vector"])
    attributes(run_copy, columns="scale", split="test")  # computed again on other inputs: replaced
    assert not torch.equal(read_attributes(run_copy)["scale"]["vector"], before["scale"]["vector"])
    with pytest.raises(DataError, match="unknown attribute 'smiling'"):
        attributes(run_copy, columns="smiling")
    with pytest.raises(DataError, match="split 'val'"):
        attributes(run_copy, split="val")


# -- conditional models ------------------------------------------------------------------------------------------
def test_a_conditional_model_encodes_and_decodes_with_each_inputs_condition(conditional_run: Path) -> None:
    attributes(conditional_run, columns="scale")
    model = vaekit.load(conditional_run)
    model.run_path = conditional_run
    data = load_dataset(DATA)
    x, f = data.splits["train"], data.attributes["train"]
    codes = model.latent_codes(x, condition=f[:, :1]).double()  # the shape index is the model's condition
    s = f[:, 1].double()
    expected = np.polyfit(s.numpy(), codes.numpy(), 1)[0] * s.std(unbiased=False).item()
    assert np.allclose(model.attribute_vectors["scale"].numpy(), expected, atol=1e-5)

    written = edit(conditional_run, EditInput(index=2), "scale", [0.0, 3.0], Path(conditional_run) / "e.npy")
    xt, own = data.splits["test"][2:3], data.attributes["test"][2:3, :1]
    assert torch.allclose(written.values[0], model.reconstruct(xt, given=own)[0], atol=1e-5)
    assert torch.allclose(written.values, model.edit(xt[0], "scale", [0.0, 3.0], condition=own), atol=1e-5)
    other = model.edit(xt[0], "scale", [0.0], condition=(own + 1) % 3)  # another shape
    assert not torch.allclose(other[0], written.values[0], atol=1e-4)  # the condition is used
    png = _shape_png(Path(conditional_run) / "in.png", 32)
    with pytest.raises(DataError, match="pass --condition shape=") as e:
        edit(conditional_run, png, "scale", [0.0], Path(conditional_run) / "e.png")
    one_line(e)
    done = edit(conditional_run, png, "scale", [0.0], Path(conditional_run) / "e.png", condition={"shape": "square"})
    assert done.values.shape == (1, 1, 32, 32)


def test_a_conditional_table_model_gets_vectors_of_its_columns_and_edits_rows(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 60
    frame = pd.DataFrame({"u": rng.normal(size=n), "flag": np.arange(n) % 2, "rare": (np.arange(n) == 0) * 1.0,
                          "group": rng.choice(["a", "b", "c"], n)})  # fmt: skip
    frame.to_csv(tmp_path / "t.csv", index=False)
    condition = Attributes(("group",), ("categorical",), {"group": ("a", "b", "c")})
    config = ModelConfig(latent_dim=2, architecture=MLPConfig(hidden=(8,)), likelihood=GaussianConfig())
    schema = Schema("table", (3,), columns=("u", "flag", "rare"), condition=condition)
    torch.manual_seed(0)
    VAE(config, schema).save(tmp_path / "run", training={"data": str(tmp_path / "t.csv")})
    r = attributes(tmp_path / "run")  # every column, the condition's too; "rare" (one row with it) is skipped
    assert {v.name for v in r.vectors} == {"u", "flag", "group=a", "group=b", "group=c"}
    assert len(r.skipped) == 1 and "'rare'" in r.skipped[0]
    with pytest.raises(DataError, match="'rare': 1 input"):
        attributes(tmp_path / "run", columns="rare")
    model = vaekit.load(tmp_path / "run")
    y = torch.tensor(pd.Categorical(frame["group"], ["a", "b", "c"]).codes, dtype=torch.float32)[:, None]
    codes = model.latent_codes(torch.tensor(frame[["u", "flag", "rare"]].to_numpy(np.float32)), condition=y)
    flag = torch.tensor(frame["flag"].to_numpy()) == 1
    expected = codes[flag].double().mean(0) - codes[~flag].double().mean(0)
    assert torch.allclose(read_attributes(tmp_path / "run")["flag"]["vector"].double(), expected, atol=1e-5)
    written = edit(tmp_path / "run", EditInput(index=4), "flag", [-1.0, 0.0, 1.0], tmp_path / "rows.csv")
    rows = pd.read_csv(tmp_path / "rows.csv")
    assert list(rows.columns) == ["amount", "u", "flag", "rare", "group"] and len(rows) == 3
    assert rows["amount"].tolist() == [-1.0, 0.0, 1.0] and set(rows["group"]) == {frame["group"][4]}
    assert np.allclose(rows[["u", "flag", "rare"]].to_numpy()[1], written.values[1].numpy(), atol=1e-5)


# -- the command line --------------------------------------------------------------------------------------------
def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def ok(*args: object) -> str:
    result = invoke(*args)
    assert result.exit_code == 0, f"{args}: exit {result.exit_code}\n{result.output}\n{result.exception!r}"
    return ANSI.sub("", result.output)


def refused(*args: object, match: str) -> str:
    result = invoke(*args)
    stderr = ANSI.sub("", result.stderr)
    assert result.exit_code == 2, f"{args}: exit {result.exit_code}\n{result.output}\n{result.exception!r}"
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and match in lines[0], lines
    return lines[0]


def _shape_png(path: Path, size: int) -> Path:
    factors = shape_factors(1, seed=5)
    image = (render_shapes(factors, size=size)[0, 0] * 255).round().astype(np.uint8)
    Image.fromarray(image, mode="L").save(path)
    return path


def test_cli_attributes_prints_a_table_and_writes_the_file(run_copy: Path) -> None:
    (run_copy / "attributes.json").unlink()
    text = ok("attributes", run_copy, "--columns", "scale,shape")
    for word in ("scale", "shape=heart", "inputs with", "without", "|v|", "attributes.json"):
        assert word in text, text
    assert set(read_attributes(run_copy)) == {"scale"} | {f"shape={s}" for s in SHAPES}
    refused("attributes", run_copy, "--columns", "smiling", match="unknown attribute 'smiling'")


def test_cli_edit_writes_a_strip_and_a_gif(shapes_run: Path, tmp_path: Path) -> None:
    strip = tmp_path / "strip.png"
    text = ok("edit", shapes_run, "--index", 3, "--attribute", "scale", "--amounts", "-2,-1,0,1,2", "--out", strip)
    assert "wrote 5 edits along scale" in text
    with Image.open(strip) as im:
        assert im.width > 4 * im.height  # one row of five images
    gif = tmp_path / "x.gif"
    ok("edit", shapes_run, "--input", _shape_png(tmp_path / "in.png", 64), "--attribute", "x", "--out", gif)
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames >= 5
    npy = tmp_path / "e.npy"
    ok("edit", shapes_run, "--index", 0, "--attribute", "shape=heart", "--amounts", "0,1", "--out", npy)
    assert np.load(npy).shape == (2, 1, 32, 32)


def test_cli_edit_refusals(run_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "e.png"
    refused("edit", run_copy, "--index", 0, "--attribute", "smile", "--out", out, match="unknown attribute 'smile'")
    refused("edit", run_copy, "--attribute", "scale", "--out", out, match="--input FILE")
    refused("edit", run_copy, "--index", 0, "--attribute", "scale", "--amounts", "a,b", "--out", out, match="--amounts")
    refused("edit", run_copy, "--index", 10**6, "--attribute", "scale", "--out", out, match="out of range")
    refused("edit", run_copy, "--index", 0, "--attribute", "scale", "--out", tmp_path / "e.txt", match="expected")
    out.write_bytes(b"")
    refused("edit", run_copy, "--index", 0, "--attribute", "scale", "--out", out, match="already exists")
    (run_copy / "attributes.json").write_text('{"format_version": 1, "latent_dim": 6, "vectors": {"s": {}}}')
    refused("edit", run_copy, "--index", 0, "--attribute", "s", "--out", tmp_path / "f.png", match="damaged")
