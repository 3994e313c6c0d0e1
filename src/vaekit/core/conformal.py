"""Conformal calibration of anomaly scores: p-values from ranks among clean scores, and a stored threshold.

With n clean calibration scores s_1..s_n (higher = more anomalous), the p-value of a new score s is

    p(s) = (1 + #{i : s_i >= s}) / (n + 1)

and a point is flagged when p(s) <= fpr. If clean data is exchangeable with the calibration data, a clean point
is flagged with probability floor(fpr * (n + 1)) / (n + 1) <= fpr, whatever the model and the score — so users
never guess a "contamination" fraction. The flag is equivalent to ``s > threshold``, where the threshold is the
(n - m)-th smallest calibration score, m = floor(fpr * (n + 1)) - 1; m >= 0 needs n >= ceil(1 / fpr) - 1 rows.

A :class:`Calibration` is plain data (JSON in ``RUN/anomaly.json``): it never executes code when loaded.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch

from ..errors import BundleError, VaekitError

FILE = "anomaly.json"  # in the run folder, beside config.json
FORMAT_VERSION = 1
METHODS = ("elbo", "iwae", "recon", "relative", "excess")
_EPS = 1e-9  # fpr * (n + 1) computed in floating point: 0.01 * 100 must count as 1


def check_fpr(fpr: float) -> float:
    """``fpr`` as a float in (0, 1), or a VaekitError."""
    try:
        value = float(fpr)
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(fpr, bool) or not 0 < value < 1:
        raise VaekitError(f"the false-positive rate must lie strictly between 0 and 1, got {fpr!r} (e.g. 0.01)")
    return value


def rows_needed(fpr: float) -> int:
    """Fewest calibration rows for which some score can be flagged at this false-positive rate."""
    return max(1, math.ceil(1 / check_fpr(fpr) - _EPS) - 1)


def check_rows(n: int, fpr: float) -> None:
    """VaekitError unless n calibration rows are enough for this false-positive rate."""
    need = rows_needed(fpr)
    if n < need:
        raise VaekitError(
            f"calibration needs at least {need} clean rows for a false-positive rate of {fpr:g} (got {n}): "
            "pass more clean data or a larger --fpr"
        )


def _margin(n: int, fpr: float) -> int:
    """m: how many calibration scores may lie at or above a flagged score."""
    return math.floor(fpr * (n + 1) + _EPS) - 1


def p_values(calibration_scores: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """Conformal p-values of ``scores`` (N,) against sorted (ascending) calibration scores (n,). (N,) float64"""
    ref = calibration_scores.to(torch.float64)
    s = scores.to(torch.float64).cpu()
    at_or_above = len(ref) - torch.searchsorted(ref, s, side="left")
    return (1.0 + at_or_above.to(torch.float64)) / (len(ref) + 1)


@dataclass(frozen=True)
class Calibration:
    """What ``calibrate`` learned from clean data: how scores are computed, and their clean distribution."""

    method: str  # the score: elbo, iwae, recon or relative (see vaekit.inference.anomaly)
    iw_samples: int | None  # K of the iwae score; None for the others
    seed: int  # seed of the scoring noise (elbo, iwae)
    fpr: float  # target false-positive rate: flag when p <= fpr
    threshold: float  # a score above this is flagged (equivalently p <= fpr)
    scores: tuple[float, ...]  # the clean calibration scores, sorted ascending
    data: str | None = None  # the data it was calibrated on (a data spec, or None for in-memory data)
    split: str | None = None  # which part of that data
    exponent: float | None = None  # excess scores only: the complexity exponent fitted on the clean data

    @property
    def n(self) -> int:
        return len(self.scores)

    @classmethod
    def fit(
        cls, scores: torch.Tensor, fpr: float, method: str, iw_samples: int | None, seed: int, **where: Any
    ) -> Calibration:
        """Calibrate on clean ``scores`` (n,): sort them and place the threshold for ``fpr``."""
        fpr = check_fpr(fpr)
        n = len(scores)
        check_rows(n, fpr)
        finite = torch.isfinite(scores)
        if not finite.all():
            raise VaekitError(f"{int((~finite).sum())} of the {n} calibration scores are not finite")
        ordered = torch.sort(scores.to(torch.float64).cpu()).values
        threshold = float(ordered[n - _margin(n, fpr) - 1])
        return cls(method, iw_samples, int(seed), fpr, threshold, tuple(ordered.tolist()), **where)

    def p_values(self, scores: torch.Tensor) -> torch.Tensor:
        """(N,) float64 in (0, 1]: small means unlike the clean data."""
        return p_values(torch.tensor(self.scores, dtype=torch.float64), scores)

    def flags(self, scores: torch.Tensor) -> torch.Tensor:
        """(N,) bool: score above the threshold (the same as p-value <= fpr)."""
        return scores.to(torch.float64).cpu() > self.threshold

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        scores = d.pop("scores")
        return {"format_version": FORMAT_VERSION, **d, "n": len(scores), "scores": list(scores)}

    @classmethod
    def from_dict(cls, d: Any, where: str = FILE) -> Calibration:
        """Validate and rebuild; BundleError naming ``where`` and the first problem when ``d`` is not a
        calibration ``to_dict`` wrote (types, ranges, sorted scores, and the threshold they imply)."""
        version = d.get("format_version", 1) if isinstance(d, dict) else None
        if _is_int(version) and version > FORMAT_VERSION:
            raise BundleError(f"{where} was written by a newer vaekit: upgrade vaekit or calibrate again")
        problem = "a JSON object was expected" if not isinstance(d, dict) else _problem(d)
        if problem:
            raise BundleError(f"{where} is not a valid anomaly calibration ({problem}): calibrate again")
        return cls(
            method=d["method"],
            iw_samples=d.get("iw_samples"),
            seed=d["seed"],
            fpr=float(d["fpr"]),
            threshold=float(d["threshold"]),
            scores=tuple(float(s) for s in d["scores"]),
            data=d.get("data"),
            split=d.get("split"),
            exponent=None if d.get("exponent") is None else float(d["exponent"]),
        )


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_real(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _problem(d: dict[str, Any]) -> str | None:
    """The first thing wrong with a stored calibration, or None. Each check relies on the ones before it."""
    scores, fpr, iw = d.get("scores"), d.get("fpr"), d.get("iw_samples")
    n = len(scores) if isinstance(scores, list) else 0
    checks: list[tuple[Any, str]] = [
        (lambda: _is_int(d.get("format_version", 1)) and d.get("format_version", 1) >= 1, "format_version must be 1"),
        (lambda: d.get("method") in METHODS, f"method must be one of {', '.join(METHODS)}"),
        (lambda: (iw is None) == (d["method"] != "iwae"), "iw_samples must be given for iwae scores only"),
        (lambda: iw is None or (_is_int(iw) and iw >= 1), "iw_samples must be a positive integer"),
        (lambda: _is_int(d.get("seed")) and -(2**63) <= d["seed"] < 2**64, "seed must be a 64-bit integer"),
        (lambda: _is_real(fpr) and 0 < fpr < 1, "fpr must be a number strictly between 0 and 1"),
        (lambda: isinstance(scores, list) and all(map(_is_real, scores)), "scores must be a list of finite numbers"),
        (lambda: n >= rows_needed(fpr), "fewer scores than its fpr needs"),
        (lambda: all(a <= b for a, b in zip(scores, scores[1:], strict=False)), "scores must be sorted ascending"),
        (lambda: d.get("n", n) == n, "n differs from the number of scores"),
        (lambda: _is_real(d.get("threshold")), "threshold must be a finite number"),
        (lambda: d["threshold"] == scores[n - _margin(n, fpr) - 1], "threshold does not fit the scores and fpr"),
        (lambda: all(isinstance(d.get(k), str | None) for k in ("data", "split")), "data and split must be text"),
        (
            lambda: _is_real(d.get("exponent")) if d["method"] == "excess" else d.get("exponent") is None,
            "exponent must be a finite number for excess scores and absent for the others",
        ),
    ]
    return next((message for ok, message in checks if not ok()), None)
