"""vaekit: Variational Autoencoders for images, tables and molecules — train, save, generate, explore.

>>> import vaekit
>>> model = vaekit.train("mnist", out="runs/seed", epochs=10)      # or vaekit.load("runs/seed")
>>> q = model.encode(x)                                              # q.mean, q.stddev, q.sample()
>>> images = model.sample(16, seed=0)

``import vaekit`` is light: torch, pandas and matplotlib load on first use of a name that needs them (PEP 562).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import BundleError, DataError, TrainingError, VaekitError

if TYPE_CHECKING:
    from .data import Dataset, Schema, load_dataset
    from .models import PRESETS, ModelConfig
    from .training import TrainConfig, train
    from .vae import VAE
    from .vae import load_model as load
    from .workflows.impute import impute_frame

# public name -> (module, its name there), imported on first access
_LAZY: dict[str, tuple[str, str]] = {
    "Dataset": (".data", "Dataset"),
    "Schema": (".data", "Schema"),
    "load_dataset": (".data", "load_dataset"),
    "PRESETS": (".models", "PRESETS"),
    "ModelConfig": (".models", "ModelConfig"),
    "TrainConfig": (".training", "TrainConfig"),
    "train": (".training", "train"),
    "VAE": (".vae", "VAE"),
    "load": (".vae", "load_model"),
    "impute_frame": (".workflows.impute", "impute_frame"),
}

__all__ = [
    "PRESETS",
    "VAE",
    "BundleError",
    "DataError",
    "Dataset",
    "ModelConfig",
    "Schema",
    "TrainConfig",
    "TrainingError",
    "VaekitError",
    "__version__",
    "impute_frame",
    "load",
    "load_dataset",
    "train",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attr = _LAZY[name]
    value = getattr(importlib.import_module(module, __name__), attr)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
