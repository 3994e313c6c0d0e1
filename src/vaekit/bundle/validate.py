"""Reading a bundle's JSON within limits (size, nesting depth) and checking config.json field by field."""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import BundleError
from ..nn.mlp import ACTIVATIONS
from .format import CONFIG, FORMAT_VERSION, MAX_COUNT, MAX_DEPTH, MAX_FEATURES, MAX_LAYERS, MAX_SIZE

# -- JSON --------------------------------------------------------------------------------------------------------
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"')  # a JSON string (possessive: no backtracking on hostile input)
_NOT_BRACKET = re.compile(r"[^\[\]{}]++")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def read_json(file: Path, max_bytes: int, hint: str = "") -> Any:
    """Parse a bundle's JSON file, refusing one larger than ``max_bytes`` or nested deeper than MAX_DEPTH."""
    try:
        size = file.stat().st_size
        if size > max_bytes:
            raise BundleError(
                f"{file} is {size / 2**20:,.1f} MB, larger than a vaekit {file.name} can be "
                f"({max_bytes / 2**20:g} MB): it is damaged or not vaekit's{hint}"
            )
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise BundleError(f"{file} is not valid JSON ({e}){hint}") from None
    return parse_json(text, str(file), hint)


def parse_json(text: str, where: str, hint: str = "") -> Any:
    """``json.loads`` that refuses nesting deeper than MAX_DEPTH before parsing (no RecursionError, no deep
    structures for later code to recurse into)."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    depth = max(itertools.accumulate(map(_STEP.__getitem__, brackets)), default=0)
    if depth > MAX_DEPTH:
        raise BundleError(f"{where} is nested {depth} levels deep (vaekit writes at most {MAX_DEPTH}): it is damaged")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as e:
        raise BundleError(f"{where} is not valid JSON ({e}){hint}") from None


# -- config validation -----------------------------------------------------------------------------------------
class _Invalid(Exception):
    """One problem in a config, as 'where: what is wrong, what was expected' (without the file name)."""


Check = Callable[[Any, str], None]


def _show(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _at(name: str, key: str) -> str:
    return f"{name}.{key}" if name else key


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _integer(lo: int, hi: int) -> Check:
    span = f"the integer {lo}" if lo == hi else f"an integer from {lo:,} to {hi:,}"

    def check(v: Any, name: str) -> None:
        if not _is_int(v) or not lo <= v <= hi:
            raise _Invalid(f"{name} is {_show(v)}, expected {span}")

    return check


def _number(lo: float = -math.inf, hi: float = math.inf) -> Check:
    def check(v: Any, name: str) -> None:
        if not isinstance(v, int | float) or isinstance(v, bool) or not lo <= v <= hi:
            raise _Invalid(f"{name} is {_show(v)}, expected a number from {lo:g} to {hi:g}")

    return check


def _of_type(kind: type, what: str) -> Check:
    def check(v: Any, name: str) -> None:
        if not isinstance(v, kind):
            raise _Invalid(f"{name} is {_show(v)}, expected {what}")

    return check


def _choice(*options: str) -> Check:
    def check(v: Any, name: str) -> None:
        if v not in options or not isinstance(v, str):
            raise _Invalid(f"{name} is {_show(v)}, expected one of {', '.join(options)}")

    return check


def _optional(inner: Check) -> Check:
    def check(v: Any, name: str) -> None:
        if v is not None:
            inner(v, name)

    return check


def _list_of(item: Check, lo: int = 0, hi: int = MAX_SIZE) -> Check:
    def check(v: Any, name: str) -> None:
        if not isinstance(v, list) or not lo <= len(v) <= hi:
            raise _Invalid(f"{name} is {_show(v)}, expected a list of {lo} to {hi:,} entries")
        for i, x in enumerate(v):
            item(x, f"{name}[{i}]")

    return check


def _dict_of(value: Check) -> Check:
    def check(v: Any, name: str) -> None:
        _of_type(dict, "an object")(v, name)
        for k, x in v.items():
            value(x, _at(name, k))

    return check


def _fields(spec: dict[str, Check], required: tuple[str, ...] = (), closed: bool = False) -> Check:
    """An object whose listed keys pass their checks; ``closed``: other keys are refused."""

    def check(v: Any, name: str) -> None:
        _of_type(dict, "an object")(v, name)
        for key in required:
            if key not in v:
                raise _Invalid(f"{name or 'the config'} has no {key}")
        unknown = sorted(set(v) - set(spec))
        if closed and unknown:
            raise _Invalid(f"{name or 'the config'} has an unknown field {unknown[0]!r} (expected {', '.join(spec)})")
        for key, item in spec.items():
            if key in v:
                item(v[key], _at(name, key))

    return check


def _kinds(options: dict[str, dict[str, Check]]) -> Check:
    """An object whose "kind" names one of ``options``, with that kind's fields."""

    def check(v: Any, name: str) -> None:
        _fields({"kind": _choice(*options)}, required=("kind",))(v, name)
        _fields({"kind": _choice(*options), **options[v["kind"]]}, closed=True)(v, name)

    return check


SIZE, TEXT, FLAG = _integer(1, MAX_SIZE), _of_type(str, "a string"), _of_type(bool, "true or false")
ACTIVATION = _choice(*ACTIVATIONS)
LOGVAR = _number(-100.0, 100.0)
ARCHITECTURES: dict[str, dict[str, Check]] = {  # the fields of vaekit.nn's configs, by kind
    "mlp": {"hidden": _list_of(SIZE, 0, MAX_LAYERS), "activation": ACTIVATION},
    "conv": {"channels": SIZE, "hidden": SIZE, "activation": ACTIVATION},
    "resconv": {"channels": SIZE, "blocks": _integer(0, MAX_LAYERS), "hidden": SIZE, "activation": ACTIVATION},
    "sequence": {"embedding": SIZE, "encoder_hidden": SIZE, "decoder_hidden": SIZE},
}
LIKELIHOODS: dict[str, dict[str, Check]] = {  # the fields of vaekit.core.likelihoods' configs, by kind
    "bernoulli": {},
    "gaussian": {"min_logvar": LOGVAR, "max_logvar": LOGVAR},
    "studentt": {"min_logvar": LOGVAR, "max_logvar": LOGVAR, "min_df": _number(0.0, 1000.0)},
    "mixed": {"cardinalities": _list_of(_integer(0, MAX_SIZE), 1), "min_logvar": LOGVAR, "max_logvar": LOGVAR},
    "categorical_sequence": {},
}
MODEL_FIELDS: dict[str, Check] = {  # ModelConfig without its likelihood (a section of its own)
    "latent_dim": SIZE,
    "architecture": _kinds(ARCHITECTURES),
    "autoencoder": FLAG,
    "top_latent_dim": _optional(SIZE),
    "mask_input": FLAG,
    "properties": _list_of(TEXT, 0, 64),
}
VOCABULARY = _fields({"tokens": _list_of(TEXT, 5), "max_length": _optional(SIZE)}, required=("tokens",))
SCHEMA = _fields(
    {
        "kind": _choice("image", "table", "vector", "sequence"),
        "shape": _list_of(SIZE, 1, 3),
        "columns": _optional(_list_of(TEXT, 1)),
        "label_names": _optional(_list_of(TEXT)),
        "source": TEXT,
        "column_types": _optional(_list_of(_choice("numeric", "categorical"), 1)),
        "categories": _optional(_dict_of(_list_of(TEXT, 1))),
        "vocabulary": _optional(VOCABULARY),
    },
    required=("kind", "shape"),
)
OPTIONS = _fields(  # the training options other commands read (the training code checks all of them on resume)
    {
        "epochs": _integer(1, MAX_COUNT),
        "val_fraction": _number(0.0, 1.0),
        "seed": _integer(-(2**63), 2**64 - 1),
        "subset": _optional(_integer(1, MAX_COUNT)),
        "corrupt": _optional(TEXT),
        "time_limit": _optional(_number(0.0)),
        "early_stopping": _optional(_integer(1, MAX_COUNT)),
        "iw_samples": _integer(1, MAX_COUNT),
        "objective": _optional(TEXT),
    }
)
RESULT = _fields(
    {
        "epochs_completed": _integer(0, MAX_COUNT),
        "best_epoch": _integer(0, MAX_COUNT),
        "best_val": _optional(_number()),
        "selected_by": TEXT,
        "stopped_early": FLAG,
        "stopped_by": _optional(TEXT),
    }
)
TRAINING = _fields(
    {
        "data": _optional(TEXT),
        "image_size": _optional(SIZE),
        "label_column": _optional(TEXT),
        "categorical": _optional(_list_of(TEXT)),
        "numeric": _optional(_list_of(TEXT)),
        "representation": _optional(TEXT),
        "properties": _optional(_list_of(TEXT)),
        "smiles_column": _optional(TEXT),
        "preset": _optional(TEXT),
        "latent_dim": _optional(SIZE),
        "hidden": _optional(_list_of(SIZE, 0, MAX_LAYERS)),
        "autoencoder": _optional(FLAG),
        "likelihood": _optional(TEXT),
        "binarize_resolved": _optional(TEXT),
        "status": _optional(TEXT),  # untrained, in_progress, finished (checked by the training code on resume)
        "options": OPTIONS,
        "result": RESULT,
    }
)
CONFIG_SECTIONS = _fields(
    {
        "vaekit_version": TEXT,
        "model": _fields(MODEL_FIELDS, closed=True),
        "likelihood": _kinds(LIKELIHOODS),
        "schema": SCHEMA,
        "preprocessing": _of_type(dict, "an object"),
        "training": TRAINING,
    },
    required=("model", "likelihood", "schema"),
)


def validate_config(cfg: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """``cfg`` (a bundle's config.json) when every field the toolkit reads has the type and range it needs,
    else one BundleError naming the field, its value and what was expected. Nothing is built or allocated."""
    version = cfg.get("format_version")
    if _is_int(version) and version > FORMAT_VERSION:
        raise BundleError(
            f"{path} was written by a newer vaekit (bundle format {version}, this one reads "
            f"up to {FORMAT_VERSION}): upgrade vaekit"
        )
    try:
        _integer(1, FORMAT_VERSION)(version, "format_version")
        CONFIG_SECTIONS(cfg, "")
        _check_schema(cfg["schema"])
    except _Invalid as e:
        raise BundleError(f"{Path(path) / CONFIG} is damaged: {e}") from None
    return cfg


def _check_schema(schema: dict[str, Any]) -> None:
    """What the field checks cannot see: the shape fits the kind, and the column descriptions agree."""
    kind, shape = schema["kind"], schema["shape"]
    if len(shape) != (3 if kind == "image" else 1):
        raise _Invalid(f"schema.shape is {_show(shape)}, expected {'(C, H, W)' if kind == 'image' else '(D,)'}")
    if math.prod(shape) > MAX_FEATURES:
        raise _Invalid(f"schema.shape is {_show(shape)}, expected at most {MAX_FEATURES:,} values per sample")
    columns, types = schema.get("columns"), schema.get("column_types")
    if columns is not None and len(columns) != shape[0]:
        raise _Invalid(f"schema.columns names {len(columns)} columns, expected {shape[0]} (schema.shape)")
    if types is not None and (columns is None or len(types) != len(columns)):
        raise _Invalid(f"schema.column_types has {len(types)} entries, expected one per column")
    categories = schema.get("categories") or {}
    for c, t in zip(columns or (), types or (), strict=False):
        if t == "categorical" and c not in categories:
            raise _Invalid(f"schema.categories has no entry for the categorical column {c!r}")
    if kind == "sequence" and schema.get("vocabulary") is None:
        raise _Invalid("schema.vocabulary is missing, expected the token vocabulary of a sequence model")
