"""What users do with a trained bundle."""

from .anomaly import calibrate_run, score_run
from .evaluate import evaluate
from .explore import decode, encode, interpolate, reconstruct, sample, traverse
from .report import report

__all__ = [
    "calibrate_run",
    "decode",
    "encode",
    "evaluate",
    "interpolate",
    "reconstruct",
    "report",
    "sample",
    "score_run",
    "traverse",
]
