"""WebDataset-style tar shards of images: a ``.tar`` file, a folder of them, or a brace pattern of their names.

The format webdataset, torchdata, Hugging Face datasets, img2dataset and LAION write: each tar holds samples, a sample
being the consecutive members that share a key, the member name up to the first dot of its file name
(``000123.png`` + ``000123.cls``). A sample's image is its ``.png``, ``.jpg``, ``.jpeg`` or ``.webp`` member; its
optional label its ``.cls`` member, an integer in text (WebDataset's class convention). Other members (``.json``,
``.txt``, ...) and names without a dot are ignored. The distinct ``.cls`` values are the classes, in numeric order
(their text the label names); when some samples have one, every sample must.

``spec`` is a ``.tar`` (``.tar.gz``, ``.tgz``, ``.tar.bz2``, ``.tar.xz`` too), a folder whose ``.tar`` files (sorted by
name) hold the data (and no PNG/JPEG images: those make it a folder of images), or a pattern in WebDataset's brace
notation, ``shards-{000000..000009}.tar`` (ranges keep the width of zero-padded bounds) or ``{train,extra}.tar``,
expanded here, in its order.

Images are decoded as a folder's are (``vaekit.data.images.decode_image``: grayscale when every image is, else RGB;
``--image-size`` resizes; values in [0, 1]) and must share one size unless resized. Indexing reads each tar once: its
headers, each image's header (mode and size) and the labels; the index keeps, per sample, the shard, the offset and
size of its image's bytes. Streamed (:func:`stream_shards`), a batch preads each image at its offset and decodes it;
in memory (:func:`load_shards`) the same reader reads every row, so both give the same values. A compressed tar has no
offsets to read at: it is read in memory (decompressed in one pass), and refused streamed.
"""

from __future__ import annotations

import io
import itertools
import lzma
import os
import re
import tarfile
import zlib
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, features

from .._io import atomic_path
from ..errors import DataError
from .arrays import encode_labels, error_text, float_tensor, label_tensor
from .images import GRAY_MODES, check_sizes, decode_image, image_target, list_images
from .schema import Dataset, Schema
from .streaming import Rows

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
IMAGE_EXTS = ("png", "jpg", "jpeg", *(("webp",) if features.check("webp") else ()))
LABEL_EXT = "cls"
OPEN_FILES = 64  # shards a process keeps open at once (a set can have more shards than a process may open files)
_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")  # gzip, bzip2, xz, zstd
_BRACE = re.compile(r"\{([^{}]*)\}")
_RANGE = re.compile(r"(\d+)\.\.(\d+)")
_TAR_ERRORS = (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError)


# --- which files ----------------------------------------------------------------------------------------------


def _is_tar_name(name: str) -> bool:
    return not name.startswith(".") and name.lower().endswith(TAR_SUFFIXES)


def is_brace_pattern(spec: str) -> bool:
    """True for tar names with a ``{a..b}`` range or a ``{x,y}`` list (WebDataset's notation) naming no path."""
    return (
        spec.lower().endswith(TAR_SUFFIXES)
        and any(_RANGE.fullmatch(b) or "," in b for b in _BRACE.findall(spec))
        and not Path(spec).expanduser().exists()
    )


def expand_braces(pattern: str) -> list[str]:
    """The names a brace pattern stands for, in its order: ``{0..3}`` → 0 1 2 3 (``{00..12}``: zero-padded to the
    bounds' width, as WebDataset's braceexpand does), ``{a,b}`` → a b; several groups multiply."""
    m = _BRACE.search(pattern)
    if m is None:
        return [pattern]
    body, head, tail = m.group(1), pattern[: m.start()], pattern[m.end() :]
    if r := _RANGE.fullmatch(body):
        a, b = r.groups()
        padded = (len(a) > 1 and a[0] == "0") or (len(b) > 1 and b[0] == "0")
        width = max(len(a), len(b)) if padded else 0
        lo, hi = int(a), int(b)
        step = 1 if hi >= lo else -1
        choices = [f"{i:0{width}d}" for i in range(lo, hi + step, step)]
    elif "," in body:
        choices = body.split(",")
    else:
        choices = ["{" + body + "}"]  # not a pattern: kept as written
    return [head + c + rest for c, rest in itertools.product(choices, expand_braces(tail))]


def _folder_shards(folder: Path) -> list[Path]:
    """The tar files directly in ``folder``, sorted by name, when it holds no images a folder loader would read."""
    tars = sorted(p for p in folder.iterdir() if _is_tar_name(p.name) and p.is_file())
    if not tars or list_images(folder):
        return []
    subdirs = (d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    return [] if any(list_images(d) for d in subdirs) else tars


def is_shard_spec(spec: str | os.PathLike[str]) -> bool:
    """True for tar shards: a tar file, a folder of tar files without images, or a brace pattern of tar names."""
    text = os.fspath(spec)
    if is_brace_pattern(text):
        return True
    path = Path(text).expanduser()
    try:
        if path.is_dir():
            return bool(_folder_shards(path))
    except OSError:
        return False  # the folder loaders say what is wrong
    return path.name.lower().endswith(TAR_SUFFIXES)


def shard_files(spec: str | os.PathLike[str]) -> list[Path]:
    """The shard files ``spec`` names, in order (every one existing), else a DataError."""
    text = os.fspath(spec)
    if is_brace_pattern(text):
        names = [Path(n).expanduser() for n in expand_braces(text)]
        missing = [p for p in names if not p.is_file()]
        if missing:
            raise DataError(
                f"{text} names {len(names)} files, {len(missing)} of which do not exist (first: {missing[0]})"
            )
        return names
    path = Path(text).expanduser()
    if path.is_dir():
        if not (found := _folder_shards(path)):
            raise DataError(f"no .tar shards found in {path}")
        return found
    if not path.is_file():
        raise DataError(f"no such file or directory: {text}")
    return [path]


def is_compressed(path: Path) -> bool:
    """True for a gzip/bzip2/xz/zstd-compressed tar (by its first bytes, whatever its name)."""
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError as e:
        raise DataError(f"cannot read {path}: {error_text(e)}") from None
    return head.startswith(_MAGIC)


# --- the index ------------------------------------------------------------------------------------------------


class _Named(io.BytesIO):
    """An image member's bytes, named ``shard:member`` in messages (``decode_image`` names what it cannot read)."""

    def __init__(self, data: bytes, name: str) -> None:
        super().__init__(data)
        self.label = name

    def __str__(self) -> str:
        return self.label

    def __repr__(self) -> str:
        return repr(self.label)


@dataclass
class _Index:
    """Per sample, in order: its image's shard number, byte offset and size, name, mode and (W, H); its label."""

    shards: list[Path]
    shard: list[int] = field(default_factory=list)
    offset: list[int] = field(default_factory=list)
    size: list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    modes: list[str] = field(default_factory=list)
    dims: list[tuple[int, int]] = field(default_factory=list)
    labels: list[int | None] = field(default_factory=list)
    blobs: list[bytes] | None = None  # the images' bytes, for compressed shards (read in memory)


def _split_name(name: str) -> tuple[str, str] | None:
    """(key, extension) of a member name by WebDataset's rule: the key is the name up to the first dot of its file
    name; None for a name without one (or a hidden file)."""
    folder, _, base = name.rpartition("/")
    stem, dot, ext = base.partition(".")
    if not dot or not stem:
        return None
    return (f"{folder}/{stem}" if folder else stem), ext.lower()


def _read_label(tar: tarfile.TarFile, info: tarfile.TarInfo, where: str) -> int:
    raw = tar.extractfile(info).read(64)  # type: ignore[union-attr]
    text = raw.decode("utf-8", errors="replace").strip()
    try:
        return int(text)
    except ValueError:
        raise DataError(f"{where}: expected a class number in text, got {text[:20]!r}") from None


def _probe(f: Any, where: str) -> tuple[str, tuple[int, int]]:
    """(Pillow mode, (W, H)) from an image's header."""
    try:
        with Image.open(f) as im:
            return im.mode, im.size
    except Exception as e:
        raise DataError(f"cannot read image {where}: {error_text(e)}") from None


class _Sample:
    """The members of one sample, gathered while a shard is read."""

    def __init__(self, key: str) -> None:
        self.key, self.exts = key, list[str]()
        self.image: tarfile.TarInfo | None = None
        self.label: int | None = None
        self.probe: tuple[str, tuple[int, int]] = ("", (0, 0))
        self.blob: bytes | None = None

    def add(self, tar: tarfile.TarFile, info: tarfile.TarInfo, ext: str, path: Path, keep: bool) -> None:
        self.exts.append(ext)
        where = f"{path}:{info.name}"
        if ext == LABEL_EXT:
            self.label = _read_label(tar, info, where)
        elif ext in IMAGE_EXTS:
            if self.image is not None:
                raise DataError(f"{path}: sample {self.key!r} has two images ({self.image.name}, {info.name})")
            self.image = info
            f = tar.extractfile(info)
            if keep:  # compressed: the bytes are read now, or never
                self.blob = f.read()  # type: ignore[union-attr]
                f = io.BytesIO(self.blob)
            self.probe = _probe(f, where)

    def finish(self, index: _Index, shard: int) -> None:
        path = index.shards[shard]
        if self.image is None:
            raise DataError(
                f"{path}: sample {self.key!r} has no image (a .{', .'.join(IMAGE_EXTS)} member; "
                f"it has .{', .'.join(self.exts)})"
            )
        index.shard.append(shard)
        index.offset.append(self.image.offset_data)
        index.size.append(self.image.size)
        index.names.append(self.image.name)
        index.modes.append(self.probe[0])
        index.dims.append(self.probe[1])
        index.labels.append(self.label)
        if index.blobs is not None:
            index.blobs.append(self.blob or b"")


def _check_end(tar: tarfile.TarFile, path: Path) -> None:
    """A tar ends with a block of zeros (``tarfile`` takes a cut or a bad header after the first member as the end)."""
    tar.fileobj.seek(tar.offset)  # type: ignore[union-attr]
    end = tar.fileobj.read(tarfile.BLOCKSIZE)  # type: ignore[union-attr]
    if len(end) < tarfile.BLOCKSIZE or end.count(0) != len(end):
        raise DataError(f"cannot read {path}: it is cut short or damaged at byte {tar.offset:,} (no end mark)")


def _scan(index: _Index, shard: int, compressed: bool) -> None:
    """Add the samples of one shard to ``index``: one pass over it (its headers, image headers and labels)."""
    path, sample = index.shards[shard], None
    try:
        with tarfile.open(path, "r|*" if compressed else "r:") as tar:
            for info in tar:
                parts = _split_name(info.name) if info.isfile() else None
                if parts is None:
                    continue
                if sample is None or parts[0] != sample.key:
                    if sample is not None:
                        sample.finish(index, shard)
                    sample = _Sample(parts[0])
                sample.add(tar, info, parts[1], path, compressed)
            if not compressed:
                _check_end(tar, path)
    except _TAR_ERRORS as e:
        raise DataError(f"cannot read {path}: not a tar file, or a damaged one ({error_text(e)})") from None
    if sample is None:
        raise DataError(f"{path} holds no samples (members named KEY.png, KEY.jpg, ...)")
    sample.finish(index, shard)


def _where(index: _Index, row: int) -> str:
    return f"{index.shards[index.shard[row]]}:{index.names[row]}"


def index_shards(files: list[Path], *, stream: bool) -> _Index:
    """The index of ``files`` (one pass over each). Streamed, a compressed shard is refused; in memory its images'
    bytes are kept in the index."""
    compressed = [is_compressed(p) for p in files]
    if stream and any(compressed):
        path = files[compressed.index(True)]
        raise DataError(
            f"{path} is compressed: --stream reads each image at its place in a tar, which a compressed tar does not "
            "have; decompress the shards (gunzip, xz -d) or train without --stream (they are then read into memory)"
        )
    index = _Index(list(files), blobs=[] if any(compressed) else None)
    for shard, packed in enumerate(compressed):
        _scan(index, shard, packed)
    labelled = [y is not None for y in index.labels]
    if any(labelled) and not all(labelled):
        first, odd = _where(index, 0), _where(index, labelled.index(not labelled[0]))
        with_, without = (first, odd) if labelled[0] else (odd, first)
        raise DataError(f"{without} has no .cls label but {with_} has one: label every sample, or none")
    return index


# --- the reader -----------------------------------------------------------------------------------------------


class ShardReader:
    """Rows of tar shards by index: row i's image is ``sizes[i]`` bytes at ``offsets[i]`` of shard ``shard[i]``,
    read with ``os.pread`` and decoded as a folder's images are (``decode_image``). Each process opens its own
    handles (at most ``OPEN_FILES`` at once), so a reader survives pickling and the fork into DataLoader workers.
    ``blobs`` (compressed shards, in memory) holds the images' bytes instead."""

    _fds: OrderedDict[int, int] | None = None  # this process's handles by shard, least recently used first
    _pid = -1

    def __init__(self, index: _Index, gray: bool, size: tuple[int, int]) -> None:
        self.shards = index.shards
        self.shard = np.asarray(index.shard, dtype=np.int32)
        self.offsets = np.asarray(index.offset, dtype=np.int64)
        self.sizes = np.asarray(index.size, dtype=np.int64)
        self.names, self.blobs = index.names, index.blobs
        self.gray, self.image_size = gray, size
        self.shape = (len(self.names), 1 if gray else 3, *size)
        self.dtype = np.dtype(np.float32)
        self._fds, self._pid = OrderedDict(), os.getpid()

    def __len__(self) -> int:
        return self.shape[0]

    def __getstate__(self) -> dict[str, Any]:  # a copy in another process opens its own handles
        return {**self.__dict__, "_fds": OrderedDict(), "_pid": -1}

    def _handle(self, shard: int) -> int:
        if self._pid != os.getpid():  # forked: the parent's handles are the parent's to close
            self._fds, self._pid = OrderedDict(), os.getpid()
        if shard in self._fds:
            self._fds.move_to_end(shard)
            return self._fds[shard]
        if len(self._fds) >= OPEN_FILES:
            os.close(self._fds.popitem(last=False)[1])
        try:
            fd = os.open(self.shards[shard], os.O_RDONLY)
        except OSError as e:
            raise DataError(f"cannot read {self.shards[shard]}: {error_text(e)}") from None
        self._fds[shard] = fd
        return fd

    def blob(self, row: int) -> bytes:
        """Row ``row``'s image file, as bytes."""
        if self.blobs is not None:
            return self.blobs[row]
        shard, size = int(self.shard[row]), int(self.sizes[row])
        data = os.pread(self._handle(shard), size, int(self.offsets[row]))
        if len(data) != size:
            raise DataError(f"{self.shards[shard]} changed while it was read ({self.names[row]} is cut short)")
        return data

    def read(self, rows: np.ndarray) -> np.ndarray:
        """The images of ``rows`` as float32 ``(len(rows), C, H, W)`` in [0, 1]."""
        out = np.empty((len(rows), *self.shape[1:]), dtype=np.float32)
        for j, i in enumerate(rows.tolist()):
            named = _Named(self.blob(i), f"{self.shards[self.shard[i]]}:{self.names[i]}")
            out[j] = decode_image(named, self.gray, self.image_size)  # type: ignore[arg-type]
        return out

    def close(self) -> None:
        """Close this process's handles (a later read opens them again)."""
        if self._fds and self._pid == os.getpid():
            for fd in self._fds.values():
                os.close(fd)
        self._fds = OrderedDict()

    def __del__(self) -> None:
        self.close()


# --- loading --------------------------------------------------------------------------------------------------


def _reader(spec: str, image_size: int | None, schema: Schema | None, stream: bool) -> tuple[ShardReader, _Index]:
    index = index_shards(shard_files(spec), stream=stream)
    channels, size = image_target(image_size, schema)
    if size is None:
        shards = index.shards
        check_sizes([f"{shards[s]}:{n}" for s, n in zip(index.shard, index.names, strict=True)], index.dims)
        size = (index.dims[0][1], index.dims[0][0])
    gray = channels == 1 if channels is not None else all(mode in GRAY_MODES for mode in index.modes)
    return ShardReader(index, gray, size), index


def _dataset(x: Any, spec: str, index: _Index, schema: Schema | None) -> Dataset:
    """The images ``x`` (a tensor, or rows read on demand) with the labels of ``index``."""
    labels: dict[str, torch.Tensor] = {}
    names = schema.label_names if schema is not None else None
    if index.labels and index.labels[0] is not None:
        codes, names = encode_labels(np.array(index.labels, dtype=np.int64), names)
        labels = {"all": label_tensor(codes)}
    meta = Schema("image", tuple(x.shape[1:]), label_names=names, source=spec)
    return Dataset(splits={"all": x}, schema=meta, labels=labels)


def load_shards(
    spec: str | os.PathLike[str], *, image_size: int | None = None, schema: Schema | None = None
) -> Dataset:
    """Every image of the tar shards ``spec`` names, as split "all": float32 ``(N, C, H, W)`` in [0, 1], with
    labels when the samples have ``.cls`` members. ``image_size`` resizes to N×N; ``schema`` (a trained model's)
    fixes size and channels, and its label order is kept when it knows every class."""
    text = os.fspath(spec)
    reader, index = _reader(text, image_size, schema, stream=False)
    try:
        x = reader.read(np.arange(len(reader)))
    finally:
        reader.close()
    return _dataset(float_tensor(x), text, index, schema)


def stream_shards(
    spec: str | os.PathLike[str], *, image_size: int | None = None, schema: Schema | None = None
) -> Dataset:
    """The images of the tar shards ``spec`` names as ``load_shards`` gives them, read and decoded when a batch
    needs them (``vaekit.data.streaming.Rows``): only the index is built now."""
    text = os.fspath(spec)
    reader, index = _reader(text, image_size, schema, stream=True)
    return _dataset(Rows(reader, "image", ""), text, index, schema)


# --- writing --------------------------------------------------------------------------------------------------


def _uint8_images(images: Any) -> np.ndarray:
    """(N, H, W) or (N, H, W, 3) uint8 from uint8 (N, H, W[, C]) or float (N, C, H, W) in [0, 1] (vaekit's)."""
    x = images.detach().cpu().numpy() if torch.is_tensor(images) else np.asarray(images)
    if x.dtype != np.uint8:
        if x.ndim != 4 or x.shape[1] not in (1, 3) or not ((x >= 0) & (x <= 1)).all():
            raise DataError("write_shards takes uint8 (N, H, W[, C]) images or floats (N, C, H, W) in [0, 1]")
        x = np.round(np.moveaxis(x, 1, -1) * 255).astype(np.uint8)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] not in (3, 4)) or not len(x):
        raise DataError(f"write_shards takes (N, H, W) or (N, H, W, C) images with C = 1, 3 or 4, not {x.shape}")
    return x


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))


def write_shards(
    images: Any, labels: Any, folder: str | os.PathLike[str], per_shard: int = 10_000, *, prefix: str = "shard"
) -> list[Path]:
    """Write ``images`` (uint8 ``(N, H, W[, C])``, or float ``(N, C, H, W)`` in [0, 1]) as PNGs in WebDataset tar
    shards ``folder/PREFIX-000000.tar``, ... of ``per_shard`` samples: ``000000.png`` (+ ``000000.cls``, the label,
    when ``labels`` (N,) integers is given). Each shard is written whole or not at all. Returns the shard paths."""
    x = _uint8_images(images)
    y = None if labels is None else np.asarray(labels.cpu() if torch.is_tensor(labels) else labels).reshape(-1)
    if y is not None and (len(y) != len(x) or y.dtype.kind not in "iub"):
        raise DataError(f"write_shards: labels must be {len(x)} integers, one per image")
    if per_shard < 1:
        raise DataError(f"write_shards: per_shard must be at least 1, got {per_shard}")
    width = max(6, len(str(len(x) - 1)))
    out = []
    for s, lo in enumerate(range(0, len(x), per_shard)):
        out.append(Path(folder) / f"{prefix}-{s:06d}.tar")
        with atomic_path(out[-1]) as tmp, tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
            for i in range(lo, min(lo + per_shard, len(x))):
                png = io.BytesIO()
                Image.fromarray(x[i]).save(png, format="PNG")
                _add(tar, f"{i:0{width}d}.png", png.getvalue())
                if y is not None:
                    _add(tar, f"{i:0{width}d}.cls", f"{int(y[i])}\n".encode())
    return out
