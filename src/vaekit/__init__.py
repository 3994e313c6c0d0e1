"""vaekit: Variational Autoencoders for images and tables — train, save, generate, explore.

>>> import vaekit
>>> model = vaekit.train("mnist", out="runs/seed", epochs=10)      # or vaekit.load("runs/seed")
>>> q = model.encode(x)                                              # q.mean, q.stddev, q.sample()
>>> images = model.sample(16, seed=0)
"""

from ._version import __version__
from .data import Dataset, Schema, load_dataset  # noqa: E402
from .errors import BundleError, DataError, TrainingError, VaekitError  # noqa: E402
from .models import PRESETS, ModelConfig  # noqa: E402
from .training import TrainConfig, train  # noqa: E402
from .vae import VAE  # noqa: E402
from .vae import load_model as load  # noqa: E402
from .workflows.impute import impute_frame  # noqa: E402

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
