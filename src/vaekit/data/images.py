"""A folder of PNG/JPEG images as a dataset, and resizing/channel conversion of image arrays.

Layout: images directly in the folder (no labels), or one subfolder per class (``folder/cat/1.png``...):
class names are the sorted subfolder names and labels their index. Files are read in sorted order.
Per-file attributes (CelebA's ``list_attr_celeba.txt``, an ``attributes.csv``; see ``attributes``) come from the
file passed, else from one found in the folder, its parent or the parent's ``Anno/``.

Channels: when every image is single-channel (Pillow modes 1, L, LA, I, I;16, F) the data is grayscale
(C = 1), otherwise every image is converted to RGB (C = 3). Transparent pixels are composited on white.
16-bit grayscale is scaled by 1/65535, everything else by 1/255, so values lie in [0, 1].
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..errors import DataError
from .arrays import encode_labels, error_text, float_tensor, label_tensor
from .attributes import attributes_for, find_attribute_file, read_attribute_file, rows_of
from .schema import Attributes, Dataset, Schema
from .streaming import FileReader, Rows

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"}
_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}


def image_target(image_size: int | None, schema: Schema | None) -> tuple[int | None, tuple[int, int] | None]:
    """(channels, (H, W)) the images must be converted to: from the schema, else ``image_size`` squared."""
    if schema is not None:
        return int(schema.shape[0]), (int(schema.shape[1]), int(schema.shape[2]))
    if image_size is not None:
        return None, (image_size, image_size)
    return None, None


def list_images(folder: Path) -> list[Path]:
    """The PNG/JPEG files directly inside ``folder`` (not hidden), sorted by name."""
    return sorted(
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    )


def _collect(folder: Path) -> tuple[list[Path], list[str] | None]:
    """(image files, class name per file or None) for a flat or a class-per-subfolder layout."""
    top = list_images(folder)
    subdirs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    classes = [(d.name, files) for d in subdirs if (files := list_images(d))]
    if classes and top:
        raise DataError(
            f"{folder} has images both at its top level ({top[0].name}) and in class subfolders "
            f"({classes[0][0]}/): put every image in a class subfolder, or none"
        )
    if classes:
        return [f for _, files in classes for f in files], [name for name, files in classes for _ in files]
    if not top:
        raise DataError(f"no PNG or JPEG images found in {folder}")
    return top, None


def _probe(path: Path) -> tuple[str, tuple[int, int]]:
    """(Pillow mode, (W, H)) read from the file's header."""
    try:
        with Image.open(path) as im:
            return im.mode, im.size
    except Exception as e:
        raise DataError(f"cannot read image {path}: {error_text(e)}") from None


def _to_mode(im: Image.Image, gray: bool) -> Image.Image:
    """Convert to "F" (16/32-bit gray, in [0, 1]), "L" or "RGB", compositing transparency on white."""
    if im.mode.startswith("I") or im.mode == "F":
        scale = 65535.0 if im.mode.startswith("I") else 1.0
        return Image.fromarray(np.asarray(im, dtype=np.float32) / scale)
    if im.mode in _ALPHA_MODES or "transparency" in im.info:
        rgba = im.convert("RGBA")
        im = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return im.convert("L" if gray else "RGB")


def decode_image(path: Path, gray: bool, size: tuple[int, int] | None) -> np.ndarray:
    """One image file -> float32 ``(C, H, W)`` in [0, 1]; ``size`` is (H, W) or None to keep it."""
    try:
        with Image.open(path) as im:
            im.load()
            im = _to_mode(im, gray)
            if size is not None and im.size != (size[1], size[0]):
                im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            arr = np.asarray(im, dtype=np.float32)
            scaled = arr if im.mode == "F" else arr / 255.0
    except Exception as e:
        raise DataError(f"cannot read image {path}: {error_text(e)}") from None
    scaled = np.clip(scaled, 0.0, 1.0)
    chw = scaled[None] if scaled.ndim == 2 else scaled.transpose(2, 0, 1)
    return np.repeat(chw, 3, axis=0) if not gray and chw.shape[0] == 1 else chw


def check_sizes(files: list[Path], sizes: list[tuple[int, int]]) -> None:
    for f, s in zip(files, sizes, strict=True):
        if s != sizes[0]:
            a, b = f"{sizes[0][0]}×{sizes[0][1]}", f"{s[0]}×{s[1]}"
            raise DataError(
                f"images have different sizes ({a} and {b}, first in {f}): pass --image-size N to resize them all"
            )


def _file_attributes(
    folder: Path, files: list[Path], attributes: Path | str | None
) -> tuple[Attributes, np.ndarray] | None:
    """The images' per-file attributes: from ``attributes``, else from a file found beside the folder, which is
    skipped when it has a row for none of the images (it describes other images)."""
    path = Path(attributes) if attributes is not None else find_attribute_file(folder)
    if path is None:
        return None
    frame = read_attribute_file(path)
    if attributes is None and not (rows_of(files, frame) >= 0).any():
        return None
    return attributes_for(files, frame, folder)


def _plan(folder: Path, image_size: int | None, schema: Schema | None, attributes: Path | str | None):
    """(files, class names or None, attributes found or None, gray, (H, W)) of a folder of images, read from the
    files' headers."""
    files, classes = _collect(folder)
    found = _file_attributes(folder, files, attributes)  # before the pixels: a bad file fails fast
    probes = [_probe(f) for f in files]
    channels, size = image_target(image_size, schema)
    if size is None:
        check_sizes(files, [wh for _, wh in probes])
        size = (probes[0][1][1], probes[0][1][0])
    gray = channels == 1 if channels is not None else all(mode in GRAY_MODES for mode, _ in probes)
    return files, classes, found, gray, size


def _dataset(x: Any, folder: Path, classes: list[str] | None, found, schema: Schema | None) -> Dataset:
    """The images ``x`` (a tensor, or rows read on demand) with their labels and attributes."""
    labels: dict[str, torch.Tensor] = {}
    names = schema.label_names if schema is not None else None
    if classes is not None:
        codes, names = encode_labels(np.array(classes), names)
        labels = {"all": label_tensor(codes)}
    meta = Schema("image", tuple(x.shape[1:]), label_names=names, source=str(folder))
    data = Dataset(splits={"all": x}, schema=meta, labels=labels)
    if found is not None:
        data.attribute_info, data.attributes = found[0], {"all": float_tensor(found[1])}
    return data


def load_image_folder(
    folder: Path,
    *,
    image_size: int | None = None,
    schema: Schema | None = None,
    attributes: Path | str | None = None,
) -> Dataset:
    """Load every PNG/JPEG in ``folder`` as split "all": float32 ``(N, C, H, W)`` in [0, 1].

    ``image_size`` resizes every image to N×N; ``schema`` (a trained model's) fixes both the size and the
    channels. Labels (class subfolders) use the schema's label order when it knows every class. ``attributes``
    is a file of per-file attributes (else one found beside the folder, module docstring): they become
    ``Dataset.attributes["all"]`` ``(N, K)``, rows in the images' order, described by ``attribute_info``.
    """
    files, classes, found, gray, size = _plan(folder, image_size, schema, attributes)
    x = np.empty((len(files), 1 if gray else 3, *size), dtype=np.float32)
    for i, f in enumerate(files):
        x[i] = decode_image(f, gray, size)
    return _dataset(float_tensor(x), folder, classes, found, schema)


def stream_image_folder(
    folder: Path,
    *,
    image_size: int | None = None,
    schema: Schema | None = None,
    attributes: Path | str | None = None,
) -> Dataset:
    """The images of ``folder`` as ``load_image_folder`` gives them, decoded when a batch reads them
    (``vaekit.data.streaming.Rows``): only the files' headers are read now."""
    files, classes, found, gray, size = _plan(folder, image_size, schema, attributes)
    reader = FileReader(files, functools.partial(decode_image, gray=gray, size=size), (1 if gray else 3, *size))
    return _dataset(Rows(reader, "image", ""), folder, classes, found, schema)
