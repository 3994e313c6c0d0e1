"""Data loading: every source becomes a :class:`Dataset` of float32 tensors in data units.

``load_dataset(spec)`` accepts ``"mnist"``, IDX files or a folder of them, a folder of PNG/JPEG images, a
``.npy``/``.npz`` array or a ``.csv``/``.tsv``/``.parquet`` table. Every problem with the input raises
:class:`vaekit.errors.DataError` with a one-line message.
"""

from .arrays import load_array, read_npy_safely, read_npz_safely
from .idx import load_idx, read_idx
from .images import load_image_folder
from .mnist import load_mnist
from .registry import ReadOptions, canonical_spec, load_dataset, read_array_file
from .schema import Dataset, Schema
from .tables import load_table

__all__ = [
    "Dataset",
    "ReadOptions",
    "Schema",
    "canonical_spec",
    "load_array",
    "load_dataset",
    "load_idx",
    "load_image_folder",
    "load_mnist",
    "load_table",
    "read_array_file",
    "read_npy_safely",
    "read_npz_safely",
    "read_idx",
]
