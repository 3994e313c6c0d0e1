"""IDX files, the format of MNIST and its relatives (Fashion-MNIST, KMNIST, EMNIST), optionally gzipped.

Layout: 2 zero bytes, a type code (0x08 = unsigned byte, the only one supported), the number of dimensions,
then one big-endian uint32 per dimension, then the values in C order. An images file has dims (N, H, W);
labels sit beside it in a file named like it with ``images``/``idx3`` replaced by ``labels``/``idx1``
(``train-images-idx3-ubyte.gz`` -> ``train-labels-idx1-ubyte[.gz]``).
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .arrays import error_text, float_tensor, label_tensor
from .images import image_target
from .pixels import conform_images
from .schema import Dataset, Schema

_TYPES = {
    0x08: "unsigned byte",
    0x09: "signed byte",
    0x0B: "int16",
    0x0C: "int32",
    0x0D: "float32",
    0x0E: "float64",
}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path, limit: int = -1) -> bytes:
    """The file's bytes (decompressed when it is gzip), at most ``limit`` of them when given."""
    gzipped = False
    try:
        with open(path, "rb") as f:
            gzipped = f.read(2) == _GZIP_MAGIC
        opener = gzip.open if gzipped else open
        with opener(path, "rb") as f:
            return f.read(limit)
    except (OSError, EOFError, zlib.error) as e:
        what = "is not a valid gzip file" if gzipped else "cannot be read"
        raise DataError(f"{path} {what}: {error_text(e)}") from None


def _has_idx_magic(head: bytes) -> bool:
    return len(head) >= 4 and head[:2] == b"\0\0" and head[2] in _TYPES and 1 <= head[3] <= 4


def looks_like_idx(path: Path) -> bool:
    """True when the name looks like an IDX file (``*idx*-ubyte[.gz]``) or the file starts like one."""
    name = path.name.lower()
    if "idx" in name and name.endswith(("-ubyte", ".gz")):
        return True
    try:
        return _has_idx_magic(_read_bytes(path, 4))
    except DataError:
        return False


def read_idx(path: Path) -> np.ndarray:
    """Read one unsigned-byte IDX file (optionally gzipped) -> uint8 array with the header's dims."""
    raw = _read_bytes(path)
    if not _has_idx_magic(raw[:4]):
        raise DataError(
            f"{path} is not an IDX file: it starts with {raw[:4].hex() or 'nothing'}, expected "
            "00 00, a type code (08 for unsigned bytes) and the number of dimensions"
        )
    code, ndim = raw[2], raw[3]
    if code != 0x08:
        raise DataError(
            f"{path} holds {_TYPES[code]} values (IDX type 0x{code:02X}): only unsigned byte "
            "(0x08) IDX files are supported"
        )
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise DataError(f"{path} is truncated: its header needs {start} bytes, found {len(raw)}")
    dims = struct.unpack(f">{ndim}I", raw[4:start])
    expected, found = math.prod(dims), len(raw) - start
    if found != expected:
        problem = "is truncated" if found < expected else "has extra bytes"
        shape = "×".join(str(d) for d in dims)
        raise DataError(f"{path} {problem}: header says {shape} = {expected} bytes, found {found}")
    return np.frombuffer(raw, dtype=np.uint8, offset=start).reshape(dims).copy()


def labels_path_for(images: Path) -> Path | None:
    """The labels file beside an images file (gzipped or not), or None when there is none."""
    name = images.name
    gz = name.lower().endswith(".gz")
    base = name[:-3] if gz else name
    if "images" not in base or "idx3" not in base:
        return None
    label_base = base.replace("images", "labels").replace("idx3", "idx1")
    candidates = (label_base + ".gz", label_base) if gz else (label_base, label_base + ".gz")
    return next((images.parent / c for c in candidates if (images.parent / c).is_file()), None)


def find_idx_images(folder: Path) -> list[Path]:
    """IDX image files (names containing ``idx3``) in ``folder``, sorted; a plain copy beats a ``.gz`` one."""
    found: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and not p.name.startswith(".") and "idx3" in p.name.lower():
            key = p.name[:-3] if p.name.lower().endswith(".gz") else p.name
            if key not in found or p.name == key:
                found[key] = p
    return sorted(found.values())


def _split_files(folder: Path) -> dict[str, Path]:
    files = find_idx_images(folder)
    if len(files) == 1:
        return {"all": files[0]}
    train = [f for f in files if f.name.lower().startswith("train")]
    test = [f for f in files if f.name.lower().startswith(("t10k", "test"))]
    if len(files) == 2 and len(train) == 1 and len(test) == 1:
        return {"train": train[0], "test": test[0]}
    names = [f.name for f in files]
    raise DataError(
        f"{folder} has {len(files)} IDX image files {names}: expected one, or a train-* and a t10k-*/test-* pair"
    )


def _read_images(path: Path) -> np.ndarray:
    x = read_idx(path)
    if x.ndim != 3:
        hint = " (this looks like a labels file: pass the images file)" if x.ndim == 1 else ""
        raise DataError(f"{path} has shape {x.shape}: expected an IDX images file with dims (N, H, W){hint}")
    if x.shape[0] == 0:
        raise DataError(f"{path} holds no images: expected at least one")
    return x


def _read_labels(images: Path, n: int) -> np.ndarray | None:
    path = labels_path_for(images)
    if path is None:
        return None
    y = read_idx(path)
    if y.ndim != 1:
        raise DataError(f"{path} has shape {y.shape}: expected a 1-D IDX labels file")
    if len(y) != n:
        raise DataError(f"{path} has {len(y)} labels but {images.name} has {n} images: expected one each")
    return y


def load_idx(path: Path, *, image_size: int | None = None, schema: Schema | None = None) -> Dataset:
    """Load an IDX images file (split "all") or a folder of them (train/test pair, or one file as "all").

    Returns float32 ``(N, 1, H, W)`` images in [0, 1] (resized/converted to ``schema`` or ``image_size``)
    and int64 labels where a labels file sits beside the images; label names are "0".."K-1".
    """
    files = _split_files(path) if path.is_dir() else {"all": path}
    channels, size = image_target(image_size, schema)
    splits: dict[str, torch.Tensor] = {}
    labels: dict[str, torch.Tensor] = {}
    for split, f in files.items():
        raw = _read_images(f)
        y = _read_labels(f, len(raw))
        x = raw.astype(np.float32)[:, None]
        x /= 255
        splits[split] = float_tensor(conform_images(x, channels=channels, size=size))
        if y is not None:
            labels[split] = label_tensor(y)
    shapes = {tuple(t.shape[1:]) for t in splits.values()}
    if len(shapes) > 1:
        raise DataError(
            f"the IDX files in {path} have different image sizes {sorted(shapes)}: "
            "pass --image-size N to resize them all"
        )
    names = schema.label_names if schema is not None else None
    if names is None and labels:
        names = tuple(str(i) for i in range(max(int(t.max()) for t in labels.values()) + 1))
    meta = Schema("image", shapes.pop(), label_names=names, source=str(path))
    return Dataset(splits=splits, schema=meta, labels=labels)
