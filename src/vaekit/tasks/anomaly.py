"""Anomaly detection with a trained model: per-input scores, conformal p-values, a calibrated flag.

Scores, higher = more anomalous, in nats per input (x in data units, as given: grayscale images are not
binarized, which for a Bernoulli likelihood gives the expected score over binarizations, without its noise):

* ``elbo``  -ELBO(x), one posterior draw per input with fixed-seed noise
* ``iwae``  -log p(x), the K-sample importance-weighted estimate (K=100 by default; tighter, K times the work)
* ``recon`` -log p(x|z) at the posterior mean: deterministic, and the only score of a plain autoencoder

``calibrate`` scores clean data and keeps the sorted scores (:class:`vaekit.conformal.Calibration`); p-values
are the rank of a new score among them, and a point is flagged when p <= fpr. ``score_run`` and
``calibrate_run`` are the ``vaekit anomaly score`` / ``calibrate`` commands on a run folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._io import atomic_write, write_json
from ..bundle import load_model
from ..conformal import FILE, METHODS, Calibration, check_fpr, check_rows
from ..data import canonical_spec
from ..data.convert import as_batch
from ..errors import VaekitError
from ..estimators import iwae_per_sample
from ..model import VAE
from ..training.loop import elbo_stats
from .data import load_for_model, training_info
from .outputs import check_out

DEFAULT_IW_SAMPLES = 100
NOT_CALIBRATED = (
    "this model is not calibrated for anomaly detection: calibrate it on clean data first "
    "(`vaekit anomaly calibrate RUN --data CLEAN` or model.calibrate(x_clean))"
)
Settings = tuple[str, int | None, int]  # (method, K for iwae else None, seed; 0 for the deterministic recon)


# -- scores: pure functions of a model and a batch -------------------------------------------------------------
def default_method(model: VAE, calibration: Calibration | None = None) -> str:
    """The score used when none is named: the calibrated one, else elbo (recon for a plain autoencoder)."""
    if calibration is not None:
        return calibration.method
    return "recon" if model.config.autoencoder else "elbo"


def settings(
    model: VAE,
    method: str | None = None,
    iw_samples: int | None = None,
    seed: int | None = None,
    calibration: Calibration | None = None,
) -> Settings:
    """(method, K, seed) with defaults filled in and checked. Unset K and seed come from ``calibration`` when it
    is for the same method, else K=100 and seed 0."""
    method = method or default_method(model, calibration)
    if method not in METHODS:
        raise VaekitError(f"unknown anomaly score '{method}': expected one of {', '.join(METHODS)}")
    if model.config.autoencoder and method != "recon":
        raise VaekitError(
            f"the {method} score needs a VAE, and this run is a plain autoencoder (no posterior, no KL): "
            "only the recon score works for it (--score recon)"
        )
    if method == "recon":
        return method, None, 0
    same = calibration is not None and calibration.method == method
    seed = seed if seed is not None else (calibration.seed if same else 0)
    if method == "elbo":
        return method, None, int(seed)
    k = iw_samples if iw_samples is not None else (calibration.iw_samples if same else DEFAULT_IW_SAMPLES)
    if k is None or k < 1:
        raise VaekitError(f"--iw-samples must be at least 1 for the iwae score, got {k}")
    return method, int(k), int(seed)


@torch.no_grad()
def anomaly_scores(
    model: VAE,
    x: Any,
    method: str | None = None,
    *,
    iw_samples: int | None = None,
    seed: int | None = None,
    batch_size: int = 500,  # inputs per pass of the recon score
) -> torch.Tensor:
    """Anomaly score of every input of x (N, *shape) — arrays, tensors, uint8 images or a DataFrame — higher =
    more anomalous (see the module doc). The same x, method, K and seed give the same scores. (N,) float64"""
    method, k, seed = settings(model, method, iw_samples, seed, model.calibration)
    x = as_batch(x, model.schema, model.shift.device)
    if len(x) == 0:
        return torch.zeros(0, dtype=torch.float64)
    if method == "elbo":
        return -elbo_stats(model, x, seed=seed, per_sample=True)["per_sample"][:, 0]  # evaluate's ELBO
    if method == "iwae":
        return -iwae_per_sample(model, x, k, seed=seed, precision="fp32", batch_size=100).cpu()
    parts = []
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size]
        parts.append(model.decode(model.encode(xb).mean).log_prob(xb).double().cpu())
    return -torch.cat(parts)


def calibrate(
    model: VAE,
    x_clean: Any,
    fpr: float = 0.01,
    method: str | None = None,
    *,
    iw_samples: int | None = None,
    seed: int = 0,
    data: str | None = None,
    split: str | None = None,
) -> Calibration:
    """Score clean rows (ones the model was not trained on) and set ``model.calibration``; returns it.

    Needs at least ceil(1 / fpr) - 1 rows. Defaults: elbo (recon for a plain autoencoder), K=100, seed 0."""
    fpr = check_fpr(fpr)
    method, k, seed = settings(model, method, iw_samples, seed)
    x_clean = as_batch(x_clean, model.schema, model.shift.device)
    check_rows(len(x_clean), fpr)  # before the (possibly long) scoring
    scores = anomaly_scores(model, x_clean, method, iw_samples=k, seed=seed)
    model.calibration = Calibration.fit(scores, fpr, method, k, seed, data=data, split=split)
    return model.calibration


def _calibration(model: VAE) -> Calibration:
    if model.calibration is None:
        raise VaekitError(NOT_CALIBRATED)
    return model.calibration


def calibrated_scores(model: VAE, x: Any) -> torch.Tensor:
    """Scores of x computed exactly as the calibration's (same method, K and seed). (N,) float64"""
    cal = _calibration(model)
    return anomaly_scores(model, x, cal.method, iw_samples=cal.iw_samples, seed=cal.seed)


def p_values(model: VAE, x: Any) -> torch.Tensor:
    """Conformal p-value of every input: (1 + #clean scores >= its score) / (n + 1). (N,) float64 in (0, 1]"""
    return _calibration(model).p_values(calibrated_scores(model, x))


def is_anomaly(model: VAE, x: Any) -> torch.Tensor:
    """True where the p-value is <= the calibrated fpr (the score is above the threshold). (N,) bool"""
    return _calibration(model).flags(calibrated_scores(model, x))


# -- the commands: a run folder in, a CSV or RUN/anomaly.json out ----------------------------------------------
def score_run(
    run: str | Path,
    out: str | Path,
    data: str | None = None,
    split: str = "test_or_all",
    methods: list[str] | None = None,
    iw_samples: int | None = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """Write one CSV row per input of ``data`` (in order): [label,] score_<method>... [, p_value, anomaly].

    p_value and anomaly (0/1) appear once the run is calibrated; the calibrated score is then always included,
    with the calibration's K and seed. Returns a summary: n, split, columns, calibrated, flagged, fpr, method."""
    out = check_out(out, {".csv"}, "anomaly scores")
    model = load_model(run)
    cal = model.calibration
    methods = list(dict.fromkeys(methods or [default_method(model, cal)]))
    if cal is not None and cal.method not in methods:
        methods.append(cal.method)
    resolved = [settings(model, m, iw_samples, seed, cal) for m in methods]
    if cal is not None and (cal.method, cal.iw_samples, cal.seed) not in resolved:
        k = f"K={cal.iw_samples}, " if cal.iw_samples else ""
        raise VaekitError(
            f"this run is calibrated on the {cal.method} score with {k}seed {cal.seed}: score it the same way "
            "(drop --iw-samples / --seed) or calibrate again"
        )
    sel = load_for_model(model, data, split)
    columns = {f"score_{m}": anomaly_scores(model, sel.x, m, iw_samples=k, seed=s).numpy() for m, k, s in resolved}
    summary: dict[str, Any] = {"n": len(sel.x), "split": sel.split, "calibrated": cal is not None}
    if cal is not None:
        calibrated = torch.from_numpy(columns[f"score_{cal.method}"])
        flags = cal.flags(calibrated)
        columns["p_value"] = cal.p_values(calibrated).numpy()
        columns["anomaly"] = flags.numpy().astype(np.int64)
        summary.update(flagged=int(flags.sum()), fpr=cal.fpr, method=cal.method, threshold=cal.threshold)
    if sel.labels is not None:
        columns = {"label": sel.labels.numpy(), **columns}
    _write_csv(columns, out)
    summary["columns"] = list(columns)
    return summary


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
    sel = load_for_model(model, data, split)
    info = training_info(model)
    spec = canonical_spec(data) if data else info.get("data")
    if spec == info.get("data") and sel.split in ("train", "all"):
        raise VaekitError(
            f"calibration needs clean data the model was not trained on, and split '{sel.split}' of {spec} holds "
            "its training rows: use --split val (the held-out part), or pass other clean data with --data"
        )
    cal = calibrate(model, sel.x, fpr, method, iw_samples=iw_samples, seed=seed, data=spec, split=sel.split)
    write_json(Path(run) / FILE, cal.to_dict())
    return cal
