"""Disentanglement metrics in ``vaekit evaluate`` (eval.json's "disentanglement") and in the report."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import vaekit
from vaekit.cli.app import app
from vaekit.data import load_dataset
from vaekit.data.schema import Attributes
from vaekit.data.shapes import FACTORS, GRID, grid_factors, render_shapes
from vaekit.vae import load_model
from vaekit.workflows.data import binarized_like_training
from vaekit.workflows.evaluate import _attribute_values, disentanglement_metrics, evaluate
from vaekit.workflows.kinds import kind_of
from vaekit.workflows.report import report

TINY = {"epochs": 1, "latent_dim": 6, "preset": "seed", "hidden": (64,), "progress": False}


@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("dis") / "shapes"
    vaekit.train("shapes:1500", run, **TINY)
    return run


@pytest.fixture(scope="module")
def evaluated(shapes_run):
    return evaluate(shapes_run, iw_samples=0)


def test_evaluate_scores_the_factors_of_shapes(shapes_run, evaluated):
    stored = json.loads((shapes_run / "eval.json").read_text())
    dis = stored["disentanglement"]
    # label is the shape index: the same factor, scored once
    assert dis["factors"] == list(FACTORS)
    assert dis["discrete"] == [True] * len(FACTORS)  # shapes: grid indices, as disentanglement_lib scores dSprites
    values = [dis["mig"], dis["sap"], *dis["dci"].values()]
    assert sorted(dis["dci"]) == ["completeness", "disentanglement", "informativeness"]
    assert all(isinstance(v, float) and 0 <= v <= 1 for v in values), values
    assert dis["n"] == stored["n"] == 1000  # the test split of shapes:1500, all of it (under 10,000 rows)
    best = dis["best_factor_per_dimension"]
    assert len(best) == 6 and all(name is None or name in FACTORS for name, _ in best)
    assert all(0 <= score <= 1 for _, score in best)
    # the other keys are as they were
    for key in ("data", "split", "elbo", "reconstruction", "kl", "kl_per_dim", "active_units", "seed"):
        assert key in stored
    assert stored["split"] == "test" and "iwae" not in stored


def test_the_factors_are_the_evaluated_rows(shapes_run):
    """The attributes read for a split belong to the very rows evaluated (val: the run's held-out part)."""
    model = load_model(shapes_run)
    for split in ("val", "test"):
        sel = kind_of(model).select(model, None, split)
        info, values = _attribute_values(model, model.record.data, sel.split)
        assert info.names[: len(FACTORS)] == FACTORS and len(values) == len(sel.x)
        assert torch.allclose(torch.from_numpy(render_shapes(values[:20, : len(FACTORS)])), sel.x[:20])


def test_grid_factors_are_indices_for_shapes_only():
    data = load_dataset("shapes:50")
    info, values = data.attribute_info, data.attributes["test"]
    out, discrete = grid_factors("shapes:50", info, values)
    assert discrete == [True] * len(FACTORS)
    assert np.array_equal(out, np.round(out)) and (out >= 0).all()
    assert all(out[:, j].max() < len(GRID[j]) for j in range(len(FACTORS)))
    assert not np.array_equal(out[:, 1:], values.numpy()[:, 1:])  # values became indices
    assert grid_factors("faces/", info, values) is None
    other = Attributes(("smiling",), ("categorical",), {"smiling": ("no", "yes")})
    assert grid_factors("shapes", other, values[:, :1]) is None


def test_data_without_attributes_gets_no_entry(tmp_path):
    x = np.random.default_rng(0).normal(size=(120, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    run = tmp_path / "run"
    vaekit.train(str(tmp_path / "x.npy"), run, epochs=1, latent_dim=2, hidden=(8,), progress=False)
    result = evaluate(run, iw_samples=0)
    assert "disentanglement" not in result and "elbo" in result
    assert "disentanglement" not in json.loads((run / "eval.json").read_text())


def test_a_conditional_model_leaves_its_condition_out(tmp_path):
    run = tmp_path / "cond"
    vaekit.train("shapes:1000", run, condition="shape", **TINY)
    model = load_model(run)
    sel = kind_of(model).select(model, None)
    assert sel.condition is not None
    dis = disentanglement_metrics(model, model.record.data, sel, binarized_like_training(model, sel.x))
    # y carries the shape (and label, the same values), not z
    assert dis["factors"] == ["scale", "orientation", "x", "y"]
    assert all(0 <= v <= 1 for v in (dis["mig"], dis["sap"], *dis["dci"].values()))


def test_the_cli_prints_the_metrics(shapes_run):
    result = CliRunner().invoke(app, ["evaluate", str(shapes_run), "--data", "shapes:1200", "--iw-samples", "0"])
    assert result.exit_code == 0, result.output
    assert re.search(r"MIG \d\.\d{3} · DCI \d\.\d{3} · SAP \d\.\d{3}", result.output)
    written = json.loads((shapes_run / "eval-shapes-1200-auto.json").read_text())
    assert written["disentanglement"]["factors"] == list(FACTORS)


def test_the_report_labels_the_traversal_rows_by_factor(shapes_run, evaluated):
    path = shapes_run / "eval.json"
    ev = json.loads(path.read_text())
    best = [["x", 0.4], [None, 0.01], ["shape", 0.7], ["y", 0.2], [None, 0.0], ["orientation", 0.05]]
    ev["disentanglement"]["best_factor_per_dimension"] = best
    path.write_text(json.dumps(ev))
    page = report(shapes_run).read_text()
    assert "Disentanglement" in page and "DCI completeness" in page
    assert f"{ev['disentanglement']['mig']:.3f}" in page
    card = page[page.index("Traversal by factor") :]
    labels = re.findall(r'<div class="tlabel"><b>(\w+)</b><span>z(\d+) · ([\d.]+)</span></div><img', card)
    assert labels == [("shape", "2", "0.70"), ("x", "0", "0.40"), ("y", "3", "0.20"), ("orientation", "5", "0.05")]
    assert "2 inactive dimension(s) left out" in card
    assert card.count('alt="traversal of z') == 4


def test_a_damaged_entry_is_left_out_of_the_report(shapes_run, evaluated):
    path = shapes_run / "eval.json"
    ev = json.loads(path.read_text())
    ev["disentanglement"]["best_factor_per_dimension"] = [["not a factor", 0.5]]
    path.write_text(json.dumps(ev))
    page = report(shapes_run).read_text()
    assert "Traversal by factor" not in page and "left out the damaged field(s) disentanglement" in page
