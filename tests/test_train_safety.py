"""Training that is killed, raced or fed a tampered state: every case resumes or is refused in one line.

Kills are real SIGKILLs, sent by a child process to itself at a chosen moment of its first epoch, so each test
hits the moment it names every time."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from vaekit import bundle
from vaekit import load as load_model
from vaekit._io import LOCK_NAME, FolderLocked, run_lock
from vaekit.cli.app import app
from vaekit.errors import BundleError, VaekitError
from vaekit.training import train, training_status

ARGS = {"hidden": (64,), "latent_dim": 4, "subset": 600, "batch_size": 100, "epochs": 2, "progress": False}
TIMING = {"seconds", "samples_per_s"}

# A child that trains ARGS into RUN and kills itself with SIGKILL at POINT of the first epoch:
#   epoch: after its third batch; checkpoint: just after the first training state is written (config.json still
#   says untrained); weights: just after the first weights, before config.json says an epoch is done;
#   none: no kill; resume: continue RUN.
CHILD = """
import json, os, signal, sys
import vaekit.bundle as bundle
from vaekit.training import train

run, point, args = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
die = lambda: os.kill(os.getpid(), signal.SIGKILL)

class Kill:
    def on_epoch_start(self, epoch, epochs, batches): ...
    def on_batch_end(self, batch, loss):
        if point == "epoch" and batch == 2:
            die()
    def on_epoch_end(self, record): ...
    def on_message(self, text): ...

save_checkpoint, write_json = bundle.save_checkpoint, bundle.write_json
def checkpoint_then_die(*a, **k):
    save_checkpoint(*a, **k)
    die()
def die_before_config(path, obj):
    if point == "weights" and path.name == "config.json" and obj["training"]["status"] != "untrained":
        die()
    write_json(path, obj)
if point == "checkpoint":
    bundle.save_checkpoint = checkpoint_then_die
bundle.write_json = die_before_config
if point == "resume":
    train("mnist", run, resume=True, progress=False)
else:
    train("mnist", run, callbacks=[Kill()], **args)
"""


def child(run, point):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-c", CHILD, str(run), point, json.dumps(ARGS)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def read_metrics(run):
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in lines]


def same_tensors(a, b):
    a, b = load_file(a), load_file(b)
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run, trained by a child like the killed ones (same threads, same arithmetic)."""
    run = tmp_path_factory.mktemp("reference") / "run"
    done = child(run, "none")
    assert done.returncode == 0, done.stderr
    return run


@pytest.mark.parametrize("point", ["epoch", "checkpoint", "weights"])
def test_kill_9_in_the_first_epoch_is_never_a_trained_run_and_resumes(tmp_path, reference, point):
    run = tmp_path / "run"
    killed = child(run, point)
    assert killed.returncode == -9, killed.stderr
    cfg = bundle.read_config(run)
    assert training_status(cfg) == "untrained" and cfg["training"]["status"] == "untrained"
    assert cfg["training"]["result"]["epochs_completed"] == 0
    if point == "epoch":  # no weights at all until an epoch completed
        assert not (run / bundle.WEIGHTS).exists()
    with pytest.raises(BundleError, match="has not finished an epoch of training yet: resume it"):
        load_model(run)  # whatever the kill left on disk, an untrained run never passes as a trained one
    with pytest.raises(VaekitError, match="already holds a run: pass --resume"):
        train("mnist", run, **ARGS)
    done = child(run, "resume")
    assert done.returncode == 0, done.stderr
    assert read_metrics(run) == read_metrics(reference)
    for name in (bundle.WEIGHTS, f"{bundle.STATE_DIR}/{bundle.CHECKPOINT}"):
        assert same_tensors(run / name, reference / name), name
    assert bundle.read_config(run)["training"]["status"] == "finished"
    assert not (run / LOCK_NAME).exists()


def test_status_says_how_far_training_got(mnist, tmp_path):
    run = tmp_path / "run"
    seen = []

    class Look:
        def on_epoch_start(self, epoch, epochs, batches):
            cfg = json.loads((run / "config.json").read_text())
            seen.append((cfg["training"]["status"], (run / bundle.WEIGHTS).exists()))

        def on_batch_end(self, batch, loss): ...
        def on_epoch_end(self, record): ...
        def on_message(self, text): ...

    model = train(mnist, run, callbacks=[Look()], **ARGS)
    assert seen == [("untrained", False), ("in_progress", True)]
    assert training_status(bundle.read_config(run)) == "finished" == model.run_config["training"]["status"]
    assert training_status({"training": {}}) == "finished"  # a bundle saved by VAE.save
    with pytest.raises(BundleError, match="unknown training status"):
        training_status({"training": {"status": "done"}})


def test_a_run_left_untrained_by_an_older_vaekit_resumes_from_scratch(mnist, tmp_path):
    """Before the status field, a run killed in its first epoch held config.json + untrained weights only."""
    reference = train(mnist, **ARGS)
    run = tmp_path / "run"
    train(mnist, run, **ARGS)
    cfg = bundle.read_config(run)
    del cfg["training"]["status"]
    cfg["training"]["result"]["epochs_completed"] = 0
    (run / "config.json").write_text(json.dumps(cfg))
    shutil.rmtree(run / bundle.STATE_DIR)
    assert training_status(cfg) == "untrained"
    resumed = train(mnist, run, resume=True, progress=False)
    assert all(torch.equal(v, resumed.state_dict()[k]) for k, v in reference.state_dict().items())


def test_resume_of_a_run_stopped_before_its_config_says_to_run_again(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / bundle.WEIGHTS).write_bytes(b"partial")
    with pytest.raises(BundleError, match="without --resume"):
        train("mnist", run, resume=True, progress=False)


def test_a_trained_run_without_its_training_state_is_not_restarted(mnist, tmp_path):
    run = tmp_path / "run"
    train(mnist, run, **ARGS)
    shutil.rmtree(run / bundle.STATE_DIR)
    with pytest.raises(BundleError, match="no training state"):
        train(mnist, run, resume=True, epochs=3, progress=False)


# -- two processes, one run ------------------------------------------------------------------------------
HOLDER = """
import sys, time
from vaekit._io import run_lock
with run_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_a_run_being_written_by_another_process_is_refused(mnist, tmp_path):
    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        message = rf"{run} is being written by another vaekit process \(pid {holder.pid}\)"
        for kw in ({}, {"overwrite": True}):
            with pytest.raises(BundleError, match=message):
                train(mnist, run, **ARGS, **kw)
        result = CliRunner().invoke(app, ["train", "mnist", "--out", str(run), "--epochs", "1", "--quiet"])
        assert result.exit_code == 2
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "being written by another vaekit process" in lines[0], lines
    finally:
        holder.kill()  # SIGKILL: the lock dies with its process
        holder.wait()
        holder.stdout.close()
    assert (run / LOCK_NAME).exists()  # a stale lock file...
    train(mnist, run, **ARGS)  # ...blocks nothing
    assert not (run / LOCK_NAME).exists()


def test_the_lock_is_held_for_the_whole_of_training(mnist, tmp_path):
    run = tmp_path / "run"
    refused = []

    class TryLock:
        def on_epoch_start(self, epoch, epochs, batches):
            try:
                with run_lock(run):
                    pass
            except FolderLocked as e:
                refused.append(e.pid)

        def on_batch_end(self, batch, loss): ...
        def on_epoch_end(self, record): ...
        def on_message(self, text): ...

    train(mnist, run, callbacks=[TryLock()], **ARGS)
    assert refused == [os.getpid(), os.getpid()]
    with run_lock(run):  # released at the end, and its file removed
        pass
    assert not (run / LOCK_NAME).exists()


def test_run_lock_removes_a_folder_it_created_when_nothing_was_written(tmp_path):
    with run_lock(tmp_path / "new"):
        assert (tmp_path / "new" / LOCK_NAME).read_text() == f"{os.getpid()}\n"
    assert not (tmp_path / "new").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(BundleError, match="is a file"):
        train("mnist", tmp_path / "file", progress=False)


# -- tampered training state ------------------------------------------------------------------------------
def _set(path, value):
    def tamper(weights, state):
        *head, last = path
        target = state
        for key in head:
            target = target[key]
        if value is DELETE:
            del target[last]
        else:
            target[last] = value(target[last]) if callable(value) else value

    return tamper


DELETE = object()


def _weight(value):
    def tamper(weights, state):
        name = next(k for k in weights if k.endswith("weight"))  # a parameter, not a buffer
        weights[name] = value(weights[name])

    return tamper


TAMPERINGS = {
    "unknown field": (_set(["train_state", "surprise"], 1), "training progress has fields"),
    "mistyped epoch": (_set(["train_state", "epoch"], "1"), "field epoch is '1'"),
    "history of another length": (_set(["train_state", "history"], []), "inconsistent"),
    "best epoch after the last": (_set(["train_state", "best_epoch"], 7), "inconsistent"),
    "negative lr scale": (_set(["train_state", "lr_scale"], -1.0), "learning-rate scale"),
    "no optimizer": (_set(["optimizer"], DELETE), "lacks the optimizer"),
    "empty optimizer": (_set(["optimizer", "state"], {}), "no Adam moments"),
    "moments of another shape": (_set(["optimizer", "state", 0, "exp_avg"], torch.zeros(3)), "exp_avg of shape"),
    "other betas": (_set(["optimizer", "param_groups", 0, "betas"], [0.5, 0.5]), "setting betas"),
    "weights of another shape": (_weight(lambda t: torch.zeros(2, 2)), "expected"),
    "zero-size weights": (_weight(lambda t: torch.zeros(0)), r"is empty|is \(0,\) torch.float32"),
    "non-finite weights": (_weight(lambda t: t * float("nan")), "non-finite|NaN"),
    "rng not bytes": (_set(["rng", "data"], lambda t: t.float()), "not a byte tensor"),
    "rng missing": (_set(["rng"], DELETE), "lacks"),
}


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    """A run of "mnist" that completed 1 of 2 epochs."""
    run = tmp_path_factory.mktemp("stopped") / "run"
    train("mnist", run, **{**ARGS, "epochs": 1})
    return run


@pytest.mark.parametrize("name", TAMPERINGS)
def test_a_tampered_training_state_is_refused_in_one_line(stopped_run, tmp_path, name):
    tamper, match = TAMPERINGS[name]
    run = tmp_path / "run"
    shutil.copytree(stopped_run, run)
    weights, state = bundle.load_checkpoint(run)
    tamper(weights, state)
    bundle.save_checkpoint(run, weights, state)
    before = (run / "config.json").read_text()
    with pytest.raises(BundleError, match=match) as e:
        train("mnist", run, resume=True, epochs=2, progress=False)
    assert "damaged" in str(e.value) and "\n" not in str(e.value)
    assert (run / "config.json").read_text() == before and not (run / LOCK_NAME).exists()


def test_a_tampered_training_state_is_one_line_in_the_cli(stopped_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(stopped_run, run)
    weights, state = bundle.load_checkpoint(run)
    state["train_state"]["epoch"] = 1.5
    bundle.save_checkpoint(run, weights, state)
    result = CliRunner().invoke(app, ["train", "mnist", "--out", str(run), "--resume", "--epochs", "2", "--quiet"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: cannot resume") and "damaged" in lines[0], lines


def test_untampered_stopped_run_resumes(stopped_run, tmp_path):
    """The fixture the tamper tests start from is itself resumable: each refusal comes from its tampering."""
    run = tmp_path / "run"
    shutil.copytree(stopped_run, run)
    weights, state = bundle.load_checkpoint(run)
    bundle.save_checkpoint(run, weights, state)  # a load/save round trip changes nothing that matters
    model = train("mnist", run, resume=True, epochs=2, progress=False)
    assert [r["epoch"] for r in model.history] == [1, 2]
