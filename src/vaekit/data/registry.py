"""Pick the loader for a dataset spec: a known name ("mnist") or a path to a file or folder.

Dispatch, in order: the name ``mnist`` (any case; write ``./mnist`` for a folder of that name); WebDataset tar
shards (a ``.tar`` file, a folder of them without images, a brace pattern ``shards-{000..009}.tar``:
``vaekit.data.shards``); a folder holding IDX image files (names containing ``idx3``); any other folder (PNG/JPEG
images); ``.npy``/``.npz``; ``.csv``/``.tsv``/``.parquet``; a file that looks like IDX by name or by its first bytes.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from .arrays import load_array, read_matrix
from .idx import find_idx_images, load_idx, looks_like_idx
from .images import IMAGE_SUFFIXES, load_image_folder, stream_image_folder
from .mnist import load_mnist
from .moving_mnist import canonical_moving_mnist_spec, is_moving_mnist_spec, load_moving_mnist
from .schema import Dataset, Schema
from .series import is_series_spec, load_series
from .shapes import canonical_shapes_spec, is_shapes_spec, load_shapes
from .shards import is_brace_pattern, is_shard_spec, load_shards, stream_shards
from .stream_tables import stream_table
from .streaming import stream_array
from .tables import TABLE_SUFFIXES, TEXT_SUFFIXES, load_table, read_text_matrix
from .video import is_video_path, load_video

KNOWN_DATASETS = ("mnist",)  # and the generated shapes, shapes-colour, shapes:N (vaekit.data.shapes)
FORMATS = (
    "IDX files (optionally .gz), a folder of PNG/JPEG images, .tar shards of images, a .npy/.npz array or a "
    ".csv/.tsv/.parquet table"
)
ARRAY_SUFFIXES = (".npy", ".npz")


SEQUENCE_KINDS = ("video", "series")


@dataclass(frozen=True)
class ReadOptions:
    """How to read data that can be read more than one way (``load_dataset``'s ``read``)."""

    # a .npy array or a folder of images read when a batch needs it (vaekit.data.streaming), a table encoded in chunks
    # into a cached .npy and read so (vaekit.data.stream_tables): data larger than memory
    stream: bool = False
    # "video" or "series" (a video or series model's; its schema says so too): read a path that could be something
    # else as such — an .npy of clips (N, T, H, W[, C]), a folder of frame folders, a CSV/Parquet of series (one row
    # per series, or long format with ``id_column`` and an optional ``time_column``)
    kind: str | None = None
    id_column: str | None = None
    time_column: str | None = None


def _missing(spec: str) -> DataError:
    """Error for a spec that names no existing path: an unknown bare name, or a missing path."""
    bare = not any(sep in spec for sep in (os.sep, "/")) and not Path(spec).suffix
    if bare and not spec.startswith((".", "~")):
        return DataError(
            f"unknown dataset {spec!r}: expected 'mnist', 'shapes' or a path to IDX files, an image "
            "folder, a .npy/.npz array or a .csv/.parquet table"
        )
    return DataError(f"no such file or directory: {spec}")


def _check_options(image_size: int | None, schema: Schema | None) -> None:
    if image_size is not None and (isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1):
        raise DataError(f"image size must be a positive integer, got {image_size!r}")
    if (
        image_size is not None
        and schema is not None
        and schema.kind == "image"
        and tuple(schema.shape[1:]) != (image_size, image_size)
    ):
        raise DataError(
            f"--image-size {image_size} conflicts with the model, which was trained on "
            f"{schema.shape[1]}×{schema.shape[2]} images"
        )


def _require_image_schema(spec: str, schema: Schema | None) -> None:
    if schema is not None and schema.kind != "image":
        raise DataError(
            f"{spec} holds images but the model was trained on {schema.kind} data of shape {tuple(schema.shape)}"
        )


def _only_images(spec: str, label_column: str | None, schema: Schema | None, *, types, attributes) -> None:
    """Options that do not apply to tar shards of images: one line each."""
    _only_for_tables(spec, label_column)
    if types:
        raise DataError(f"--categorical / --numeric apply to .csv/.tsv/.parquet tables, not to {spec}")
    if attributes is not None:
        raise DataError(f"--attributes applies to a folder of images, not to the tar shards {spec}")
    _require_image_schema(spec, schema)


def _only_for_tables(spec: str, label_column: str | None) -> None:
    if label_column is not None:
        raise DataError(f"--label-column applies to .csv/.tsv/.parquet tables, not to {spec}")


def _stream_path(path: Path, image_size: int | None, label_column: str | None, schema: Schema | None, types) -> Dataset:
    """``path`` read on demand (``vaekit.data.streaming``): a .npy array, a folder of images or a table (encoded in
    chunks into a cached .npy: ``vaekit.data.stream_tables``)."""
    if path.is_file() and path.suffix.lower() in TABLE_SUFFIXES:
        if image_size is not None:
            raise DataError(f"--image-size applies to images, not to the table {path}")
        if schema is not None:
            raise DataError(f"--stream reads a table to train on; a trained model reads {path} in memory")
        return stream_table(path, label_column=label_column, **types)
    _only_for_tables(str(path), label_column)
    if any(types.values()):
        raise DataError(f"--categorical / --numeric apply to .csv/.tsv/.parquet tables, not to {path}")
    if path.is_dir() and not find_idx_images(path):
        _require_image_schema(str(path), schema)
        return stream_image_folder(path, image_size=image_size, schema=schema)
    if path.suffix.lower() == ".npy":
        if image_size is not None:
            raise DataError("--image-size does not apply to a streamed .npy array: save it at the size to train on")
        return stream_array(path, schema=schema)
    raise DataError(
        f"--stream reads a .npy array, a folder of PNG/JPEG images, .tar shards or a .csv/.tsv/.parquet table, "
        f"not {path}"
    )


def _load_path(
    path: Path, image_size: int | None, label_column: str | None, schema: Schema | None, types: dict[str, list[str]]
) -> Dataset:
    if path.suffix.lower() not in TABLE_SUFFIXES and any(types.values()):
        raise DataError(f"--categorical / --numeric apply to .csv/.tsv/.parquet tables, not to {path}")
    if path.is_dir():
        _only_for_tables(str(path), label_column)
        _require_image_schema(str(path), schema)
        if find_idx_images(path):
            return load_idx(path, image_size=image_size, schema=schema)
        return load_image_folder(path, image_size=image_size, schema=schema)
    suffix = path.suffix.lower()
    if suffix in ARRAY_SUFFIXES:
        _only_for_tables(str(path), label_column)
        return load_array(path, image_size=image_size, schema=schema)
    if suffix in TABLE_SUFFIXES:
        if image_size is not None:
            raise DataError(f"--image-size applies to images, not to the table {path}")
        if schema is not None and schema.kind == "image":
            raise DataError(f"{path} is a table but the model was trained on images of shape {tuple(schema.shape)}")
        return load_table(path, label_column=label_column, schema=schema, **types)
    if suffix in IMAGE_SUFFIXES:
        raise DataError(f"{path} is a single image: pass the folder that holds the images")
    if looks_like_idx(path):
        _only_for_tables(str(path), label_column)
        _require_image_schema(str(path), schema)
        return load_idx(path, image_size=image_size, schema=schema)
    raise DataError(f"unsupported file {path} ({suffix or 'no extension'}): expected {FORMATS}")


def canonical_spec(spec: str | os.PathLike[str]) -> str:
    """How a run records its data: a known name in lower case, an existing path (or a brace pattern of tar
    shards) made absolute."""
    spec = os.fspath(spec)
    if is_brace_pattern(spec):
        return str(Path(spec).expanduser().resolve())
    if is_shapes_spec(spec):
        return canonical_shapes_spec(spec)
    if is_moving_mnist_spec(spec):
        return canonical_moving_mnist_spec(spec)
    if spec.strip().lower() in KNOWN_DATASETS:
        return spec.strip().lower()
    path = Path(spec).expanduser()
    return str(path.resolve()) if path.exists() else spec


def _conditional(spec: str, schema: Schema, image_size, label_column, attributes, read: ReadOptions) -> Dataset:
    """Data for a conditional model: everything its schema reads (a table with its condition columns), then its
    condition values picked out (``Dataset.attributes``) in the model's categories."""
    from .condition import full_table_schema, with_condition

    base = dataclasses.replace(full_table_schema(schema), condition=None)
    data = load_dataset(
        spec, image_size=image_size, label_column=label_column, schema=base, attributes=attributes, read=read
    )
    return with_condition(data, schema.condition.names, known=schema.condition)


def _generated(spec: str, label_column: str | None, schema: Schema | None, image_size: int | None, types) -> Dataset:
    if label_column is not None or any(types.values()):
        raise DataError(f"--label-column, --categorical and --numeric apply to tables, not to {spec}")
    _require_image_schema(spec, schema)
    return load_shapes(spec, image_size=image_size, schema=schema)


def load_dataset(
    spec: str | os.PathLike[str],
    *,
    image_size: int | None = None,
    label_column: str | None = None,
    schema: Schema | None = None,
    categorical: list[str] | None = None,
    numeric: list[str] | None = None,
    attributes: str | os.PathLike[str] | None = None,
    read: ReadOptions | None = None,
) -> Dataset:
    """Load the dataset ``spec`` names as float32 tensors in data units (see :class:`Dataset`).

    Images come as ``(N, C, H, W)`` in [0, 1], tables as raw ``(N, D)`` values. ``image_size`` resizes images
    to N×N; ``label_column`` names a table's class column; ``schema`` (a trained model's) makes the data
    conform to it (resized/converted images, reordered columns) or raises DataError; a conditional model's
    schema also picks its condition values (``Dataset.attributes``). ``categorical`` / ``numeric`` override the
    inferred type of the named table columns (see ``vaekit.data.tables``). ``attributes``: a file of per-image
    attributes for a folder of images (CSV, or CelebA's list_attr_celeba.txt; found beside the images when left
    out). ``shapes`` (``shapes-colour``, ``shapes:N``) generates the dSprites-like shapes of ``vaekit.data.shapes``.
    """
    spec, read = os.fspath(spec), read or ReadOptions()
    if schema is not None and schema.condition is not None:
        return _conditional(spec, schema, image_size, label_column, attributes, read)
    if (sequences := _sequence_read(spec, read, schema)) is not None:
        if read.stream or attributes is not None or image_size is not None or categorical or numeric:
            raise DataError(f"--stream, --attributes, --image-size, --categorical and --numeric do not apply to {spec}")
        return _sequences(spec, sequences, schema, label_column)
    _check_options(image_size, schema)
    if attributes is not None and not Path(spec).expanduser().is_dir():
        raise DataError(f"--attributes applies to a folder of images, not to {spec}")
    types = {"categorical": list(categorical or []), "numeric": list(numeric or [])}
    if is_shapes_spec(spec) or spec.strip().lower() in KNOWN_DATASETS:
        if read.stream:
            raise DataError(f"--stream reads a .npy array or a folder of images from disk; {spec} is held in memory")
        return _named(spec, label_column, schema, image_size, types)
    return _files(spec, image_size, label_column, schema, types, attributes, read)


def _files(spec: str, image_size, label_column, schema: Schema | None, types, attributes, read: ReadOptions) -> Dataset:
    """Data from files (``load_dataset``): tar shards, a folder, or a file by its suffix."""
    if is_shard_spec(spec):
        _only_images(spec, label_column, schema, types=any(types.values()), attributes=attributes)
        return (stream_shards if read.stream else load_shards)(spec, image_size=image_size, schema=schema)
    path = Path(spec).expanduser()
    if not path.exists():
        raise _missing(spec)
    try:
        if attributes is not None:
            _require_image_schema(str(path), schema)
            load = stream_image_folder if read.stream else load_image_folder
            return load(path, image_size=image_size, schema=schema, attributes=attributes)
        return (_stream_path if read.stream else _load_path)(path, image_size, label_column, schema, types)
    except PermissionError as e:  # folders that cannot be listed; files are handled by the loaders
        raise DataError(f"cannot read {path}: permission denied ({e.filename})") from None


def _named(spec: str, label_column: str | None, schema: Schema | None, image_size: int | None, types) -> Dataset:
    """The built-in data sets: MNIST and the generated shapes."""
    if is_shapes_spec(spec):
        return _generated(spec, label_column, schema, image_size, types)
    if any(types.values()):
        raise DataError(f"--categorical / --numeric apply to .csv/.tsv/.parquet tables, not to {spec}")
    _only_for_tables(spec, label_column)
    _require_image_schema(spec, schema)
    return load_mnist(image_size=image_size, schema=schema)


def sequence_kind(spec: str) -> str | None:
    """ "video" or "series" for a source that can only be that (generated clips, ``ucr:Name``, ``.ts``, GIF/MP4
    files or folders of them), else None."""
    if is_moving_mnist_spec(spec) or is_video_path(spec):
        return "video"
    return "series" if is_series_spec(spec) else None


def _sequence_read(spec: str, read: ReadOptions, schema: Schema | None) -> ReadOptions | None:
    """``read`` with its kind when ``spec`` is to be read as video or time series (asked for, a video or series
    model's, or a source that is nothing else), else None."""
    if schema is not None and schema.kind in SEQUENCE_KINDS:
        return dataclasses.replace(read, kind=schema.kind)
    if read.kind is not None or is_moving_mnist_spec(spec) or is_series_spec(spec) or is_video_path(spec):
        return read
    if read.id_column is not None or read.time_column is not None:
        raise DataError("--id-column and --time-column apply to time series (--preset series)")
    return None


def _sequences(spec: str, read: ReadOptions, schema: Schema | None, label_column: str | None) -> Dataset:
    """Video clips or time series (see ``load_dataset``)."""
    kind, columns = read.kind, (read.id_column, read.time_column)
    if is_moving_mnist_spec(spec):
        if kind == "series" or label_column is not None or any(columns):
            raise DataError(f"{spec} is video: --label-column, --id-column and --time-column do not apply")
        return load_moving_mnist(spec, schema=schema)
    if kind == "series" or (kind is None and is_series_spec(spec)):
        return load_series(spec, id_column=columns[0], time_column=columns[1], label_column=label_column, schema=schema)
    if kind not in (None, "video"):
        raise DataError(f"unknown kind of data {kind!r}: expected video or series")
    if label_column is not None or any(columns):
        raise DataError(f"--label-column, --id-column and --time-column apply to time series tables, not to {spec}")
    path = Path(spec).expanduser()
    if not path.exists():
        raise _missing(spec)
    return load_video(path, schema=schema)


def read_array_file(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a 2-D float32 matrix ``(N, D)``, e.g. latent codes for ``vaekit decode RUN LATENTS.npy``.

    Accepts ``.npy``, ``.npz`` (the array ``z``, else ``x``/``data``, else the first) and numeric
    ``.csv``/``.tsv``/``.txt`` with or without a header row.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"no such file or directory: {os.fspath(path)}")
    if p.is_dir():
        raise DataError(f"{p} is a folder: expected a .npy, .npz or .csv file of shape (N, D)")
    suffix = p.suffix.lower()
    if suffix in ARRAY_SUFFIXES:
        return read_matrix(p)
    if suffix in TEXT_SUFFIXES:
        return read_text_matrix(p)
    raise DataError(
        f"unsupported array file {p} ({suffix or 'no extension'}): expected .npy, .npz, .csv, "
        ".tsv or .txt of shape (N, D)"
    )
