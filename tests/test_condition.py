"""Conditional VAEs, p(x|z, y): the condition enters the model once and every use gets it.

The data are built so that y decides what x looks like: a model that ignored y could not pass these tests."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import vaekit
from vaekit.cli.app import app
from vaekit.data.condition import condition_values, parse_assignments, with_condition
from vaekit.data.schema import Attributes, Dataset, Schema
from vaekit.errors import BundleError, DataError

runner = CliRunner()


def bars(n: int = 600, seed: int = 0) -> Dataset:
    """8x8 binary images: class 0 lights the left half, class 1 the right half, down to a random row (the style z
    can carry); labels 0/1."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    height = torch.randint(2, 9, (n,), generator=g)
    rows = torch.arange(8)[None, :] < height[:, None]  # (n, 8)
    x = torch.zeros(n, 1, 8, 8)
    x[:, 0, :, :4] = rows[:, :, None].float()
    x[y == 1] = x[y == 1].flip(-1)
    schema = Schema("image", (1, 8, 8), label_names=("left", "right"), source="bars")
    labels = {"train": y[: n - 100], "test": y[n - 100 :]}
    return Dataset({"train": x[: n - 100], "test": x[n - 100 :]}, schema, labels=labels)


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cond") / "run"
    vaekit.train(bars(), out, condition="label", epochs=80, latent_dim=2, hidden=(64,), progress=False, seed=0)
    return out


def halves(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[..., :4].mean((1, 2, 3)), x[..., 4:].mean((1, 2, 3))


def test_samples_follow_the_condition(image_run):
    model = vaekit.load(image_run)
    for name, bright in (("left", 0), ("right", 1)):
        sides = torch.stack(halves(model.sample(100, seed=1, condition={"label": name})))
        assert (sides[bright] > sides[1 - bright]).float().mean() >= 0.85, name  # a model ignoring y: about 0.5


def test_counterfactual_keeps_style_and_changes_class(image_run):
    model = vaekit.load(image_run)
    data = bars(seed=3)
    x, y = data.splits["test"], data.labels["test"]
    lefts = x[y == 0][:30]
    flipped = model.reconstruct(lefts, {"label": "right"}, given={"label": "left"})
    left, right = halves(flipped)
    assert (right > left).float().mean() >= 0.9
    # the style (how far down the bar reaches) survives: it is what z carries
    height = lefts[..., :4].mean((1, 2, 3))
    assert np.corrcoef(height.numpy(), right.numpy())[0, 1] > 0.8
    same = model.reconstruct(lefts, given={"label": "left"})
    assert (halves(same)[0] > halves(same)[1]).float().mean() >= 0.9


def test_condition_errors_name_what_the_model_knows(image_run):
    model = vaekit.load(image_run)
    with pytest.raises(DataError, match="conditional on label: pass a condition"):
        model.sample(4)
    with pytest.raises(DataError, match="label=up is not known to the model: it knows left, right"):
        model.sample(4, condition={"label": "up"})
    with pytest.raises(DataError, match="unknown condition 'colour': the model is conditioned on label"):
        model.sample(4, condition={"colour": "red"})
    unconditional = vaekit.train(bars(200), epochs=1, progress=False)
    with pytest.raises(DataError, match="not conditional"):
        unconditional.sample(2, condition={"label": "left"})


def test_bundle_keeps_the_condition_and_a_newer_format(image_run, tmp_path):
    cfg = json.loads((image_run / "config.json").read_text())
    assert cfg["format_version"] == 2 and cfg["schema"]["condition"]["names"] == ["label"]
    plain = tmp_path / "plain"
    vaekit.train(bars(200), plain, epochs=1, progress=False)
    assert json.loads((plain / "config.json").read_text())["format_version"] == 1  # older releases still read it
    cfg["schema"]["condition"]["categories"] = {}
    (image_run / "config.json").write_text(json.dumps(cfg))
    try:
        with pytest.raises(BundleError, match="no entry for the categorical condition 'label'"):
            vaekit.load(image_run)
    finally:
        cfg["schema"]["condition"]["categories"] = {"label": ["left", "right"]}
        (image_run / "config.json").write_text(json.dumps(cfg))


def table(n: int = 800, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    city = rng.choice(["Berlin", "Paris"], n)
    age = rng.uniform(20, 60, n)
    income = np.where(city == "Berlin", 30.0, 60.0) + 0.5 * age + rng.normal(0, 2, n)
    return pd.DataFrame({"city": city, "age": age, "income": income, "pet": rng.choice(["cat", "dog"], n)})


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tab")
    table().to_csv(folder / "people.csv", index=False)
    out = folder / "run"
    vaekit.train(folder / "people.csv", out, condition="city,age", epochs=60, latent_dim=2, progress=False)
    return out


def test_table_condition_columns_leave_x_and_steer_the_rows(table_run):
    model = vaekit.load(table_run)
    assert model.schema.columns == ("income", "pet") and model.condition.names == ("city", "age")
    berlin = model.sample_frame(400, seed=0, condition={"city": "Berlin", "age": 40})
    paris = model.sample_frame(400, seed=0, condition={"city": "Paris", "age": 40})
    assert list(berlin.columns) == ["income", "pet", "city", "age"] and set(berlin["city"]) == {"Berlin"}
    assert abs(berlin["income"].mean() - 50) < 4 and abs(paris["income"].mean() - 80) < 4
    young = model.sample_frame(400, seed=0, condition={"city": "Paris", "age": 20})
    assert paris["income"].mean() - young["income"].mean() > 5  # the numeric condition counts too


def test_cli_conditional_table_and_images(table_run, image_run, tmp_path):
    out = tmp_path / "rows.csv"
    r = runner.invoke(
        app, ["sample", str(table_run), "--n", "20", "--condition", "city=Paris,age=30", "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    rows = pd.read_csv(out)
    assert set(rows["city"]) == {"Paris"} and np.allclose(rows["age"], 30)
    rome = ["sample", str(table_run), "--n", "5", "--condition", "city=Rome,age=30", "--out", str(tmp_path / "r.csv")]
    r = runner.invoke(app, rome)
    assert r.exit_code == 2 and "city=Rome is not known to the model: it knows Berlin, Paris" in r.output
    r = runner.invoke(app, ["sample", str(table_run), "--n", "5", "--out", str(tmp_path / "x.csv")])
    assert r.exit_code == 2 and "pass --condition city=...,age=..." in r.output
    grid = tmp_path / "grid.npy"  # no condition, one categorical attribute: a row per class
    r = runner.invoke(app, ["sample", str(image_run), "--n", "8", "--out", str(grid)])
    assert r.exit_code == 0, r.output
    left, right = halves(torch.as_tensor(np.load(grid)))
    assert (left[:4] > right[:4]).all() and (right[4:] > left[4:]).all()


def test_condition_values_parsing():
    info = Attributes(("city", "age"), ("categorical", "numeric"), {"city": ("Berlin", "Paris")})
    assert condition_values({"city": "Paris", "age": 3}, info, 2).tolist() == [[1.0, 3.0], [1.0, 3.0]]
    assert condition_values({"city": ["Berlin", "Paris"], "age": [1, 2]}, info).tolist() == [[0, 1], [1, 2]]
    frame = pd.DataFrame({"age": [5], "city": ["Berlin"]})
    assert condition_values(frame, info).tolist() == [[0.0, 5.0]]
    with pytest.raises(DataError, match="give age as well"):
        condition_values({"city": "Paris"}, info, 1)
    with pytest.raises(DataError, match="age is numeric"):
        condition_values({"city": "Paris", "age": "old"}, info, 1)
    with pytest.raises(DataError, match="category indices"):
        condition_values(np.array([[2.0, 1.0]]), info)
    assert parse_assignments("city=Berlin, age=40") == {"city": "Berlin", "age": "40"}
    with pytest.raises(DataError, match="NAME=VALUE"):
        parse_assignments("Berlin")


def test_with_condition_errors():
    data = bars(50)
    with pytest.raises(DataError, match="unknown attribute 'size': the data has label"):
        with_condition(data, ["size"])
    no_labels = Dataset({"all": data.splits["train"]}, data.schema)
    with pytest.raises(DataError, match="no labels or attributes to condition on"):
        with_condition(no_labels, ["label"])


def test_cli_train_with_condition_and_resume(tmp_path):
    csv = tmp_path / "people.csv"
    table(300).to_csv(csv, index=False)
    out = tmp_path / "run"
    args = ["train", str(csv), "--out", str(out), "--condition", "city", "--epochs", "2", "--quiet"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["training"]["condition"] == ["city"] and cfg["schema"]["columns"] == ["age", "income", "pet"]
    r = runner.invoke(app, ["train", str(csv), "--out", str(out), "--condition", "city", "--epochs", "3", "--resume"])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "config.json").read_text())["training"]["result"]["epochs_completed"] == 3
    r = runner.invoke(app, ["train", str(csv), "--out", str(tmp_path / "bad"), "--condition", "town", "--quiet"])
    assert r.exit_code == 2 and "unknown column 'town': the table has age, city, income, pet" in r.output


def test_objective_betatc_trains_and_refuses_what_it_cannot(tmp_path):
    model = vaekit.train("shapes:400", objective="betatc", beta=6.0, epochs=2, latent_dim=4, progress=False)
    assert all(np.isfinite(r["elbo"]) for r in model.history)
    assert model.record.options["objective"] == "betatc"
    with pytest.raises(vaekit.VaekitError, match="betatc objective needs a VAE, not a plain autoencoder"):
        vaekit.train("shapes:400", objective="betatc", autoencoder=True, epochs=1, progress=False)
    with pytest.raises(vaekit.VaekitError, match="one latent level"):
        vaekit.train("shapes:400", objective="betatc", preset="ladder", epochs=1, progress=False)


def test_shapes_condition_on_factors():
    model = vaekit.train("shapes:400", condition="shape,scale", epochs=1, latent_dim=4, progress=False)
    assert model.condition.names == ("shape", "scale") and model.condition.types == ("categorical", "numeric")
    x = model.sample(3, condition={"shape": "heart", "scale": 0.75})
    assert x.shape == (3, 1, 32, 32)


def test_codes_are_drawn_from_gaussians_fitted_per_condition(image_run):
    model = vaekit.load(image_run)
    assert model.group_mean.shape == (2, 2) and not torch.equal(model.group_chol[0], torch.eye(2))
    y = torch.tensor([[0.0], [1.0], [1.0]])
    assert model.group_of(y).tolist() == [0, 1, 1]
    z = model.sample_codes(torch.zeros(4000, 1), torch.Generator().manual_seed(0))
    assert torch.allclose(z.mean(0), model.group_mean[0], atol=0.1)
    cov = model.group_chol[0] @ model.group_chol[0].T
    assert torch.allclose(torch.cov(z.T), cov, atol=0.1 * float(cov.abs().max()))
    fitted = model.sample(8, seed=0, condition={"label": "left"})
    prior = model.sample(8, seed=0, condition={"label": "left"}, prior=True)
    assert not torch.equal(fitted, prior)
