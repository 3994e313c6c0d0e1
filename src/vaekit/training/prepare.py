"""From a loaded Dataset to the tensors the loop trains on: subset, train/validation split, binarization."""

from __future__ import annotations

import numpy as np
import torch

from ..core.likelihoods import BernoulliConfig, LikelihoodConfig
from ..data.schema import Dataset
from ..data.streaming import is_streamed
from ..errors import VaekitError

EVAL_BINARIZE_SEED = 0  # test and validation sets are binarized once, with this fixed seed


def resolve_binarize(binarize: str, likelihood: LikelihoodConfig, dataset_kind: str, channels: int) -> str:
    """'auto' -> 'dynamic' for grayscale images with a Bernoulli likelihood, else 'none'."""
    bernoulli = isinstance(likelihood, BernoulliConfig)
    if binarize == "auto":
        return "dynamic" if bernoulli and dataset_kind == "image" and channels == 1 else "none"
    if binarize != "none" and not bernoulli:
        raise ValueError(f"--binarize {binarize} needs a Bernoulli likelihood (data in [0, 1])")
    return binarize


def split_indices(n: int, val_fraction: float, seed: int, subset: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic (train, validation) index tensors over n samples, after an optional random subset."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    if subset is not None:
        perm = perm[:subset]
    n_val = int(round(val_fraction * len(perm)))
    return perm[n_val:], perm[:n_val]


def binarize_fixed(x: torch.Tensor, seed: int = EVAL_BINARIZE_SEED) -> torch.Tensor:
    """One fixed Bernoulli draw per value (static binarization; binarized evaluation sets)."""
    return torch.bernoulli(x, generator=torch.Generator().manual_seed(seed))


def training_tensors(
    data: Dataset, val_fraction: float, seed: int, subset: int | None, binarize: str, shuffle: str = "rows"
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_train, x_val) in data units; static binarization applied, validation binarized when needed. Streamed data
    (``vaekit.data.streaming``) stays on disk for training; its validation rows are read into memory (at most
    ``STREAMED_VALIDATION_BYTES``: the rest of the held-out share is not used). ``shuffle`` "blocks" (streamed data
    only) keeps the training rows in file order, so that the epoch's blocks of positions are runs of the file."""
    x = data.splits[data.train_split]
    train_idx, val_idx = split_indices(len(x), val_fraction, seed, subset)
    x_train, x_val = x[train_idx], x[val_idx]
    if is_streamed(x):
        if binarize == "static":
            raise VaekitError("--binarize static needs the data in memory; streamed images use dynamic (the default)")
        x_val = x_val[: streamed_validation_rows(x)]  # a contiguous slice of the view: read now
        if shuffle == "blocks":
            x_train = x[np.sort(train_idx.numpy())]  # numpy: no index tensor beside the sorted one
    elif shuffle != "rows":
        raise VaekitError("--shuffle blocks applies to streamed data (--stream)")
    if binarize == "static":
        x_train = binarize_fixed(x_train, seed)
    if binarize != "none":
        x_val = binarize_fixed(x_val)
    return x_train, x_val


STREAMED_VALIDATION_BYTES = 256 << 20


def streamed_validation_rows(x) -> int:
    """How many validation rows of streamed data are read into memory: at most 256 MB of float32 samples."""
    return max(1, STREAMED_VALIDATION_BYTES // (4 * max(1, x.numel() // max(1, len(x)))))


def condition_tensors(
    data: Dataset, val_fraction: float, seed: int, subset: int | None
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(y_train, y_val): a conditional model's condition values, row for row with ``training_tensors``' split;
    (None, None) when the data carries no condition."""
    if data.schema.condition is None:
        return None, None
    y = data.attributes[data.train_split]
    train_idx, val_idx = split_indices(len(y), val_fraction, seed, subset)
    x = data.splits[data.train_split]
    if is_streamed(x):  # row for row with the validation rows read
        val_idx = val_idx[: streamed_validation_rows(x)]
    return y[train_idx], y[val_idx]
