"""RUN/attributes.json: a run's attribute vectors (``vaekit attributes``; see ``vaekit.inference.attributes``).

    {"format_version": 1, "latent_dim": D,
     "vectors": {"smiling": {"vector": [D numbers], "positive": 812, "negative": 1188, "norm": 1.7,
                             "description": "...", "attribute": "smiling", "split": "binary"}, ...}}

Written atomically; read within limits: a file larger than MAX_ATTRIBUTES_BYTES is refused before it is parsed,
and every vector must be D finite numbers, every name a non-empty string, at most MAX_ATTRIBUTE_VECTORS of them.
Each refusal is one BundleError line naming what is wrong.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from .._io import write_text
from ..errors import BundleError
from .format import ATTRIBUTES, MAX_ATTRIBUTE_VECTORS, MAX_ATTRIBUTES_BYTES
from .validate import read_json

FORMAT = 1
MAX_NAME = 1000  # characters of a vector's name
_TEXT_FIELDS = ("description", "attribute", "split", "category", "source")
_COUNT_FIELDS = ("positive", "negative")
_NUMBER_FIELDS = ("norm", "threshold", "mean", "sd")


def attributes_file(run: str | Path) -> Path:
    return Path(run) / ATTRIBUTES


def read_attributes(run: str | Path, latent_dim: int | None = None) -> dict[str, dict[str, Any]]:
    """Name -> entry of RUN/attributes.json, each ``vector`` a float32 tensor (D,); {} when the run has none.
    ``latent_dim`` (the model's): vectors of another size are refused. BundleError when the file is damaged."""
    file = attributes_file(run)
    if not file.is_file():
        return {}
    hint = f": compute them again (delete {file}, then run `vaekit attributes {Path(run)}`)"
    d = read_json(file, MAX_ATTRIBUTES_BYTES, hint=hint)
    version = d.get("format_version") if isinstance(d, dict) else None
    if _is_int(version) and version > FORMAT:
        raise BundleError(f"{file} was written by a newer vaekit (format {version}): upgrade vaekit")
    problem = "a JSON object was expected" if not isinstance(d, dict) else _problem(d, latent_dim)
    if problem:
        raise BundleError(f"{file} is damaged: {problem}{hint}")
    return {
        name: {**entry, "vector": torch.tensor(entry["vector"], dtype=torch.float32)}
        for name, entry in d["vectors"].items()
    }


def write_attributes(run: str | Path, vectors: Mapping[str, Mapping[str, Any]], latent_dim: int) -> Path:
    """Write ``vectors`` (name -> entry with a ``vector`` of ``latent_dim`` numbers, a tensor or a list, and plain
    fields) to RUN/attributes.json atomically, replacing what was there; the path. BundleError for entries that
    could not be read back (NaN in a vector, a wrong size)."""
    file = attributes_file(run)
    doc = {
        "format_version": FORMAT,
        "latent_dim": latent_dim,
        "vectors": {str(name): _plain(entry) for name, entry in vectors.items()},
    }
    problem = _problem(doc, latent_dim)
    if problem:
        raise BundleError(f"cannot write {file}: {problem}")
    write_text(file, _text(doc))
    return file


def _plain(entry: Mapping[str, Any]) -> dict[str, Any]:
    """An entry with tensors turned into numbers and lists (what JSON holds)."""
    out = {}
    for key, value in entry.items():
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().double().tolist()
        out[str(key)] = [float(v) for v in value] if key == "vector" and isinstance(value, list | tuple) else value
    return out


def _text(doc: dict[str, Any]) -> str:
    """The document as JSON with one line per vector (readable, and a diff shows which vectors changed)."""
    lines = [f"    {json.dumps(name)}: {json.dumps(entry, allow_nan=False)}" for name, entry in doc["vectors"].items()]
    body = ",\n".join(lines)
    head = f'{{\n  "format_version": {doc["format_version"]},\n  "latent_dim": {doc["latent_dim"]},\n'
    return head + (f'  "vectors": {{\n{body}\n  }}\n}}\n' if lines else '  "vectors": {}\n}\n')


# -- checks ------------------------------------------------------------------------------------------------------
def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_real(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _problem(d: dict[str, Any], latent_dim: int | None) -> str | None:
    """The first thing wrong with a document, or None. Each check relies on the ones before it."""
    dim, vectors = d.get("latent_dim"), d.get("vectors")
    checks: list[tuple[Callable[[], bool], str]] = [
        (lambda: d.get("format_version") == FORMAT and _is_int(d.get("format_version")), "format_version must be 1"),
        (lambda: _is_int(dim) and dim >= 1, "latent_dim must be a positive integer"),
        (
            lambda: latent_dim is None or dim == latent_dim,
            f"latent_dim is {dim}, the model has {latent_dim}: the vectors belong to another model",
        ),
        (lambda: isinstance(vectors, dict), "vectors must be an object mapping names to vectors"),
        (
            lambda: len(vectors) <= MAX_ATTRIBUTE_VECTORS,
            f"it holds {len(vectors) if isinstance(vectors, dict) else 0:,} vectors, at most "
            f"{MAX_ATTRIBUTE_VECTORS:,} are allowed",
        ),
    ]
    for ok, why in checks:
        if not ok():
            return why
    return next((p for name, entry in vectors.items() if (p := _entry_problem(name, entry, dim))), None)


def _entry_problem(name: Any, entry: Any, dim: int) -> str | None:
    """What is wrong with one named entry, or None."""
    shown = json.dumps(name)[:60] if isinstance(name, str) else repr(name)
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        return f"vector name {shown} must be a non-empty string of at most {MAX_NAME} characters"
    if not isinstance(entry, dict):
        return f"vectors[{shown}] must be an object"
    v = entry.get("vector")
    if not isinstance(v, list) or len(v) != dim or not all(map(_is_real, v)):
        return f"vectors[{shown}].vector must be a list of {dim} finite numbers"
    for key in _COUNT_FIELDS:
        if key in entry and not (_is_int(entry[key]) and entry[key] >= 0):
            return f"vectors[{shown}].{key} must be a non-negative integer"
    for key in _NUMBER_FIELDS:
        if key in entry and not _is_real(entry[key]):
            return f"vectors[{shown}].{key} must be a finite number"
    for key in _TEXT_FIELDS:
        if key in entry and not isinstance(entry[key], str):
            return f"vectors[{shown}].{key} must be a string"
    return None
