"""The presets as plain data (no torch): their names, one line on each, and the training options each brings.

The model configs themselves are built in :mod:`vaekit.models.module` (``PRESETS``, same names, same order).
Kept apart so that ``vaekit --help`` can list the presets without importing torch."""

from __future__ import annotations

from typing import Any

# name -> one line for --help and the docs; the order is the order of ``PRESETS``
PRESET_NOTES: dict[str, str] = {
    "seed": "the classic 784-400-20 MLP",
    "conv": "convolutional encoder and decoder",
    "resconv": "residual conv",
    "ladder": "two latent levels over resconv",
    "best": "resconv with 40 epochs and a 60-minute limit: the lowest MNIST NLL per CPU-minute",
    "table": "MIWAE's network for tables: one tanh layer of 512, IWAE bound K=20, 500 epochs",
    "sequence": "molecules: GRU sequence VAE (same as --model sequence)",
}

# training options a preset brings with it (explicit options win): ``best`` is tuned for 60 minutes on 2 cores
PRESET_TRAINING: dict[str, dict[str, Any]] = {
    "best": {"epochs": 40, "time_limit": 60.0},
    # every row trains and the last epoch is kept: the held-out likelihood peaks well before imputation accuracy
    "table": {"objective": "iwae", "iw_samples": 20, "epochs": 500, "batch_size": 64, "val_fraction": 0.0},
    # KL warm-up and free bits keep the autoregressive decoder from ignoring z (posterior collapse)
    "sequence": {"epochs": 20, "batch_size": 256, "kl_warmup": 2.0, "free_bits": 0.1, "val_fraction": 0.02},
}
