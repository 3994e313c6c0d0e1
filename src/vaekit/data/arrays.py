"""NumPy arrays (``.npy`` / ``.npz``) as datasets, plus small helpers the other loaders share.

Array shapes understood (N samples):

* ``(N, D)``                     -> kind ``"vector"``: raw float32 values, any real numbers
* ``(N, H, W)``                  -> image ``(N, 1, H, W)``
* ``(N, H, W, C)``, C in {1, 3}  -> image, transposed to ``(N, C, H, W)``
* ``(N, C, H, W)``, C in {1, 3}  -> image

uint8 images are divided by 255; other image arrays must already lie in [0, 1]. In an ``.npz`` the data is
the array named ``x``, ``X``, ``data`` or ``images`` (else the first non-label array) and labels, when
present, come from ``y``, ``labels`` or ``targets``.
"""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

import numpy as np
import torch

from ..errors import DataError
from .pixels import conform_images
from .schema import Dataset, Schema

DATA_KEYS = ("x", "X", "data", "images")
LABEL_KEYS = ("y", "labels", "targets")
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK"  # local file header or, for an empty archive, end of directory
T = TypeVar("T")


def error_text(exc: BaseException) -> str:
    """The first line of an exception's message (or its type name), for one-line DataErrors."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def float_tensor(x: np.ndarray) -> torch.Tensor:
    """A float32 tensor over ``x`` (copied when ``x`` is not float32, contiguous and writable)."""
    arr = np.ascontiguousarray(x, dtype=np.float32)
    if not arr.flags.writeable:
        arr = arr.copy()
    return torch.from_numpy(arr)


def label_tensor(y: np.ndarray) -> torch.Tensor:
    """A fresh int64 ``(N,)`` tensor of class indices."""
    return torch.from_numpy(np.array(y, dtype=np.int64))


def encode_labels(values: np.ndarray, known: tuple[str, ...] | None = None) -> tuple[np.ndarray, tuple[str, ...]]:
    """Class values ``(N,)`` -> (int64 codes ``(N,)``, names): codes index the sorted unique values.

    When ``known`` (a trained model's label names) holds every name, its order is used instead so the codes
    mean the same classes as in training.
    """
    uniques = set(values.tolist())
    try:
        ordered = sorted(uniques)
    except TypeError:  # mixed types: order by their text
        ordered = sorted(uniques, key=str)
    names = tuple(str(v) for v in ordered)
    if known is not None and set(names) <= set(known):
        names = tuple(known)
    index = {name: i for i, name in enumerate(names)}
    return np.array([index[str(v)] for v in values.tolist()], dtype=np.int64), names


def check_finite(x: np.ndarray, where: str) -> None:
    """Raise DataError when a float array holds NaN or infinite values."""
    if x.dtype.kind in "fc":
        bad = int(np.count_nonzero(~np.isfinite(x)))
        if bad:
            raise DataError(f"{where} has {bad} NaN or infinite values: expected finite numbers")


def to_float32(x: np.ndarray, where: str) -> np.ndarray:
    """A float32 copy of a real array; DataError for NaN, infinite or beyond-float32 values."""
    check_finite(x, where)
    with np.errstate(over="ignore"):
        out = x.astype(np.float32)
    if x.dtype.kind == "f" and not np.isfinite(out).all():
        raise DataError(f"{where} has values too large for float32 (beyond ±3.4e38)")
    return out


def _memory_bytes() -> int | None:
    """This machine's physical memory in bytes, or None where it cannot be asked."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def _size_text(n: int) -> str:
    """A byte count for humans: ``"285.0 TiB"``."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if n < 1024 or unit == "EiB":
            return f"{n} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    raise AssertionError  # unreachable


def check_npy_header(f: BinaryIO, size: int, where: str) -> tuple[tuple[int, ...], np.dtype]:
    """Read the ``.npy`` header at the start of ``f`` and check it before a single data byte is allocated.

    ``size`` is the number of bytes the stream holds (the file's size, or a zip member's declared size).
    Returns (shape, dtype) and leaves ``f`` at the first data byte. DataError when the header is damaged,
    declares Python objects, more data than the stream holds (truncated, or a forged shape) or more than this
    machine's memory.
    """
    try:
        version = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(f)
    except Exception as e:  # bad magic, bad version, unparsable header
        raise DataError(f"cannot read array file {where}: damaged .npy header ({error_text(e)})") from None
    if dtype.hasobject:
        raise DataError(
            f"{where} holds Python objects (dtype=object), which vaekit does not load: save a numeric array"
        )
    if any(d < 0 for d in shape):
        raise DataError(f"cannot read array file {where}: its header declares the impossible shape {shape}")
    need = math.prod(shape) * dtype.itemsize
    have = size - f.tell()
    if need > have:
        raise DataError(
            f"cannot read array file {where}: it is truncated or damaged (its header declares shape {shape} "
            f"{dtype}, {_size_text(need)}, but only {_size_text(max(have, 0))} of data follow)"
        )
    memory = _memory_bytes()
    if memory is not None and need > memory:
        raise DataError(
            f"{where} holds an array of shape {shape} {dtype} ({_size_text(need)}), more than this machine's "
            f"memory ({_size_text(memory)})"
        )
    return shape, dtype


def _check_rows(x: np.ndarray, where: str) -> np.ndarray:
    """``x`` unchanged; DataError when it holds no values (0 rows, or a 0-wide dimension)."""
    if x.ndim > 0 and x.size == 0:
        what = "has no rows" if x.shape[0] == 0 else "holds no values"
        raise DataError(f"{where} {what} (shape {x.shape}): expected at least one sample")
    return x


def _read_member(zf: zipfile.ZipFile, name: str, where: str, allow_empty: bool = False) -> np.ndarray:
    """One ``.npy`` member of an ``.npz`` archive, its header checked against the member's declared size."""
    info = zf.getinfo(name)
    with zf.open(info) as m:
        check_npy_header(m, info.file_size, where)
    with zf.open(info) as m:
        x = np.lib.format.read_array(m, allow_pickle=False)
    return x if allow_empty else _check_rows(x, where)


def _read_plain(f: BinaryIO, path: Path) -> np.ndarray:
    """The array of an open ``.npy`` file, its header checked against the file's size first."""
    check_npy_header(f, os.fstat(f.fileno()).st_size, str(path))
    f.seek(0)
    return _check_rows(np.load(f, allow_pickle=False), str(path))


def _guarded(path: Path, read: Callable[[BinaryIO, bytes], T]) -> T:
    """Open ``path`` and call ``read(file, first 6 bytes)``, turning every failure into one DataError line."""
    try:
        with open(path, "rb") as f:  # our own handle: np.load leaks its own when a zip is corrupt
            head = f.read(6)
            f.seek(0)
            if not head.startswith(_ZIP_MAGIC) and head != _NPY_MAGIC:
                raise DataError(f"{path} is not a NumPy .npy/.npz file (its first bytes are {head!r})")
            return read(f, head)
    except DataError:
        raise
    except MemoryError:
        raise DataError(f"not enough memory to load the array file {path}") from None
    except Exception as e:
        raise DataError(f"cannot read array file {path}: {error_text(e)}") from None


def read_npy_safely(path: str | os.PathLike[str]) -> np.ndarray:
    """The array of one ``.npy`` file, checked before anything large is allocated (never unpickles).

    DataError (one line) for a missing file, a file that is not ``.npy`` (an ``.npz`` included), a damaged or
    truncated file, a header that declares more data than the file holds or than this machine's memory, an
    object array, or an array without values (``(0, 28, 28)``). Any shape and numeric dtype otherwise.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such file: {path}")

    def read(f: BinaryIO, head: bytes) -> np.ndarray:
        if head.startswith(_ZIP_MAGIC):
            raise DataError(f"{path} is an .npz archive: expected a single .npy array")
        return _read_plain(f, path)

    return _guarded(path, read)


def read_npz_safely(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` archive by name (``x.npy`` -> ``"x"``), each member checked like
    :func:`read_npy_safely` (empty arrays are allowed here: the caller knows which may be empty)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such file: {path}")

    def read(f: BinaryIO, head: bytes) -> dict[str, np.ndarray]:
        if not head.startswith(_ZIP_MAGIC):
            raise DataError(f"{path} is a single .npy array: expected an .npz archive")
        with zipfile.ZipFile(f) as zf:
            return {
                name.removesuffix(".npy"): _read_member(zf, name, f"{path}[{name.removesuffix('.npy')}]", True)
                for name in zf.namelist()
            }

    return _guarded(path, read)


def read_npy(path: Path, data_keys: tuple[str, ...] = DATA_KEYS) -> tuple[np.ndarray, np.ndarray | None]:
    """Read an ``.npy`` (data, None) or ``.npz`` (data, labels or None), checked like :func:`read_npy_safely`."""

    def read(f: BinaryIO, head: bytes) -> tuple[np.ndarray, np.ndarray | None]:
        if not head.startswith(_ZIP_MAGIC):
            return _read_plain(f, path), None
        with zipfile.ZipFile(f) as zf:
            return _pick_npz(zf, path, data_keys)

    return _guarded(path, read)


def _pick_npz(zf: zipfile.ZipFile, path: Path, data_keys: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray | None]:
    members = {name.removesuffix(".npy"): name for name in zf.namelist()}  # key -> member, as np.load names them
    keys = list(members)
    data_key = next((k for k in data_keys if k in keys), None)
    if data_key is None:
        data_key = next((k for k in keys if k not in LABEL_KEYS), None)
    if data_key is None:
        raise DataError(f"{path} holds no data array (found {keys}): expected an array named 'x' or 'data'")
    label_key = next((k for k in LABEL_KEYS if k in keys and k != data_key), None)
    data = _read_member(zf, members[data_key], f"{path}[{data_key}]")
    labels = _read_member(zf, members[label_key], f"{path}[{label_key}]") if label_key is not None else None
    return data, labels


def check_numeric(x: np.ndarray, path: object) -> None:
    """Raise DataError unless ``x`` holds real numbers (ints, floats or bools) and at least one sample."""
    if x.dtype.kind not in "biuf":
        raise DataError(f"{path} holds a {x.dtype} array: expected real numbers (int, float or bool)")
    if x.ndim == 0 or x.shape[0] == 0:
        raise DataError(f"{path} holds an empty array of shape {x.shape}: expected at least one sample")


def _layout(x: np.ndarray, path: object, schema: Schema | None) -> tuple[str, np.ndarray]:
    """(kind, samples): ``(N, D)`` vectors or ``(N, C, H, W)`` images (a view of ``x`` where possible)."""
    if x.ndim == 2:
        return "vector", x
    if x.ndim == 3:
        return "image", x[:, None]
    if x.ndim == 4:
        nchw, nhwc = x.shape[1] in (1, 3), x.shape[3] in (1, 3)
        if nchw and nhwc and schema is not None:  # ambiguous: let the model's shape decide
            nchw = tuple(x.shape[1:]) == tuple(schema.shape)
        if nchw:
            return "image", x
        if nhwc:
            return "image", np.moveaxis(x, 3, 1)
    raise DataError(
        f"{path} has shape {x.shape}: expected (N, D) features, (N, H, W) images, "
        "or (N, H, W, C) / (N, C, H, W) images with C = 1 or 3"
    )


def unit_values(x: np.ndarray, where: object, what: str = "images", expected: str = "") -> np.ndarray:
    """Pictures (images, clips) -> float32 in [0, 1]: uint8 divided by 255, other dtypes must already lie in [0, 1]
    (else one DataError line: ``where`` holds ``what`` with values in [lo, hi], then ``expected``)."""
    if x.dtype == np.uint8:
        out = x.astype(np.float32)
        out /= 255
        return out
    out = to_float32(x, str(where))
    lo, hi = float(out.min()), float(out.max())
    if lo < 0 or hi > 1:
        expected = expected or f"values must be in [0, 1] for {what} (or uint8 0-255)"
        raise DataError(f"{where} holds {what} with values in [{lo:g}, {hi:g}]: {expected}")
    return out


def label_codes(
    y: np.ndarray, n: int, path: object, known: tuple[str, ...] | None
) -> tuple[np.ndarray, tuple[str, ...] | None]:
    """Labels ``(N,)`` -> (int64 codes, names or None when they are already integer class indices)."""
    y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    if y.ndim != 1 or len(y) != n:
        raise DataError(f"{path} has labels of shape {y.shape} for {n} samples: expected ({n},)")
    if y.dtype.kind in "US":
        return encode_labels(y, known)
    if y.dtype.kind == "f" and np.isfinite(y).all() and (y == np.round(y)).all():
        y = y.astype(np.int64)
    if y.dtype.kind not in "biu":
        raise DataError(f"{path} has {y.dtype} labels: expected integer class indices or class names")
    return y.astype(np.int64), known


def load_array(path: Path, *, image_size: int | None = None, schema: Schema | None = None) -> Dataset:
    """Load an ``.npy`` / ``.npz`` as split "all": ``(N, D)`` float32 vectors or ``(N, C, H, W)`` images.

    With ``schema`` the per-sample shape must equal ``schema.shape`` (a ``(N, H, W)`` array fits a
    ``(1, H, W)`` schema); ``image_size`` (no schema) resizes image arrays to ``image_size`` squared.
    """
    raw, y = read_npy(path)
    return array_dataset(raw, y, path, image_size=image_size, schema=schema)


def array_dataset(
    raw: np.ndarray,
    y: np.ndarray | None,
    where: object,
    *,
    image_size: int | None = None,
    schema: Schema | None = None,
) -> Dataset:
    """An array (and its labels ``y``, (N,), or None) as split "all", as ``load_array`` reads a file; ``where``
    names it in messages and becomes the schema's source."""
    check_numeric(raw, where)
    kind, x = _layout(raw, where, schema)
    if schema is not None and tuple(x.shape[1:]) != tuple(schema.shape):
        raise DataError(
            f"{where} has shape {raw.shape} (per sample {tuple(x.shape[1:])}) but the model was "
            f"trained on samples of shape {tuple(schema.shape)}"
        )
    if kind == "image":
        x = unit_values(x, where, "images", "values must be in [0, 1] for images (or uint8 0-255), or pass a 2-D "
                        "(N, D) array")  # fmt: skip
        if image_size is not None and schema is None:
            x = conform_images(x, channels=None, size=(image_size, image_size))
    else:
        if image_size is not None:
            raise DataError(f"--image-size applies to images, but {where} holds vectors of shape {raw.shape}")
        x = to_float32(x, str(where))
    known = schema.label_names if schema is not None else None
    codes, names = label_codes(y, len(x), where, known) if y is not None else (None, known)
    if kind == "vector" and schema is not None and schema.kind == "table":
        out = Schema("table", tuple(x.shape[1:]), columns=schema.columns, label_names=names, source=str(where))
    else:
        out = Schema(kind, tuple(x.shape[1:]), label_names=names, source=str(where))  # type: ignore[arg-type]
    labels = {"all": label_tensor(codes)} if codes is not None else {}
    return Dataset(splits={"all": float_tensor(x)}, schema=out, labels=labels)


def read_matrix(path: Path) -> np.ndarray:
    """A 2-D float32 matrix ``(N, D)`` from an ``.npy`` or the ``z`` (else first) array of an ``.npz``."""
    x, _ = read_npy(path, data_keys=("z", "Z", "x", "X", "data"))
    check_numeric(x, path)
    if x.ndim != 2:
        raise DataError(
            f"{path} has shape {x.shape}: expected a 2-D (N, D) array"
            + (" (reshape a single vector to (1, D))" if x.ndim == 1 else "")
        )
    return to_float32(x, str(path))
