"""Training options: one frozen dataclass, serialized into the bundle's config.json."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from ..config import from_dict, to_dict
from ..core.corruption import parse_corrupt

Binarize = Literal["auto", "none", "dynamic", "static"]


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10  # passes over the training data
    batch_size: int = 128  # vaekit.train lowers an unset one for small data (down to 16: >= 16 steps an epoch)
    lr: float = 1e-3  # Adam learning rate
    # constant, or cosine: decays from lr to 0 over ``epochs`` by step (Loshchilov & Hutter, 2017); a function of
    # the step alone, so a resumed run follows it exactly. With a time limit, set epochs to what fits
    lr_schedule: Literal["constant", "cosine"] = "constant"
    beta: float = 1.0  # weight of the KL term (beta-VAE when != 1)
    # iwae: the K-sample importance-weighted bound (Burda et al.); betatc: the beta-TCVAE objective (Chen et al.,
    # 2018), beta weighting only the total correlation of the aggregate posterior
    objective: Literal["elbo", "iwae", "betatc"] = "elbo"
    iw_samples: int = 5  # K, samples per input for the iwae objective
    kl_warmup: float = 0.0  # epochs over which the KL weight rises linearly from 0 to beta
    binarize: Binarize = "auto"  # auto: dynamic for grayscale images with a Bernoulli likelihood, else none
    val_fraction: float = 0.1  # share of the training data held out for validation / early stopping
    early_stopping: int | None = None  # stop after this many epochs without a better validation ELBO
    grad_clip: float | None = 1000.0  # max global gradient norm (None: no clipping)
    seed: int = 0  # same seed, same machine -> same result
    device: Literal["auto", "cpu", "cuda"] = "auto"
    subset: int | None = None  # train on a random subset of this many samples
    max_retries: int = 3  # non-finite loss: roll back, halve the learning rate, at most this many times
    time_limit: float | None = None  # minutes of training (summed over resumes); stops inside the epoch it ends in
    corrupt: str | None = None  # e.g. gaussian:0.3: the encoder sees a corrupted copy (denoising VAE)
    free_bits: float = 0.0  # nats per latent dimension the KL term never goes below (against posterior collapse)
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 on CUDA, and on fast-bf16 CPUs for sequences
    property_weight: float = 1.0  # weight of the property head's squared error (standardized units) in the loss
    word_dropout: float = 0.0  # sequence models: share of the decoder's input tokens hidden as <unk> in training
    # conditional models: weight of the term keeping z from telling y (a critic guesses y from z; the encoder is
    # trained to leave it guessing), so that y decides what a sample is. 0: the plain conditional VAE
    independence: float = 1.0
    # read a .npy array or a folder of images from disk batch by batch (vaekit.data.streaming) instead of into memory;
    # None: only a .npy larger than half the memory available when training starts. The results are the same
    stream: bool | None = None
    # streamed data: DataLoader processes reading batches ahead (0: a thread of this process; None: 0 for a .npy,
    # 2 for images decoded from files, 1 on a one-core machine)
    workers: int | None = None
    # the epoch's order: rows (a permutation of the rows: what an in-memory run does), or blocks (streamed data: runs
    # of 64 consecutive rows in random order, shuffled within windows of 16 runs: a disk reads 64 rows at a time)
    shuffle: Literal["rows", "blocks"] = "rows"

    def __post_init__(self) -> None:
        checks = [
            (self.epochs >= 1, "epochs must be at least 1"),
            (self.batch_size >= 1, "batch size must be at least 1"),
            (self.lr > 0, "learning rate must be positive"),
            (self.beta >= 0, "beta must be >= 0"),
            (self.kl_warmup >= 0, "kl warm-up must be >= 0 epochs"),
            (0 <= self.val_fraction < 1, "val fraction must be in [0, 1)"),
            (self.early_stopping is None or self.early_stopping >= 1, "early-stopping patience must be >= 1"),
            (self.subset is None or self.subset >= 2, "subset must be at least 2 samples"),
            (self.iw_samples >= 1, "iw-samples must be at least 1"),
            (self.time_limit is None or self.time_limit > 0, "time limit must be positive (minutes)"),
            (self.free_bits >= 0, "free bits must be >= 0"),
            (self.property_weight >= 0, "property weight must be >= 0"),
            (0 <= self.word_dropout < 1, "word dropout must be in [0, 1)"),
            (self.independence >= 0, "independence must be >= 0"),
            (self.workers is None or self.workers >= 0, "workers must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        if self.corrupt is not None:
            parse_corrupt(self.corrupt)
        if self.early_stopping is not None and self.val_fraction == 0:
            raise ValueError("early stopping needs a validation set: use a --val-fraction above 0")

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        return from_dict(cls, d)

    def lr_factor(self, epoch_progress: float) -> float:
        """The share of ``lr`` the schedule gives after ``epoch_progress`` epochs (fractional within an epoch)."""
        if self.lr_schedule == "constant":
            return 1.0
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, epoch_progress / self.epochs)))

    def kl_weight(self, epoch_progress: float) -> float:
        """beta times the warm-up ramp; epoch_progress counts epochs done, fractional within an epoch."""
        if self.kl_warmup <= 0:
            return self.beta
        return self.beta * min(1.0, epoch_progress / self.kl_warmup)
