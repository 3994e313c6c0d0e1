"""`vaekit train --log`: TensorBoard and MLflow get metrics.jsonl's numbers per epoch, a resumed run continues the
same steps, logging leaves the weights alone, and a missing package is one line."""

import json
import sys

import numpy as np
import pytest
from safetensors.torch import load_file
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from typer.testing import CliRunner

from vaekit.cli import app
from vaekit.training import train
from vaekit.training.tracking import STATE_FILE, tensorboard_tag

SMALL = {"hidden": (32,), "latent_dim": 4, "subset": 400, "batch_size": 100, "progress": False}
MLFLOW_KEY = "elbo"  # a metric every epoch has


@pytest.fixture(autouse=True)
def local_mlflow(monkeypatch):
    """MLflow's own defaults off: no tracking URI from the environment; the reader may open file stores."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)


def records(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def numbers(record):
    return {k: v for k, v in record.items() if k != "epoch" and isinstance(v, int | float)}


def events(run):
    acc = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def mlflow_run(run, monkeypatch):
    """(client, run) of the MLflow run a run folder logged to."""
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 opens a file store only when asked to
    state = json.loads((run / STATE_FILE).read_text())["mlflow"]
    client = MlflowClient(state["tracking_uri"])
    return client, client.get_run(state["run_id"])


def assert_scalars_match(acc, history):
    for key in numbers(history[0]):
        got = [(e.step, e.value) for e in acc.Scalars(tensorboard_tag(key))]
        assert got == [(r["epoch"], float(np.float32(r[key]))) for r in history], key  # TensorBoard keeps float32


def assert_metrics_match(client, run_id, history):
    for key in numbers(history[0]):
        got = sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))
        assert got == [(r["epoch"], r[key]) for r in history], key


def test_tensorboard_scalars_are_metrics_jsonl_and_image_models_get_samples(mnist, tmp_path):
    run = tmp_path / "run"
    train(mnist, run, epochs=2, log=["tensorboard"], **SMALL)
    history, acc = records(run), events(run)
    assert_scalars_match(acc, history)
    assert set(acc.Tags()["scalars"]) == {tensorboard_tag(k) for k in numbers(history[0])}
    assert {"val/elbo", "train/elbo", "train/kl", "train/lr"} <= set(acc.Tags()["scalars"])
    grids = acc.Images("samples")
    assert [g.step for g in grids] == [1, 2]
    assert grids[-1].width > 28 and grids[-1].height > 28  # one grid of samples, not a single image
    assert not (run / "mlruns").exists()


def test_mlflow_run_holds_params_metrics_and_result(mnist, tmp_path, monkeypatch):
    run = tmp_path / "run"
    train(mnist, run, epochs=2, log="mlflow", **SMALL)
    assert "MLFLOW_ALLOW_FILE_STORE" not in __import__("os").environ  # set only while the run logged
    client, logged = mlflow_run(run, monkeypatch)
    assert logged.info.status == "FINISHED"
    assert logged.info.run_name == "run"
    assert (run / "mlruns").is_dir()
    params = logged.data.params
    assert params["epochs"] == "2" and params["latent_dim"] == "4" and params["preset"] == "seed"
    assert params["hidden"] == "[32]" and params["seed"] == "0"
    history = records(run)
    assert_metrics_match(client, logged.info.run_id, history)
    config = json.loads((run / "config.json").read_text())["training"]["result"]
    assert logged.data.metrics["best_epoch"] == config["best_epoch"]
    assert logged.data.metrics["best_val"] == config["best_val"]
    assert logged.data.tags["stopped_by"] == "epochs"


def test_mlflow_tracking_uri_from_the_environment(mnist, tmp_path, monkeypatch):
    store = tmp_path / "shared"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.as_uri())
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "digits")
    run = tmp_path / "run"
    train(mnist, run, epochs=1, log="mlflow", **SMALL)
    client, logged = mlflow_run(run, monkeypatch)
    assert not (run / "mlruns").exists() and store.is_dir()
    assert client.get_experiment(logged.info.experiment_id).name == "digits"
    assert_metrics_match(client, logged.info.run_id, records(run))


def test_resume_continues_the_same_runs_without_duplicate_steps(mnist, tmp_path, monkeypatch):
    from torch.utils.tensorboard import SummaryWriter

    run = tmp_path / "run"
    train(mnist, run, epochs=2, log="tensorboard,mlflow", **SMALL)
    run_id = json.loads((run / STATE_FILE).read_text())["mlflow"]["run_id"]
    train(mnist, run, resume=True, epochs=3, progress=False)  # an epoch trained without --log
    with SummaryWriter(str(run / "tensorboard")) as stale:  # what a run killed after logging epoch 4 left behind
        stale.add_scalar("train/elbo", 123.0, global_step=4)
    train(mnist, run, resume=True, epochs=4, log=["tensorboard", "mlflow"], progress=False)
    history = records(run)
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]
    acc = events(run)
    assert_scalars_match(acc, history)  # epoch 3 filled in from the history, the stale epoch 4 replaced
    assert [g.step for g in acc.Images("samples")] == [1, 2, 4]  # grids of the epochs logged as they ended
    client, logged = mlflow_run(run, monkeypatch)
    assert logged.info.run_id == run_id and logged.info.status == "FINISHED"
    assert len(client.search_runs([logged.info.experiment_id])) == 1
    assert_metrics_match(client, run_id, history)
    assert logged.data.params["epochs"] == "2" and logged.data.tags["resumed.epochs"] == "4"


def test_same_seed_same_weights_with_and_without_log(mnist, tmp_path):
    plain, logged = tmp_path / "plain", tmp_path / "logged"
    train(mnist, plain, epochs=2, seed=5, **SMALL)
    args = ["--hidden", "32", "--latent-dim", "4", "--subset", "400", "--batch-size", "100", "--epochs", "2"]
    result = CliRunner().invoke(
        app,
        ["train", "mnist", "--out", str(logged), *args, "--seed", "5", "-q", "--log", "tensorboard", "--log", "mlflow"],
    )
    assert result.exit_code == 0, result.output
    assert (logged / "tensorboard").is_dir() and (logged / "mlruns").is_dir()
    a, b = load_file(plain / "model.safetensors"), load_file(logged / "model.safetensors")
    assert a.keys() == b.keys() and all(a[k].equal(b[k]) for k in a)
    timing = {"seconds", "samples_per_s"}
    assert [{k: v for k, v in r.items() if k not in timing} for r in records(plain)] == [
        {k: v for k, v in r.items() if k not in timing} for r in records(logged)
    ]


@pytest.mark.parametrize(
    ("log", "module", "package"),
    [("mlflow", "mlflow", "mlflow-skinny"), ("tensorboard", "torch.utils.tensorboard", "tensorboard")],
)
def test_a_missing_package_is_one_line_before_training(tmp_path, monkeypatch, log, module, package):
    monkeypatch.setitem(sys.modules, module, None)  # `import` now fails as if it were not installed
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "mnist", "--out", str(run), "--epochs", "1", "--log", log])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert package in lines[0] and "pip install 'vaekit[tracking]'" in lines[0]
    assert not run.exists()  # refused before the run folder was made


def test_an_unknown_tracker_or_no_run_folder_is_refused(mnist, tmp_path):
    result = CliRunner().invoke(app, ["train", "mnist", "--out", str(tmp_path / "r"), "--log", "wandb"])
    assert result.exit_code == 2 and "unknown --log 'wandb'" in result.output
    with pytest.raises(Exception, match="needs a run folder"):
        train(mnist, epochs=1, log="tensorboard", **SMALL)
