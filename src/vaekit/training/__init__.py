"""Training: the loop (fit), its config, and the high-level ``train`` that writes a resumable bundle."""

from .config import TrainConfig
from .loop import TrainState, elbo_stats, fit
from .run import train

__all__ = ["TrainConfig", "TrainState", "elbo_stats", "fit", "train"]
