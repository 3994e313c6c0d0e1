"""Experiment tracking beside metrics.jsonl: TensorBoard event files and MLflow runs (``vaekit train --log``).

``Tracking`` holds every logger of a run and is the one place that writes to them: ``vaekit.train`` opens it once
(the process of rank 0, once training is distributed), hands it each epoch's record after that epoch's checkpoint
is on disk, and closes it. The global step is the epoch. Loggers only read the model (samples from their own
seeded generator, in eval mode, the mode restored), so a run's weights are the same with and without ``--log``.

Resume: RUN/tracking.json holds the MLflow run id (with its tracking URI) and the last epoch written to
TensorBoard. A resumed TensorBoard writer purges the steps after that epoch (what a killed run wrote after it) and
the epochs not logged yet are filled in from the run's history; MLflow's own metric history says which epochs it
already has. The same run continues in both.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch

from .._io import write_text
from ..errors import VaekitError
from ..vae import VAE

TRACKERS = ("tensorboard", "mlflow")
EXTRA = "pip install 'vaekit[tracking]'"
TENSORBOARD_DIR = "tensorboard"  # RUN/tensorboard: `tensorboard --logdir runs/` shows every run
MLRUNS_DIR = "mlruns"  # RUN/mlruns: MLflow's file store, unless MLFLOW_TRACKING_URI names another
STATE_FILE = "tracking.json"
RUN_FILES = (TENSORBOARD_DIR, MLRUNS_DIR, STATE_FILE)  # what --overwrite removes with the old run
SAMPLES = 64  # images in the grid of samples
MAX_GRIDS = 50  # grids of samples in a run at most: every epoch up to 50 epochs, then every few
EXPERIMENT = "vaekit"  # MLflow experiment, unless MLFLOW_EXPERIMENT_NAME names another
PARAM_LENGTH = 6000  # MLflow's limit on a parameter's value


def parse_log(log: str | Iterable[str] | None) -> tuple[str, ...]:
    """``--log`` values (each may be comma-separated) -> tracker names, checked: an unknown name or a missing
    package is one line, before any data is read."""
    if log is None:
        return ()
    names: list[str] = []
    for item in [log] if isinstance(log, str) else log:
        for name in str(item).split(","):
            name = name.strip().lower()
            if name and name not in TRACKERS:
                raise VaekitError(f"unknown --log {name!r}: expected tensorboard or mlflow")
            if name and name not in names:
                names.append(name)
    for name in names:
        _LOGGERS[name].load()
    return tuple(names)


@dataclass
class TrackedRun:
    """What the loggers are told about a run."""

    out: Path
    params: dict[str, Any]  # the training section of config.json: data, model arguments, options
    epochs: int
    history: list[dict[str, float]] = field(default_factory=list)  # the epochs done before this resume
    condition: torch.Tensor | None = None  # a conditional model's y for its grid of samples


class Tracking:
    """Every logger of one run; the only writer of tracking files (``epoch``, ``finish``, ``close``)."""

    def __init__(self, loggers: list[Any], state_path: Path | None) -> None:
        self.loggers = loggers
        self.state_path = state_path

    def epoch(self, model: VAE, record: dict[str, float]) -> None:
        for logger in self.loggers:
            logger.epoch(model, record)
        self._save()

    def finish(self, result: dict[str, Any]) -> None:
        for logger in self.loggers:
            logger.finish(result)

    def close(self, status: str) -> None:
        for logger in self.loggers:
            logger.close(status)

    def _save(self) -> None:
        if self.state_path is None:
            return
        state = _read_state(self.state_path)
        state.update({logger.name: logger.state() for logger in self.loggers})
        write_text(self.state_path, json.dumps(state, indent=2) + "\n")


@contextlib.contextmanager
def open_tracking(names: tuple[str, ...], run: TrackedRun | None) -> Iterator[Tracking]:
    """The run's loggers, open while training: closed FINISHED, KILLED (Ctrl-C) or FAILED (an error)."""
    if not names or run is None:
        yield Tracking([], None)
        return
    state_path = run.out / STATE_FILE
    state = _read_state(state_path)
    tracking = Tracking([], state_path)
    try:
        for name in names:
            tracking.loggers.append(_LOGGERS[name](run, state.get(name, {})))
        tracking._save()  # the MLflow run id, before the first epoch: a resume continues it
        yield tracking
    except KeyboardInterrupt:
        tracking.close("KILLED")
        raise
    except BaseException:
        tracking.close("FAILED")
        raise
    tracking.close("FINISHED")


def _read_state(path: Path) -> dict[str, Any]:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _metrics(record: dict[str, Any]) -> dict[str, float]:
    """The numbers of a metrics.jsonl record, less the epoch (the step)."""
    numbers = {k: v for k, v in record.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    return {k: float(v) for k, v in numbers.items() if k != "epoch"}


def tensorboard_tag(key: str) -> str:
    """A metrics.jsonl key's TensorBoard tag: val_elbo -> val/elbo, elbo -> train/elbo (lr, beta, seconds too)."""
    return f"val/{key[4:]}" if key.startswith("val_") else f"train/{key}"


@contextlib.contextmanager
def _quiet_imports() -> Iterator[None]:
    """Import a tracking package without its import-time deprecation notices (protobuf, pkg_resources)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        yield


def _samples(model: VAE, condition: torch.Tensor | None) -> torch.Tensor:
    """A grid's worth of samples, (N, C, H, W) in [0, 1], from a fixed seed (the same codes every epoch); the
    model's mode is restored and no generator of training is touched."""
    was_training = model.training
    model.eval()
    try:
        x = model.sample(SAMPLES if condition is None else len(condition), seed=0, condition=condition)
    finally:
        model.train(was_training)
    return x.detach().float().clamp(0, 1).cpu()


class _TensorBoard:
    """Scalars per epoch (metrics.jsonl's numbers, as float32) and, for image models, a grid of samples."""

    name = "tensorboard"

    @staticmethod
    def load() -> Any:
        try:
            with _quiet_imports():
                from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise VaekitError(f"--log tensorboard needs the tensorboard package: {EXTRA}") from None
        return SummaryWriter

    def __init__(self, run: TrackedRun, state: dict[str, Any]) -> None:
        folder = run.out / TENSORBOARD_DIR
        self.last = int(state.get("epoch", 0))
        purge = self.last + 1 if folder.exists() else None  # hide what a killed run wrote after its last record
        _wait_for_a_new_second(folder)
        self.writer = self.load()(str(folder), purge_step=purge)
        self.every = max(1, math.ceil(run.epochs / MAX_GRIDS))
        self.epochs = run.epochs
        self.condition = run.condition
        for record in run.history:
            if record["epoch"] > self.last:  # epochs trained without --log tensorboard, or killed before logged
                self._scalars(record)
        self.writer.flush()

    def _scalars(self, record: dict[str, Any]) -> None:
        for key, value in _metrics(record).items():
            self.writer.add_scalar(tensorboard_tag(key), value, global_step=record["epoch"])
        self.last = max(self.last, int(record["epoch"]))

    def epoch(self, model: VAE, record: dict[str, Any]) -> None:
        self._scalars(record)
        step = int(record["epoch"])
        if model.schema.kind == "image" and (step % self.every == 0 or step == self.epochs):
            self.writer.add_images("samples", _samples(model, self.condition), global_step=step)
        self.writer.flush()

    def state(self) -> dict[str, Any]:
        return {"epoch": self.last}

    def finish(self, result: dict[str, Any]) -> None:
        pass

    def close(self, status: str) -> None:
        self.writer.close()


def _wait_for_a_new_second(folder: Path) -> None:
    """Event files are read in name order and their names begin with the second they were opened in: a writer
    reopened within the second of the last one (a quick resume) waits for the next, to be read after it."""
    stamps = [int(p.name.split(".")[3]) for p in folder.glob("events.out.tfevents.*") if p.name.split(".")[3].isdigit()]
    if stamps:
        time.sleep(min(1.0, max(0.0, max(stamps) + 1 - time.time())))


class _MLflow:
    """A run in MLFLOW_TRACKING_URI, or in the file store RUN/mlruns: params (the training options), metrics per
    epoch (metrics.jsonl's keys and numbers), and the result (best_val, best_epoch, epochs_completed)."""

    name = "mlflow"

    @staticmethod
    def load() -> Any:
        try:
            with _quiet_imports():
                import mlflow.entities
                from mlflow.tracking import MlflowClient
        except ImportError:
            raise VaekitError(f"--log mlflow needs the mlflow-skinny package: {EXTRA}") from None
        return mlflow.entities, MlflowClient

    def __init__(self, run: TrackedRun, state: dict[str, Any]) -> None:
        self.entities, client = self.load()
        self.uri = os.environ.get("MLFLOW_TRACKING_URI") or (run.out / MLRUNS_DIR).resolve().as_uri()
        self.allowed = _allow_file_store(self.uri)
        try:
            self.client = client(self.uri)
            self.run_id = self._reuse(state, run.params) or self._start(run)
            last = max((m.step for m in self.client.get_metric_history(self.run_id, "elbo")), default=0)
            for record in run.history:
                if record["epoch"] > last:  # epochs trained without --log mlflow, or killed before logged
                    self._log(record)
        except Exception as e:
            _restore_env(self.allowed)
            if type(e).__module__.startswith("mlflow"):  # a store it cannot reach or use: one line
                first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                raise VaekitError(f"--log mlflow ({self.uri}): {first}") from None
            raise

    def _start(self, run: TrackedRun) -> str:
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or EXPERIMENT
        experiment = self.client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(name)
        tags = {"vaekit.run_folder": str(run.out.resolve())}
        run_id = self.client.create_run(experiment_id, run_name=run.out.name, tags=tags).info.run_id
        self._params(run_id, _params(run.params))
        return run_id

    def _reuse(self, state: dict[str, Any], params: dict[str, Any]) -> str | None:
        """The run this run folder logged to before, in the same store: continued (params it lacks are added;
        a changed one, e.g. --epochs, becomes the tag resumed.NAME)."""
        run_id = state.get("run_id")
        if not run_id or state.get("tracking_uri") != self.uri:
            return None
        try:
            old = self.client.get_run(run_id)
        except Exception:  # deleted, or another store under the same name: a new run
            return None
        if old.info.lifecycle_stage != "active":
            return None
        self.client.update_run(run_id, status="RUNNING")
        now = _params(params)
        self._params(run_id, {k: v for k, v in now.items() if k not in old.data.params})
        for key, value in now.items():
            if key in old.data.params and old.data.params[key] != value:
                self.client.set_tag(run_id, f"resumed.{key}", value)
        return run_id

    def _params(self, run_id: str, params: dict[str, str]) -> None:
        items = [self.entities.Param(k, v) for k, v in params.items()]
        for i in range(0, len(items), 100):  # MLflow takes at most 100 params a batch
            self.client.log_batch(run_id, params=items[i : i + 100])

    def _log(self, record: dict[str, Any], step: int | None = None) -> None:
        stamp = int(time.time() * 1000)
        step = int(record["epoch"]) if step is None else step
        metrics = [self.entities.Metric(k, v, stamp, step) for k, v in _metrics(record).items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def epoch(self, model: VAE, record: dict[str, Any]) -> None:
        self._log(record)

    def state(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "tracking_uri": self.uri}

    def finish(self, result: dict[str, Any]) -> None:
        numbers = {k: result[k] for k in ("best_val", "best_epoch", "epochs_completed") if result.get(k) is not None}
        self._log(numbers, step=int(result["epochs_completed"]))
        for key in ("selected_by", "stopped_by"):
            if result.get(key):
                self.client.set_tag(self.run_id, key, str(result[key]))

    def close(self, status: str) -> None:
        try:
            self.client.set_terminated(self.run_id, status)
        finally:
            _restore_env(self.allowed)


def _params(training: dict[str, Any]) -> dict[str, str]:
    """config.json's training section as MLflow params: the options at the top level, values as text."""
    flat = {k: v for k, v in training.items() if k != "options"}
    for key, value in training.get("options", {}).items():
        flat[key if key not in flat else f"options.{key}"] = value
    return {k: (v if isinstance(v, str) else json.dumps(v))[:PARAM_LENGTH] for k, v in flat.items()}


def _allow_file_store(uri: str) -> str | None:
    """MLflow 3 keeps its file store in maintenance mode and refuses it unless MLFLOW_ALLOW_FILE_STORE is set:
    set it (when unset) while a run logs to a local folder; returns what to restore."""
    if urlparse(uri).scheme not in ("", "file") or "MLFLOW_ALLOW_FILE_STORE" in os.environ:
        return None
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    return "MLFLOW_ALLOW_FILE_STORE"


def _restore_env(name: str | None) -> None:
    if name is not None:
        os.environ.pop(name, None)


_LOGGERS: dict[str, Any] = {"tensorboard": _TensorBoard, "mlflow": _MLflow}
