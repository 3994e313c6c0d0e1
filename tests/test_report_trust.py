"""``vaekit report`` on a run with damaged files: the page is still written, the damaged part skipped and named in
a note; and the page says how training ended (all epochs, early stopping, the time limit, or an interruption)."""

from __future__ import annotations

import importlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import vaekit
from vaekit.cli.app import app
from vaekit.workflows.evaluate import evaluate
from vaekit.workflows.report import report

report_module = importlib.import_module("vaekit.workflows.report")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A tiny table run (3 epochs) with its eval.json; tests damage copies of it."""
    rng = np.random.default_rng(0)
    csv = tmp_path_factory.mktemp("data") / "data.csv"
    pd.DataFrame({c: rng.normal(0, 1, 120) for c in "abcd"}).to_csv(csv, index=False)
    run = tmp_path_factory.mktemp("trained") / "RUN"
    vaekit.train(str(csv), out=run, epochs=3, hidden=(16,), latent_dim=2, batch_size=32)
    evaluate(run, iw_samples=10)
    return run


@pytest.fixture
def run(trained, tmp_path) -> Path:
    return Path(shutil.copytree(trained, tmp_path / "RUN"))


def page_of(run: Path) -> str:
    return report(run).read_text(encoding="utf-8")


def notes(page: str) -> list[str]:
    """The items of the Notes card ([] when there is none)."""
    if '<ul class="notes">' not in page:
        return []
    block = page.split('<ul class="notes">', 1)[1].split("</ul>", 1)[0]
    return re.findall(r"<li>(.*?)</li>", block)


def cards(page: str) -> list[str]:
    return re.findall(r"<h2>(.*?)</h2>", page)


def test_an_intact_run_has_no_notes(run):
    page = page_of(run)
    assert notes(page) == [] and "Notes" not in cards(page)
    assert cards(page)[:2] == ["Metrics", "Training curves"]


@pytest.mark.parametrize(
    ("text", "note"),
    [
        ("{}", "holds no evaluation (no ELBO); evaluated afresh"),
        ("[]", "holds no evaluation (no ELBO); evaluated afresh"),
        ('{"elbo": "high"}', "holds no evaluation (no ELBO); evaluated afresh"),
        ("{not json", "is not valid JSON"),
        ("[" * 100_000, "nested 100000 levels deep"),
    ],
)
def test_a_damaged_eval_json_is_evaluated_afresh_with_a_note(run, text, note):
    """Guards: eval.json of {} gave a page without evaluation numbers, a non-dict or deep one crashed."""
    (run / "eval.json").write_text(text)
    page = page_of(run)
    assert len(notes(page)) == 1 and note in notes(page)[0], notes(page)
    assert "Samples evaluated" in page  # the fresh evaluation's numbers are on the page
    assert "Importance samples" not in page  # ... the ELBO only (K = 0): a page is not a 10-minute benchmark
    assert (run / "eval.json").read_text() == text  # the report writes nothing but itself


def test_damaged_fields_of_eval_json_are_left_out(run):
    ev = json.loads((run / "eval.json").read_text())
    (run / "eval.json").write_text(json.dumps({**ev, "kl_per_dim": "abc", "iwae": [1], "posterior_mean_variance": [1]}))
    page = page_of(run)
    assert len(notes(page)) == 1
    for field in ("kl_per_dim", "iwae", "posterior_mean_variance"):
        assert field in notes(page)[0]
    assert "KL per latent dimension" in cards(page) and "IWAE bound" not in page


@pytest.mark.parametrize(
    "line",
    ["{bad", '{"epoch": 4}', '{"epoch": "4", "elbo": 1, "reconstruction": 1, "kl": 1}', "[" * 100_000, "[]", "7"],
)
def test_a_damaged_metrics_line_is_skipped_with_a_note(run, line):
    """Guards: one bad line of metrics.jsonl crashed the report (JSONDecodeError, KeyError)."""
    lines = (run / "metrics.jsonl").read_text().splitlines()
    lines.insert(1, line)
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    page = page_of(run)
    assert notes(page) == [f"{run / 'metrics.jsonl'}: skipped 1 damaged line(s) (line 2)."]
    assert page.count('alt="training curves"') == 1  # the curves of the good lines are still drawn


def test_a_run_without_metrics_has_a_wide_card_and_no_wide_caption(run):
    """Guards: the curves card of a run without metrics.jsonl showed the word "wide" as its caption."""
    (run / "metrics.jsonl").unlink()
    page = page_of(run)
    assert '<p class="cap">wide</p>' not in page and ">wide<" not in page
    assert '<section class="card wide"><h2>Training curves</h2><p class="note">No training records' in page


def test_report_cli_with_a_damaged_metrics_line_succeeds(run):
    (run / "metrics.jsonl").write_text((run / "metrics.jsonl").read_text() + "{oops\n")
    result = CliRunner().invoke(app, ["report", str(run)])
    assert result.exit_code == 0, result.output
    assert len(notes((run / "report.html").read_text(encoding="utf-8"))) == 1


@pytest.mark.parametrize("text", ["{", "{}", "[]", '{"split": "all", "elbo": 1, "reconstruction": 1, "kl": "x"}'])
def test_stored_evaluation_is_none_for_a_damaged_eval_json(run, text):
    """What the CLI may print after the page: only an eval.json with the headline numbers."""
    assert report_module.stored_evaluation(run)["elbo"] < 0
    (run / "eval.json").write_text(text)
    assert report_module.stored_evaluation(run) is None


# -- how training ended -----------------------------------------------------------------------------------------
def ended(result: dict, options: dict, status=None, history=None) -> str:
    return report_module._how_it_ended(result, options, status, history or [{"epoch": 1, "seconds": 1.0}])


def test_how_training_ended():
    """Guards: the page said "ran all epochs" for runs stopped by --time-limit or killed."""
    assert ended({"epochs_completed": 10}, {"epochs": 10}, "finished") == "ran all epochs"
    early = ended({"epochs_completed": 4, "stopped_early": True}, {"epochs": 10, "early_stopping": 2}, "finished")
    assert early == "stopped early after 4 of 10 epochs (no better validation score for 2 epochs)"
    timed = [{"epoch": 1, "seconds": 40.0}, {"epoch": 2, "seconds": 30.0}]
    assert ended({"epochs_completed": 2}, {"epochs": 10, "time_limit": 1.0}, "finished", timed) == (
        "stopped by the time limit (1 min) after 2 of 10 epochs"
    )
    partial = [{"epoch": 1, "seconds": 5.0, "fraction": 0.3}]
    assert "time limit (2 min)" in ended({"epochs_completed": 1}, {"epochs": 10, "time_limit": 2.0}, None, partial)
    assert "time limit" in ended({"epochs_completed": 1, "stopped_by": "time_limit"}, {"epochs": 10})
    killed = ended({"epochs_completed": 3}, {"epochs": 10, "time_limit": 60.0}, "in_progress")
    assert killed.startswith("stopped after 3 of 10 epochs: interrupted") and "--resume" in killed
    assert ended({}, {"epochs": 10}) == "how training ended is not recorded"


def test_a_killed_run_says_so_on_the_page(run):
    cfg = json.loads((run / "config.json").read_text())
    cfg["training"]["options"]["epochs"] = 50
    cfg["training"]["status"] = "in_progress"
    (run / "config.json").write_text(json.dumps(cfg))
    page = page_of(run)
    assert "stopped after 3 of 50 epochs: interrupted" in page and "ran all epochs" not in page


def test_a_run_stopped_by_the_time_limit_says_so_on_the_page(run):
    cfg = json.loads((run / "config.json").read_text())
    cfg["training"]["options"].update(epochs=50, time_limit=0.0001)  # 6 ms: used up by the 3 epochs
    (run / "config.json").write_text(json.dumps(cfg))
    page = page_of(run)
    assert "stopped by the time limit (0.0001 min) after 3 of 50 epochs" in page and "ran all epochs" not in page
