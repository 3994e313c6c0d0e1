"""Anomaly detection with a trained model: per-input scores, conformal p-values, a calibrated flag.

Scores, higher = more anomalous, in nats per input (x in data units, as given: grayscale images are not
binarized, which for a Bernoulli likelihood gives the expected score over binarizations, without its noise):

* ``elbo``  -ELBO(x), one posterior draw per input with fixed-seed noise
* ``iwae``  -log p(x), the K-sample importance-weighted estimate (K=100 by default; tighter, K times the work)
* ``recon`` -log p(x|z) at the posterior mean: deterministic, and the only score of a plain autoencoder
  with a Gaussian likelihood
* ``relative`` -log p(x|z) at the posterior mean divided by 1 + H(x), where H(x) = sum_i h(x_i) is the entropy,
  in nats, of the input taken as its own Bernoulli parameters (h(v) = -v log v - (1 - v) log(1 - v): 0 for a
  pixel at 0 or 1, log 2 at 0.5; the gray pixels of a digit are its stroke edges). Bernoulli likelihood only.
  Deterministic, no sampling, no statistics of the training data.
* ``excess`` log E(x) - a log(1 + H(x)), where E(x) = -log p(x|z) at the posterior mean - H(x) >= 0 is the
  reconstruction cost beyond the input's own entropy (the KL divergence from the input's gray levels, read as
  Bernoulli parameters, to the decoded ones) and a says how that cost grows with the input's complexity on normal
  data: ``calibrate`` fits it by least squares on the clean rows (log E against log(1 + H)) and stores it; before
  calibration a = 1 (E per nat of entropy, the ``relative`` idea). Bernoulli likelihood only. Deterministic.

Default: the calibrated score; else ``relative`` for a Bernoulli likelihood (images), ``elbo`` for other
likelihoods (tables), ``recon`` for a plain autoencoder with a Gaussian likelihood. ``calibrate`` uses ``excess``
for a Bernoulli likelihood unless told otherwise, so a calibrated image model scores with an exponent learned
from its own clean data rather than one fixed for digits (on MNIST's digits a came out between 0.29 and 1.09,
on scikit-learn's 8×8 digits -0.68 on average, where more gray means less excess cost).

Why ``relative``: likelihood scores are dominated by how much there is to reconstruct. An image with few stroke
edges (a 1) gets a small -log p(x|z) from any digit's model, so the ones rank as "normal" under a model of eights,
and the grayscale cross-entropy also carries H(x) itself, the part no model can remove. Dividing by 1 + H(x)
measures the reconstruction cost per nat of the input's own entropy (a complexity correction in the spirit of Serrà
et al., 2020, as a ratio; their difference, -log p(x) - L(x) with L a PNG or zlib code length, made things worse
here). One-class MNIST, seed preset, mean ROC-AUC over the ten digits: relative 0.986, excess (calibrated) 0.985,
recon 0.925, elbo 0.921 (benchmarks/anomaly_mnist.py; every digit >= 0.974 with relative, >= 0.968 with excess).
For binary inputs H(x) = 0 and relative equals recon; a blank image scores its whole recon, so it is flagged where
recon calls it normal. The flip side: an input with much entropy of its own is excused as much. Uniform noise is
flagged only by a decoder that is confident about the background: models like the benchmark's (30 epochs on ~6,000
images) rank it above their digit's test images (ROC-AUC >= 0.999), a small model trained for a few epochs ranks it
as normal, so score such models with recon or elbo too.

Video clips and time series (a frames model) score with ``elbo`` only: -ELBO summed over the observed steps, one
posterior draw per step (``vaekit.inference.frame_scores``; ``frame_anomaly_scores`` gives the score of every step,
NaN where nothing is observed, and they sum to the clip's). NaN marks missing values and end padding in series.

``calibrate`` scores clean data and keeps the sorted scores (:class:`vaekit.core.conformal.Calibration`);
p-values are the rank of a new score among them, and a point is flagged when p <= fpr. The commands on a run
folder live in ``vaekit.workflows.anomaly``.
"""

from __future__ import annotations

from typing import Any

import torch

from ..core.conformal import METHODS, Calibration, check_fpr, check_rows
from ..core.likelihoods import BernoulliConfig
from ..data.convert import as_batch
from ..defaults import IW_SAMPLES
from ..errors import VaekitError
from ..models.module import VAEModule as VAE
from .estimators import batch_starts, elbo_stats, iwae_per_sample
from .frame_scores import frame_anomaly_scores, frames_tensor, series_scores

DEFAULT_IW_SAMPLES = IW_SAMPLES
NOT_CALIBRATED = (
    "this model is not calibrated for anomaly detection: calibrate it on clean data first "
    "(`vaekit anomaly calibrate RUN --data CLEAN` or model.calibrate(x_clean))"
)
Settings = tuple[str, int | None, int]  # (method, K for iwae else None, seed; 0 for the deterministic scores)
DETERMINISTIC = ("recon", "relative", "excess")  # at the posterior mean: no noise, no seed
EXCESS_FLOOR = 1e-6  # nats: E below this (a perfect reconstruction) counts as this


# -- scores: pure functions of a model and a batch -------------------------------------------------------------
def default_method(model: VAE, calibration: Calibration | None = None) -> str:
    """The score used when none is named: the calibrated one, else relative for a Bernoulli likelihood, else
    elbo (recon for a plain autoencoder)."""
    if calibration is not None:
        return calibration.method
    if _frames(model):
        return "elbo"
    if _bernoulli(model):
        return "relative"
    return "recon" if model.config.autoencoder else "elbo"


def _bernoulli(model: VAE) -> bool:
    return isinstance(model.config.likelihood, BernoulliConfig)


def _frames(model: VAE) -> bool:
    return bool(getattr(model, "is_frames", False))


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
    if _frames(model) and method != "elbo":
        raise VaekitError(
            f"the {method} score does not apply to video and time series models: they score with elbo (-ELBO per "
            "clip or series, and per step with --per-step)"
        )
    if method in ("relative", "excess") and not _bernoulli(model):
        kind = model.config.likelihood.kind
        raise VaekitError(
            f"the {method} score measures against the entropy of inputs in [0, 1], which needs a Bernoulli "
            f"likelihood (images), and this run's likelihood is {kind}: use elbo, iwae or recon"
        )
    if model.config.autoencoder and method not in DETERMINISTIC:
        works = "the recon, relative and excess scores work" if _bernoulli(model) else "the recon score works"
        raise VaekitError(
            f"the {method} score needs a VAE, and this run is a plain autoencoder (no posterior, no KL): "
            f"only {works} for it (--score recon)"
        )
    if method in DETERMINISTIC:
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
    batch_size: int = 500,  # inputs per pass of the recon and relative scores
) -> torch.Tensor:
    """Anomaly score of every input of x (N, *shape) — arrays, tensors, uint8 images or a DataFrame — higher =
    more anomalous (see the module doc). The same x, method, K and seed give the same scores. (N,) float64"""
    method, k, seed = settings(model, method, iw_samples, seed, model.calibration)
    if _frames(model):  # -ELBO summed over the observed steps (vaekit.inference.frame_scores)
        return series_scores(frame_anomaly_scores(model, x, seed=seed, description=f"anomaly score ({method})"))
    x = as_batch(x, model.schema, model.shift.device)
    if len(x) == 0:
        return torch.zeros(0, dtype=torch.float64)
    what = f"anomaly score ({method})"
    if method == "elbo":  # evaluate's ELBO
        return -elbo_stats(model, x, seed=seed, per_sample=True, description=what)["per_sample"][:, 0]
    if method == "iwae":
        return -iwae_per_sample(model, x, k, seed=seed, precision="fp32", batch_size=100, description=what).cpu()
    if method == "excess":
        log_excess, log_complexity = excess_parts(model, x, batch_size)
        return log_excess - excess_exponent(model) * log_complexity
    parts = []
    for i in batch_starts(len(x), batch_size, what):
        xb = x[i : i + batch_size]
        nll = _recon_nll(model, xb)
        parts.append((nll / (1 + input_entropy(xb)) if method == "relative" else nll).cpu())
    return torch.cat(parts)


def _recon_nll(model: VAE, xb: torch.Tensor) -> torch.Tensor:
    """-log p(x|z) at the posterior mean, per input. (n,) float64"""
    return -model.decode(model.encode(xb).mean).log_prob(xb).double()


@torch.no_grad()
def excess_parts(model: VAE, x: torch.Tensor, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """(log E(x), log(1 + H(x))) per input of the batch x: E = -log p(x|z) at the posterior mean less H(x), the
    part of the reconstruction cost beyond the input's own entropy (at least EXCESS_FLOOR). (N,), (N,) float64"""
    log_e, log_h = [], []
    for i in batch_starts(len(x), batch_size, "anomaly score (excess)"):
        xb = x[i : i + batch_size]
        h = input_entropy(xb)
        log_e.append(torch.log((_recon_nll(model, xb) - h).clamp_min(EXCESS_FLOOR)).cpu())
        log_h.append(torch.log1p(h).cpu())
    return torch.cat(log_e), torch.cat(log_h)


def excess_exponent(model: VAE) -> float:
    """a of the excess score: the one fitted by an excess calibration, else 1 (E per nat of input entropy)."""
    cal = model.calibration
    return cal.exponent if cal is not None and cal.method == "excess" and cal.exponent is not None else 1.0


def fit_exponent(log_excess: torch.Tensor, log_complexity: torch.Tensor) -> float:
    """The least-squares slope of log E on log(1 + H) over clean inputs: how the model's excess cost grows with
    the input's complexity on normal data (0 when the inputs carry no entropy spread, e.g. binary ones)."""
    h = log_complexity - log_complexity.mean()
    spread = float((h * h).sum())
    return 0.0 if spread <= 1e-12 else float((h * (log_excess - log_excess.mean())).sum() / spread)


def input_entropy(x: torch.Tensor) -> torch.Tensor:
    """H(x): the entropy in nats of each input read as independent Bernoulli parameters, summed over its values
    (x in [0, 1]; 0 for binary inputs). The denominator of the relative score, less 1. (N,) float64"""
    v = x.double().clamp(0, 1)
    return (torch.special.entr(v) + torch.special.entr(1 - v)).flatten(1).sum(1)


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

    Needs at least ceil(1 / fpr) - 1 rows. Defaults: see calibration_method, K=100, seed 0."""
    fpr = check_fpr(fpr)
    method, k, seed = settings(model, method or calibration_method(model), iw_samples, seed)
    x_clean = frames_tensor(model, x_clean) if _frames(model) else as_batch(x_clean, model.schema, model.shift.device)
    check_rows(len(x_clean), fpr)  # before the (possibly long) scoring
    exponent = None
    if method == "excess":
        log_excess, log_complexity = excess_parts(model, x_clean)
        exponent = fit_exponent(log_excess, log_complexity)
        scores = log_excess - exponent * log_complexity
    else:
        scores = anomaly_scores(model, x_clean, method, iw_samples=k, seed=seed)
    model.calibration = Calibration.fit(scores, fpr, method, k, seed, data=data, split=split, exponent=exponent)
    return model.calibration


def calibration_method(model: VAE) -> str:
    """The score ``calibrate`` uses when none is named: excess for a Bernoulli likelihood (its exponent is fitted
    on the clean data), else the uncalibrated default."""
    return "excess" if _bernoulli(model) and not _frames(model) else default_method(model)


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
