"""Data larger than memory: rows read from disk when a batch needs them.

:class:`Rows` stands where a loaded split's tensor stands (``Dataset.splits``), for an ``.npy`` array or a folder of
images too large to hold: ``len(rows)``, ``rows.shape``, ``rows[i:j]`` (a contiguous slice, read now: a float32
tensor in data units, as the in-memory loaders give it), ``rows[index]`` with an index tensor or array (a lazy view
of those rows: the train/validation split and the code statistics select rows without reading them), and
:func:`batches`, which reads the batches of an epoch in the background with ``torch.utils.data.DataLoader`` workers
and yields each as a tensor. The values of a row are the ones the in-memory loader gives (uint8 divided by 255,
images as (C, H, W)), so a streamed run trains exactly as the same run in memory.

An ``.npy`` is read with ``os.pread`` at the offsets its header gives (runs of consecutive rows in one call), not
through a memory map: the pages a process touches through a map count in its resident memory until the kernel
needs them back, so a pass over an array larger than memory would show the whole page cache as the process's own.
Read with pread the pages stay in the kernel's cache, and each process holds only the batches in flight.
A folder of images is decoded per batch, file by file, with Pillow (``vaekit.data.images``).

Each process opens its own file handle (checked by process id), so a reader survives the fork into DataLoader
workers. Values are checked as they are read (float images must lie in [0, 1], vectors must be finite): a bad row
stops training with one line naming it.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.utils.data

from ..errors import DataError
from .arrays import check_numeric, error_text
from .schema import Dataset, Schema

CHUNK_BYTES = 64 << 20  # a sequential pass (statistics) reads this much at a time
READ_THREADS = 8  # reads in flight per process
GAP_BYTES = 64 << 10  # rows closer than this are read in one request, the bytes between them dropped
BLOCK, WINDOW = 64, 16  # the block order: runs of 64 consecutive rows, shuffled together 16 runs at a time
GROUP_ROWS, GROUP_BYTES = BLOCK * WINDOW, 32 << 20  # rows of the batches read at once (a window), and their cap


class NpyReader:
    """Rows of one ``.npy`` file by index: its header is read (and checked against the file's size) up front."""

    _fd: int | None = None  # this process's handle, opened at the first read
    _pid = -1
    _threads: ThreadPoolExecutor | None = None  # this process's readers
    _threads_pid = -1

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            with open(path, "rb") as f:
                if f.read(6) != b"\x93NUMPY":
                    raise DataError(f"{path} is not a .npy file: --stream reads a single .npy array")
                f.seek(0)
                version = np.lib.format.read_magic(f)
                read_header = (
                    np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                )
                shape, fortran, dtype = read_header(f)
                self.offset, size = f.tell(), os.fstat(f.fileno()).st_size
        except DataError:
            raise
        except Exception as e:
            raise DataError(f"cannot read array file {path}: damaged .npy header ({error_text(e)})") from None
        if dtype.hasobject or dtype.kind not in "biuf":
            raise DataError(f"{path} holds a {dtype} array: expected real numbers (int, float or bool)")
        if fortran and len(shape) > 1:
            raise DataError(f"{path} is stored in Fortran order: save it C-ordered (np.ascontiguousarray) to stream it")
        if len(shape) < 2 or shape[0] == 0 or math.prod(shape) == 0:
            raise DataError(f"{path} holds an array of shape {shape}: expected (N, ...) with at least one sample")
        self.shape, self.dtype = tuple(int(s) for s in shape), dtype
        self.row_bytes = math.prod(self.shape[1:]) * dtype.itemsize
        if size - self.offset < self.shape[0] * self.row_bytes:
            raise DataError(
                f"cannot read array file {path}: it is truncated (its header declares shape {shape} {dtype}, "
                f"{self.shape[0] * self.row_bytes:,} bytes, but {size - self.offset:,} bytes of data follow)"
            )

    def __len__(self) -> int:
        return self.shape[0]

    def shape_bytes(self, itemsize: int) -> int:
        """The bytes of the whole array at ``itemsize`` bytes per value."""
        return math.prod(self.shape) * itemsize

    def __getstate__(self) -> dict[str, Any]:  # a copy in another process opens its own handle and threads
        return {**self.__dict__, "_fd": None, "_pid": -1, "_threads": None, "_threads_pid": -1}

    def _handle(self) -> int:
        if self._pid != os.getpid():
            self._fd, self._pid = os.open(self.path, os.O_RDONLY), os.getpid()
        return self._fd  # type: ignore[return-value]

    def read(self, rows: np.ndarray) -> np.ndarray:
        """The rows ``rows`` (sorted ascending, unique) in the file's dtype and per-row shape. Rows less than
        ``GAP_BYTES`` apart are one read (the span between them read and dropped); the reads go to ``READ_THREADS``
        threads at once (a disk answers many random reads at a time: one thread read ~9,000 random 784-byte rows a
        second from an uncached file, 8 ~21,000)."""
        out = np.empty((len(rows), *self.shape[1:]), dtype=self.dtype)
        if not len(rows):
            return out
        flat = out.reshape(len(rows), self.row_bytes // self.dtype.itemsize).view(np.uint8)
        fd = self._handle()
        breaks = np.flatnonzero(np.diff(rows) * self.row_bytes > max(GAP_BYTES, self.row_bytes)) + 1
        spans = list(zip(np.r_[0, breaks].tolist(), np.r_[breaks, len(rows)].tolist(), strict=True))

        def span(bounds: tuple[int, int]) -> None:
            lo, hi = bounds
            first, count = int(rows[lo]), int(rows[hi - 1] - rows[lo]) + 1
            whole = hi - lo == count  # consecutive rows: straight into the output
            buf = flat[lo:hi] if whole else np.empty((count, self.row_bytes), dtype=np.uint8)
            got = os.preadv(fd, [memoryview(buf).cast("B")], self.offset + first * self.row_bytes)
            if got != count * self.row_bytes:
                raise DataError(f"{self.path} changed while it was read (rows {first}..{first + count - 1} missing)")
            if not whole:
                flat[lo:hi] = buf[rows[lo:hi] - first]

        if len(spans) < 4:
            for bounds in spans:
                span(bounds)
        else:  # each thread reads every k-th span: k tasks, not one per span (a task costs ~20 µs of Python)
            k = min(READ_THREADS, len(spans))
            list(self._pool().map(lambda j: [span(bounds) for bounds in spans[j::k]], range(k)))
        return out

    def _pool(self) -> ThreadPoolExecutor:
        if self._threads is None or self._threads_pid != os.getpid():  # threads do not survive a fork
            self._threads, self._threads_pid = ThreadPoolExecutor(READ_THREADS), os.getpid()
        return self._threads

    def __del__(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)


class FileReader:
    """Rows of a list of files (a folder of images): ``decode(path)`` gives one row, as a float32 array of
    ``sample_shape``, when it is read."""

    def __init__(self, files: list[Path], decode: Any, sample_shape: tuple[int, ...]) -> None:
        self.files, self.decode = files, decode
        self.shape = (len(files), *sample_shape)
        self.dtype = np.dtype(np.float32)

    def __len__(self) -> int:
        return len(self.files)

    def read(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), *self.shape[1:]), dtype=np.float32)
        for j, i in enumerate(rows):
            out[j] = self.decode(self.files[int(i)])
        return out


class Rows:
    """The rows ``index`` (all when None) of a reader, as float32 samples of ``sample_shape`` in data units.

    ``layout`` turns the file's rows into samples: "nhw" adds a channel axis, "nhwc" moves it first, "" keeps them.
    ``kind`` is "image", "vector" or "table" (encoded, NaN allowed); ``source`` names the data in messages."""

    dtype = torch.float32

    def __init__(self, reader: Any, kind: str, layout: str, index: np.ndarray | None = None, device: Any = "cpu"):
        self.reader, self.kind, self.layout = reader, kind, layout
        # None: every row in file order (no index array: for 65 million rows one is 520 MB)
        self.index = None if index is None else np.asarray(index, dtype=np.int64)
        self.device = torch.device(device)
        file_shape = reader.shape[1:]
        self.sample_shape: tuple[int, ...] = {
            "nhw": (1, *file_shape),
            "nhwc": (file_shape[-1], *file_shape[:-1]),
        }.get(layout, tuple(file_shape))

    def __len__(self) -> int:
        return len(self.reader) if self.index is None else len(self.index)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self), *self.sample_shape))

    def numel(self) -> int:
        return math.prod(self.shape)

    def to(self, device: Any) -> Rows:
        """These rows, read onto ``device``."""
        return type(self)(self.reader, self.kind, self.layout, self.index, device)

    def __getitem__(self, key: Any) -> Any:
        """``rows[i:j]``: those rows read (a tensor); ``rows[index]`` (tensor or array of positions): a view."""
        if isinstance(key, slice):
            return self.read(self._file_rows(np.arange(*key.indices(len(self)))))
        positions = key.cpu().numpy() if torch.is_tensor(key) else np.asarray(key)
        return type(self)(self.reader, self.kind, self.layout, self._file_rows(positions), self.device)

    def _file_rows(self, positions: np.ndarray) -> np.ndarray:
        """The file's row numbers at ``positions`` of these rows (shares ``positions`` when these are all rows)."""
        return positions if self.index is None else self.index[positions]

    def take(self, positions: Any) -> torch.Tensor:
        """The rows at ``positions`` (tensor or array), read: a float32 tensor in data units, in that order."""
        positions = positions.cpu().numpy() if torch.is_tensor(positions) else np.asarray(positions)
        return self.read(self._file_rows(positions))

    def read(self, file_rows: np.ndarray) -> torch.Tensor:
        """Rows of the file, in the order given (read in ascending order, each once), as samples in data units."""
        order, first = np.unique(file_rows, return_inverse=True)
        raw = self.reader.read(order)[first]
        return samples(raw, self.kind, self.layout, self.reader, file_rows).to(self.device)

    def chunks(self, rows: int | None = None) -> Iterator[torch.Tensor]:
        """Every row, in order, a chunk at a time (``rows`` per chunk; by default about 64 MB of file)."""
        step = rows or max(1, CHUNK_BYTES // max(1, math.prod(self.reader.shape[1:]) * self.reader.dtype.itemsize))
        for i in range(0, len(self), step):
            yield self[i : i + step]

    def value_range(self) -> tuple[float, float]:
        """(min, max) of every value, in one pass."""
        lo, hi = math.inf, -math.inf
        for chunk in self.chunks():
            lo, hi = min(lo, float(chunk.min())), max(hi, float(chunk.max()))
        return lo, hi


def samples(raw: np.ndarray, kind: str, layout: str, reader: Any, file_rows: np.ndarray) -> torch.Tensor:
    """File rows -> float32 samples in data units: uint8 images / 255, float images checked in [0, 1], vectors
    checked finite (a bad row is named), encoded tables as they are."""
    if layout == "nhw":
        raw = raw[:, None]
    elif layout == "nhwc":
        raw = np.moveaxis(raw, -1, 1)
    if kind == "image" and raw.dtype == np.uint8:
        x = raw.astype(np.float32)
        x /= 255
        return torch.from_numpy(x)
    with np.errstate(over="ignore", invalid="ignore"):
        x = np.ascontiguousarray(raw, dtype=np.float32)
    if kind == "table":  # an encoded table (vaekit.data.stream_tables): NaN marks a missing cell, checked when encoded
        return torch.from_numpy(x)
    if kind == "image":
        bad = ~((x >= 0) & (x <= 1)).reshape(len(x), math.prod(x.shape[1:])).all(1)
        need = "values in [0, 1] (or uint8 0-255)"
    else:
        bad = ~np.isfinite(x).reshape(len(x), math.prod(x.shape[1:])).all(1)
        need = "finite float32 values"
    if bad.any():
        row = int(file_rows[int(np.flatnonzero(bad)[0])])
        raise DataError(f"{getattr(reader, 'path', 'the data')}: row {row} is out of range: expected {need}")
    return torch.from_numpy(x)


class _Groups(torch.utils.data.Dataset):
    """Group ``g`` of an epoch's batches: the rows of ``per`` consecutive batches (``order[g * per * size : ...]``)
    read at once, in ascending order, each file row once (a block order's window is one read per run of the file),
    then split into the batches."""

    def __init__(self, rows: Rows, order: np.ndarray, size: int, per: int) -> None:
        self.rows, self.order, self.size, self.per = rows.to("cpu"), order, size, per

    def __len__(self) -> int:
        return math.ceil(len(self.order) / (self.size * self.per))

    def __getitem__(self, g: int) -> tuple[torch.Tensor, ...]:
        span = self.size * self.per
        return self.rows.take(self.order[g * span : (g + 1) * span]).split(self.size)


def default_workers(x: Rows) -> int:
    """DataLoader processes reading streamed batches: none for an ``.npy`` (a thread of the training process reads
    ahead: its reads wait on the disk, not the processor, and a batch from a worker process costs ~1 ms of processor
    time to hand over), 2 (1 on a one-core machine) for images decoded from files."""
    if isinstance(x.reader, NpyReader):
        return 0
    return min(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def _read_ahead(groups: _Groups, depth: int = 2) -> Iterator[tuple[torch.Tensor, ...]]:
    """The groups in order, each read by a thread of this process while the ones before it are used."""
    with ThreadPoolExecutor(1, thread_name_prefix="vaekit-read") as pool:
        pending = deque(pool.submit(groups.__getitem__, g) for g in range(min(depth, len(groups))))
        try:
            for g in range(len(pending), len(groups) + len(pending)):
                group = pending.popleft().result()
                if g < len(groups):
                    pending.append(pool.submit(groups.__getitem__, g))
                yield group
        finally:
            for future in pending:
                future.cancel()


def batches(x: Any, order: torch.Tensor, size: int, *, workers: int | None = None) -> Iterator[torch.Tensor]:
    """The batches of one epoch, ``x[order[b * size : (b + 1) * size]]`` for b = 0, 1, ...: indexed directly for a
    tensor; for :class:`Rows`, read ahead ``GROUP_ROWS`` rows at a time (at most ``GROUP_BYTES``) by ``workers``
    DataLoader processes, or by a thread of this process when ``workers`` is 0 (default: :func:`default_workers`)."""
    n = math.ceil(len(order) / size)
    if not isinstance(x, Rows):
        for b in range(n):
            yield x[order[b * size : (b + 1) * size]]
        return
    sample_bytes = 4 * math.prod(x.sample_shape)
    groups = _Groups(x, order.cpu().numpy(), size, max(1, min(GROUP_ROWS, GROUP_BYTES // sample_bytes) // size))
    workers = default_workers(x) if workers is None else workers
    if workers == 0:
        feed: Any = _read_ahead(groups)
    else:
        feed = torch.utils.data.DataLoader(
            groups, batch_size=None, num_workers=workers, prefetch_factor=2, pin_memory=x.device.type == "cuda"
        )
    try:
        for group in feed:
            for batch in group:
                yield batch.to(x.device, non_blocking=True)
    finally:
        if workers == 0:
            feed.close()


def block_order(n: int, generator: torch.Generator, device: Any = "cpu") -> torch.Tensor:
    """An epoch's order of ``n`` rows for data read from disk: the runs of ``BLOCK`` consecutive rows in random order,
    then the rows of each ``WINDOW`` consecutive runs shuffled together. A batch of 128 thus draws from about 16 places
    of the file at random, and a disk reads 64 rows per request instead of one (as tf.data's and WebDataset's
    shuffle buffers trade a full permutation for sequential reads)."""
    blocks = torch.randperm(math.ceil(n / BLOCK), generator=generator, device=device)
    order, at, step = torch.empty(n, dtype=torch.int64, device=device), 0, torch.arange(BLOCK, device=device)
    for w in range(0, len(blocks), WINDOW):  # one window at a time: no temporary the size of the order
        rows = (blocks[w : w + WINDOW, None] * BLOCK + step).flatten()
        rows = rows[rows < n]
        order[at : at + len(rows)] = rows[torch.randperm(len(rows), generator=generator, device=device)]
        at += len(rows)
    return order


def available_memory() -> int | None:
    """Bytes of memory available to new allocations (Linux's MemAvailable), or None where it cannot be asked."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def npy_float32_bytes(spec: str) -> int | None:
    """The bytes an existing ``.npy`` file's array takes as float32 (from its header), else None."""
    path = Path(spec).expanduser()
    if path.suffix.lower() != ".npy" or not path.is_file():
        return None
    try:
        return NpyReader(path).shape_bytes(4)
    except DataError:
        return None  # the in-memory loader says what is wrong


def is_streamed(x: Any) -> bool:
    """True for rows read from disk on demand (:class:`Rows`) rather than a tensor in memory."""
    return isinstance(x, Rows)


def _npy_layout(shape: tuple[int, ...], path: Path, schema: Schema | None) -> tuple[str, str]:
    """(kind, layout) of an ``.npy``'s rows, as ``vaekit.data.arrays`` reads them."""
    if len(shape) == 2:
        return "vector", ""
    if len(shape) == 3:
        return "image", "nhw"
    if len(shape) == 4:
        nchw, nhwc = shape[1] in (1, 3), shape[3] in (1, 3)
        if nchw and nhwc and schema is not None:
            nchw = tuple(shape[1:]) == tuple(schema.shape)
        if nchw:
            return "image", ""
        if nhwc:
            return "image", "nhwc"
    raise DataError(
        f"{path} has shape {shape}: expected (N, D) features, (N, H, W) images, "
        "or (N, H, W, C) / (N, C, H, W) images with C = 1 or 3"
    )


def stream_array(path: Path, *, schema: Schema | None = None) -> Dataset:
    """An ``.npy`` file as split "all" of :class:`Rows` (read on demand), with the schema ``load_array`` gives."""
    reader = NpyReader(path)
    check_numeric(np.empty((1,), dtype=reader.dtype), path)
    kind, layout = _npy_layout(reader.shape, path, schema)
    rows = Rows(reader, kind, layout)
    if schema is not None and tuple(rows.sample_shape) != tuple(schema.shape):
        raise DataError(
            f"{path} has shape {reader.shape} (per sample {rows.sample_shape}) but the model was "
            f"trained on samples of shape {tuple(schema.shape)}"
        )
    out = Schema(kind, rows.sample_shape, source=str(path))  # type: ignore[arg-type]
    return Dataset(splits={"all": rows}, schema=out)  # type: ignore[dict-item]
