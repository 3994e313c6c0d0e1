"""The presets: ONE table of plain data (no torch), so ``vaekit --help`` lists them without importing torch.

Each preset is a one-line note (the ``--preset`` help is generated from it), the model in config.json's form (keys
left out take ModelConfig's defaults; :mod:`vaekit.models.module` builds ``PRESETS`` from it) and the training
options it brings (explicit options win).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RESCONV: dict[str, Any] = {"latent_dim": 32, "architecture": {"kind": "resconv"}}


@dataclass(frozen=True)
class Preset:
    note: str  # one line for --help and the docs
    model: dict[str, Any]  # a ModelConfig as config.json writes it
    training: dict[str, Any] = field(default_factory=dict)  # training options it brings


PRESET_TABLE: dict[str, Preset] = {
    "seed": Preset("the classic 784-400-20 MLP", {"latent_dim": 20, "architecture": {"kind": "mlp", "hidden": [400]}}),
    "conv": Preset("convolutional encoder and decoder", {"latent_dim": 20, "architecture": {"kind": "conv"}}),
    "resconv": Preset("residual conv", RESCONV),
    # two latent levels, z2 (16) -> z1 (32) -> x, over the resconv bodies
    "ladder": Preset("two latent levels over resconv", {**RESCONV, "top_latent_dim": 16}),
    # what reached the lowest test NLL per CPU-minute on MNIST (benchmarks/time_to_quality.py), tuned for 60 minutes
    # on 2 cores
    "best": Preset(
        "resconv with 40 epochs and a 60-minute limit: the lowest MNIST NLL per CPU-minute",
        RESCONV,
        {"epochs": 40, "time_limit": 60.0},
    ),
    # tables with missing values: MIWAE (Mattei & Frellsen, 2019), trained with the IWAE bound; one wide tanh layer
    # imputed better than MIWAE's deeper 128-unit stacks on the breast-cancer benchmark (docs/results.md). Every row
    # trains and the last epoch is kept: the held-out likelihood peaks well before imputation accuracy
    "table": Preset(
        "MIWAE's network for tables: one tanh layer of 512, IWAE bound K=20, 500 epochs",
        {"latent_dim": 10, "architecture": {"kind": "mlp", "hidden": [512], "activation": "tanh"}},
        {"objective": "iwae", "iw_samples": 20, "epochs": 500, "batch_size": 64, "val_fraction": 0.0},
    ),
    # molecules: bidirectional GRU encoder, GRU decoder reading z at every step, a QED/logP/SA head on z; KL warm-up
    # and free bits keep the autoregressive decoder from ignoring z (posterior collapse); new molecules are decoded
    # from a Gaussian fitted to the training codes, which a model trained with a small KL weight does not spread
    # like N(0, I)
    "sequence": Preset(
        "molecules: GRU sequence VAE (same as --model sequence)",
        {
            "latent_dim": 64,
            "architecture": {"kind": "sequence"},
            "likelihood": {"kind": "categorical_sequence"},
            "properties": ["qed", "logp", "sa"],
            "code_prior": "fitted",
        },
        {"epochs": 20, "batch_size": 256, "kl_warmup": 2.0, "free_bits": 0.1, "val_fraction": 0.02},
    ),
    # video clips and time series: the sequential VAE of SVG-LP (Denton & Fergus, 2018): per-frame latents z_t with a
    # learned prior (vaekit.nn.frames). Video: 47-50 clips/s of 20 frames of 64x64 on 2 CPU cores, so 8 epochs of
    # moving-mnist (10,000 clips) take about 27 minutes; SVG's latent size for SM-MNIST (10). Series: an MLP per step
    "video": Preset(
        "video clips: SVG-LP sequential VAE, per-frame z (10) with a learned prior; about 30 minutes on 2 CPU cores",
        {"latent_dim": 10, "architecture": {"kind": "frames", "channels": 16, "features": 64, "rnn": 128}},
        {"epochs": 8, "batch_size": 16, "kl_warmup": 1.0, "time_limit": 30.0, "val_fraction": 0.05},
    ),
    "series": Preset(
        "time series: SVG-LP sequential VAE with an MLP per step, per-step z (4) with a learned prior",
        {"latent_dim": 4, "architecture": {"kind": "frames", "hidden": 128, "features": 64, "rnn": 128}},
        {"epochs": 300, "batch_size": 32, "kl_warmup": 20.0, "time_limit": 20.0},
    ),
}

PRESET_NOTES: dict[str, str] = {name: p.note for name, p in PRESET_TABLE.items()}
PRESET_TRAINING: dict[str, dict[str, Any]] = {name: p.training for name, p in PRESET_TABLE.items() if p.training}
