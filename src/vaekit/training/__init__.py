"""Training: the loop (fit), its config, and the high-level ``train`` that writes a resumable bundle."""

from .config import TrainConfig
from .loop import TrainState, elbo_stats, fit
from .run import FINISHED, IN_PROGRESS, UNTRAINED, train, training_status

__all__ = [
    "FINISHED",
    "IN_PROGRESS",
    "UNTRAINED",
    "TrainConfig",
    "TrainState",
    "elbo_stats",
    "fit",
    "train",
    "training_status",
]
