"""What users do with a trained bundle."""

from .evaluate import evaluate
from .explore import decode, encode, interpolate, reconstruct, sample, traverse
from .report import report

__all__ = ["decode", "encode", "evaluate", "interpolate", "reconstruct", "report", "sample", "traverse"]
