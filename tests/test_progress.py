"""Progress display: training shows it from Python too, one switch silences everything, the per-epoch line names
the objective it shows, and task/track cost nothing when nothing is shown."""

import io
import re

import pytest
from rich.console import Console

from vaekit import progress
from vaekit.training import train

SMALL = {"hidden": (64,), "latent_dim": 4, "subset": 300, "batch_size": 100, "epochs": 1}


def printed_lines(screen):
    """What stays on the terminal: escape codes dropped, a carriage return starts the line again."""
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    return [line.split("\r")[-1] for line in text.splitlines()]


@pytest.fixture
def screen():
    """A terminal that progress writes to; the process-wide settings are restored afterwards."""
    buf = io.StringIO()
    progress.set_console(Console(file=buf, force_terminal=True, width=200))
    yield buf
    progress.set_console(None)
    progress.set_enabled(True)


def test_python_training_shows_progress_on_a_terminal(mnist, screen):
    model = train(mnist, **SMALL)
    text = screen.getvalue()
    assert "epoch   1/1  train ELBO" in text and f"{model.history[0]['elbo']:9.2f}" in text
    assert "IWAE" not in text


@pytest.mark.parametrize("how", ["switch", "argument", "not a terminal"])
def test_progress_is_silenced(mnist, screen, how):
    kw = {}
    if how == "switch":  # what the CLI's --quiet does
        progress.set_enabled(False)
    elif how == "argument":
        kw = {"progress": False}
    else:  # stderr redirected to a file or a pipe: no bars, no lines
        progress.set_console(Console(file=screen, force_terminal=False))
    train(mnist, **SMALL, **kw)
    assert screen.getvalue() == ""


def test_the_switch_also_silences_an_explicit_training_display(mnist, screen):
    progress.set_enabled(False)
    train(mnist, callbacks=[progress.RichProgress(Console(file=screen, force_terminal=True))], **SMALL)
    assert screen.getvalue() == ""


def test_an_explicit_display_replaces_the_default_one(mnist, screen):
    mine = io.StringIO()
    train(mnist, callbacks=[progress.RichProgress(Console(file=mine, width=200))], **SMALL)
    assert screen.getvalue() == "" and mine.getvalue().count("train ELBO") == 1


def test_iwae_training_names_the_bound_it_shows(mnist, screen):
    model = train(mnist, objective="iwae", iw_samples=4, **SMALL)
    record = model.history[0]
    assert record["iw_samples"] == 4  # a new key; the existing ones are kept
    assert {"elbo", "reconstruction", "kl", "iwae", "val_elbo", "val_iwae", "beta", "lr"} <= record.keys()
    (line,) = [line for line in printed_lines(screen) if line.startswith("epoch   1/1  ")]
    assert line.startswith(f"epoch   1/1  train IWAE(K=4) bound {record['iwae']:9.2f} (ELBO {record['elbo']:9.2f}")
    assert f"val IWAE(K=4) bound {record['val_iwae']:9.2f}" in line and "train ELBO" not in line


def test_epoch_line_without_the_number_of_samples():
    record = {"epoch": 2, "elbo": -1.0, "reconstruction": -0.5, "kl": 0.5, "iwae": -0.9, "seconds": 1.0}
    line = progress.epoch_line({**record, "samples_per_s": 10.0}, 5)
    assert "train IWAE bound" in line and "train ELBO" not in line


def test_task_and_track_show_a_bar_on_a_terminal(screen):
    with progress.task("scoring rows", total=4) as bar:
        bar.advance(2)
        bar.advance()
        with progress.task("inner step", total=2) as inner:  # nested: a second row of the same display
            inner.advance(2)
    assert list(progress.track(range(5), "imputing")) == [0, 1, 2, 3, 4]
    assert list(progress.track(iter("ab"), "unsized")) == ["a", "b"]
    text = screen.getvalue()
    assert "scoring rows" in text and "imputing" in text and "inner step" in text


def test_task_and_track_do_nothing_when_disabled(screen):
    progress.set_enabled(False)
    assert not progress.shown()
    with progress.task("scoring", total=3) as bar:
        bar.advance(3)
        bar.update(completed=1, description="x")
    assert list(progress.track(range(3), "x")) == [0, 1, 2]
    assert screen.getvalue() == ""
    progress.set_enabled(True)
    assert progress.shown()


def test_long_library_steps_show_progress(linear_gaussian, screen):
    """evaluate's log p(x), anomaly scoring and imputation each show a bar on a terminal (10 minutes of silence
    before); training's own validation passes do not (no description, no bar)."""
    from vaekit.inference.anomaly import anomaly_scores
    from vaekit.inference.estimators import elbo_stats, iwae_per_sample
    from vaekit.inference.imputation import impute

    model, x, _, _ = linear_gaussian
    iwae_per_sample(model, x[:300], 5, description="log p(x), K=5")
    anomaly_scores(model, x[:300], "elbo")
    holed = x[:2000].clone()
    holed[:, 0] = float("nan")
    impute(model, holed, k=2000)  # 419 rows a batch: 5 batches
    text = screen.getvalue()
    assert "log p(x), K=5" in text and "anomaly score (elbo)" in text and "imputing" in text
    before = len(screen.getvalue())
    elbo_stats(model, x[:300])  # as training's validation calls it
    assert len(screen.getvalue()) == before


def test_reference_statistics_say_what_they_compute_the_first_time(screen, tmp_path, monkeypatch):
    """A first metrics call computes the reference statistics (minutes for MOSES): a line says so, bars count the
    molecules; a cached second call prints nothing."""
    from vaekit.molecules.metrics import reference_stats

    monkeypatch.setenv("VAEKIT_CACHE", str(tmp_path))
    smiles = ["CCO", "c1ccccc1", "CCN", "CC(=O)O", "c1ccncc1"]
    reference_stats(smiles, source="five molecules")
    text = screen.getvalue()
    assert "computing the reference statistics of five molecules (5 molecules), once; cached in" in text
    assert "ChemNet activations of 5 molecules" in text and "fingerprints, fragments" in text
    before = len(screen.getvalue())
    reference_stats(smiles, source="five molecules")
    assert len(screen.getvalue()) == before
    progress.set_enabled(False)
    reference_stats(smiles, source="five molecules", cache=False)
    assert len(screen.getvalue()) == before
