"""Data a user holds in Python — numpy arrays, torch tensors, pandas DataFrames, nested lists of numbers — as a
:class:`Dataset`, read exactly as the file holding it would be: an array as an ``.npy`` (``(N, D)`` vectors;
``(N, H, W)``, ``(N, H, W, C)`` or ``(N, C, H, W)`` images), a DataFrame as a ``.csv`` (column types inferred,
missing cells allowed). Labels come by keyword (``labels=``: one per row, class indices or names) or, for a
DataFrame, as ``label_column``. Lists of SMILES strings are molecules: ``is_smiles`` tells them apart, and the
molecule loaders read them (``vaekit.molecules.data.load_smiles``).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

from ..errors import DataError
from .arrays import array_dataset, label_codes, label_tensor
from .schema import Dataset, Schema

WHERE = {"frame": "the DataFrame", "tensor": "the tensor", "array": "the array"}


def is_in_memory(data: Any) -> bool:
    """True for data passed as a Python object rather than a name or path (a Dataset is already loaded)."""
    return not isinstance(data, str | os.PathLike | Dataset)


def _is_frame(data: Any) -> bool:
    return hasattr(data, "columns") and hasattr(data, "iloc")


def is_smiles(data: Any) -> bool:
    """True for a non-empty list, tuple, pandas Series or numpy array of strings (SMILES)."""
    if isinstance(data, np.ndarray):
        return data.ndim == 1 and data.dtype.kind in "UO" and len(data) > 0 and isinstance(data[0], str)
    if hasattr(data, "iloc") and not _is_frame(data):  # a pandas Series: text lives in object columns
        return data.dtype.kind == "O" and len(data) > 0 and all(isinstance(v, str) for v in data)
    return isinstance(data, list | tuple) and len(data) > 0 and all(isinstance(v, str) for v in data)


def _as_array(data: Any, what: str) -> np.ndarray:
    if hasattr(data, "detach") and hasattr(data, "cpu"):  # a torch tensor, on any device
        t = data.detach().cpu()
        return (t.float() if t.is_floating_point() and t.element_size() < 4 else t).numpy()
    try:
        return np.asarray(data)
    except (TypeError, ValueError):
        raise DataError(f"{what} has rows of different lengths: expected equal-length rows of numbers") from None


def dataset_from_memory(
    data: Any,
    *,
    labels: Any = None,
    label_column: str | None = None,
    image_size: int | None = None,
    schema: Schema | None = None,
    categorical: list[str] | None = None,
    numeric: list[str] | None = None,
) -> Dataset:
    """``data`` (see the module docstring) as split "all", with ``labels`` (N,) when given. ``schema`` (a trained
    model's) makes it conform as for files; ``image_size``, ``label_column``, ``categorical`` and ``numeric`` mean
    what they mean for files. One clear line (DataError) for anything else."""
    if is_smiles(data):
        raise DataError("a list of SMILES strings is read by a molecule model: train it with preset='sequence'")
    if _is_frame(data):
        from .tables import frame_dataset, named_frame

        where = WHERE["frame"]
        dataset = frame_dataset(named_frame(data, where), where, label_column=label_column, schema=schema,
                                categorical=categorical, numeric=numeric)  # fmt: skip
    else:
        if label_column is not None or categorical or numeric:
            raise DataError("label_column, categorical and numeric apply to a DataFrame; for an array pass labels=")
        where = WHERE["tensor" if hasattr(data, "detach") else "array"]
        dataset = array_dataset(_as_array(data, where), None, where, image_size=image_size, schema=schema)
    if labels is None:
        return dataset
    if dataset.labels:
        raise DataError("labels are given twice: pass labels= or label_column, not both")
    known = schema.label_names if schema is not None else None
    codes, names = label_codes(_as_array(labels, "labels"), len(dataset.splits["all"]), "the data", known)
    return dataclasses.replace(
        dataset, schema=dataclasses.replace(dataset.schema, label_names=names), labels={"all": label_tensor(codes)}
    )
