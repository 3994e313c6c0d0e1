"""The ``vaekit anomaly score`` / ``calibrate`` commands on a run folder; the scores themselves are in
``vaekit.inference.anomaly``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .._io import atomic_write, write_json
from ..core.conformal import FILE, Calibration, check_fpr
from ..data import canonical_spec
from ..errors import VaekitError
from ..inference.anomaly import anomaly_scores, calibrate, default_method, settings
from ..inference.frame_scores import frame_anomaly_scores, series_scores
from ..vae import load_model
from .kinds import select
from .outputs import check_out, save_array


@dataclass
class Scored:
    """What ``vaekit anomaly score`` wrote: rows of which split, the CSV's columns, and (once calibrated) the
    calibration and how many rows it flags."""

    n: int
    split: str
    columns: list[str]
    calibration: Calibration | None = None
    flagged: int | None = None
    notes: str = ""  # molecules: what was read and what skipped
    per_step: Path | None = None  # video and series: the file of every step's score, when asked for


@dataclass(frozen=True)
class Scoring:
    """How ``score_run`` scores: the scores (None: the default), K of the iwae score and the seed of the noise
    (None: the calibration's, or 100 and 0)."""

    methods: list[str] | None = None
    iw_samples: int | None = None
    seed: int | None = None


# -- the commands: a run folder in, a CSV or RUN/anomaly.json out ----------------------------------------------
def score_run(
    run: str | Path,
    out: str | Path,
    data: str | None = None,
    split: str = "test_or_all",
    scoring: Scoring | None = None,
    *,
    overwrite: bool = False,
    per_step: str | Path | None = None,
) -> Scored:
    """Write one CSV row per input of ``data`` (in order): [label,] score_<method>... [, p_value, anomaly].

    p_value and anomaly (0/1) appear once the run is calibrated; the calibrated score is then always included,
    with the calibration's K and seed. ``per_step`` (video and series models): also write the score of every step
    (``write_step_scores``); the per-input elbo score is then the sum of the written steps' scores."""
    out = check_out(out, {".csv"}, "anomaly scores", overwrite=overwrite)
    model = load_model(run)
    steps_out = _check_per_step(model, per_step, out, overwrite)
    cal = model.calibration
    scoring = scoring or Scoring()
    methods = list(dict.fromkeys(scoring.methods or [default_method(model, cal)]))
    if cal is not None and cal.method not in methods:
        methods.append(cal.method)
    resolved = [settings(model, m, scoring.iw_samples, scoring.seed, cal) for m in methods]
    if cal is not None and (cal.method, cal.iw_samples, cal.seed) not in resolved:
        k = f"K={cal.iw_samples}, " if cal.iw_samples else ""
        raise VaekitError(
            f"this run is calibrated on the {cal.method} score with {k}seed {cal.seed}: score it the same way "
            "(drop --iw-samples / --seed) or calibrate again"
        )
    sel = select(model, data, split)
    steps = None
    if steps_out is not None:  # a frames model: its one score, elbo, per step and (summed) per input
        steps = frame_anomaly_scores(model, sel.x, seed=resolved[0][2], description="anomaly score (elbo)")
        columns = {"score_elbo": series_scores(steps).numpy()}
    else:
        columns = {f"score_{m}": anomaly_scores(model, sel.x, m, iw_samples=k, seed=s).numpy() for m, k, s in resolved}
    flagged = None
    if cal is not None:
        calibrated = torch.from_numpy(columns[f"score_{cal.method}"])
        flags = cal.flags(calibrated)
        columns["p_value"] = cal.p_values(calibrated).numpy()
        columns["anomaly"] = flags.numpy().astype(np.int64)
        flagged = int(flags.sum())
    if sel.labels is not None:
        columns = {"label": sel.labels.numpy(), **columns}
    if sel.smiles:  # molecules: which row is which (unreadable inputs were skipped)
        columns = {"smiles": np.array(sel.smiles, dtype=object), **columns}
    _write_csv(columns, out)
    if steps is not None and steps_out is not None:
        write_step_scores(steps, steps_out)
    return Scored(len(sel.x), sel.split, list(columns), cal, flagged, sel.notes, steps_out)


def _check_per_step(model, per_step: str | Path | None, out: Path, overwrite: bool) -> Path | None:
    """The --per-step file, checked before any work (None when not asked for)."""
    if per_step is None:
        return None
    if not getattr(model, "is_frames", False):
        raise VaekitError(
            f"--per-step scores the frames of video clips and the steps of time series; this run is a "
            f"{model.schema.kind} model (its scores are per input, in --out)"
        )
    path = check_out(per_step, STEP_FORMATS, "per-step anomaly scores", overwrite=overwrite)
    if path.resolve() == out.resolve():
        raise VaekitError(f"--per-step {path} is the --out file: choose another file for the per-step scores")
    return path


STEP_FORMATS = {".csv", ".npy"}


def write_step_scores(steps: torch.Tensor, out: Path) -> None:
    """Per-step scores (N, T) to ``out``: an ``.npy`` (N, T) float64, NaN where nothing is observed; or a long
    ``.csv`` with columns input, step, score_elbo: one row per step up to each input's last observed step (a
    missing step inside: an empty score; the end padding of a shorter series: no row)."""
    values = steps.double().numpy()
    if out.suffix.lower() == ".npy":
        save_array(values, out)
        return
    import pandas as pd

    seen = ~np.isnan(values)
    ends = np.where(seen.any(1), values.shape[1] - np.argmax(seen[:, ::-1], axis=1), 0)
    keep = np.arange(values.shape[1])[None, :] < ends[:, None]
    rows, cols = np.nonzero(keep)
    frame = pd.DataFrame({"input": rows, "step": cols, "score_elbo": values[rows, cols]})
    atomic_write(out, lambda p: frame.to_csv(p, index=False))


def _write_csv(columns: dict[str, np.ndarray], out: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame(columns)
    atomic_write(out, lambda p: frame.to_csv(p, index=False))


def calibrate_run(
    run: str | Path,
    data: str | None = None,
    split: str = "auto",
    fpr: float = 0.01,
    method: str | None = None,
    iw_samples: int | None = None,
    seed: int = 0,
) -> Calibration:
    """Calibrate a run on clean data and write RUN/anomaly.json atomically (replacing an earlier calibration).

    Default data: the run's training data, split auto: its held-out validation part, or the test split of data
    that has one. The rows the model was trained on are refused (their scores are optimistically low)."""
    fpr = check_fpr(fpr)
    model = load_model(run)
    settings(model, method, iw_samples, seed)  # bad options fail before any data is read
    sel = select(model, data, split)
    trained_on = model.record.data
    spec = canonical_spec(data) if data else trained_on
    if spec == trained_on and sel.split in ("train", "all"):
        raise VaekitError(
            f"calibration needs clean data the model was not trained on, and split '{sel.split}' of {spec} holds "
            "its training rows: use --split val (the held-out part), or pass other clean data with --data"
        )
    cal = calibrate(model, sel.x, fpr, method, iw_samples=iw_samples, seed=seed, data=spec, split=sel.split)
    write_json(Path(run) / FILE, cal.to_dict())
    return cal
