"""Reading a bundle's JSON within limits (size, nesting depth) and checking config.json with pydantic models."""

import itertools
import json
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import ConfigDict, Field, GetPydanticSchema, ValidationError, create_model
from pydantic_core import ErrorDetails, core_schema

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


# -- the fields of config.json -----------------------------------------------------------------------------------
class _Invalid(Exception):
    """One problem in a config, as 'where: what is wrong, what was expected' (without the file name)."""


def _show(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _expect(what: str) -> GetPydanticSchema:
    """pydantic metadata: any error of this (scalar) value is reported as 'expected <what>'."""
    return GetPydanticSchema(
        lambda t, get: core_schema.custom_error_schema(get(t), "expected", custom_error_message=what)
    )


def _int(lo: int, hi: int) -> Any:
    span = f"the integer {lo}" if lo == hi else f"an integer from {lo:,} to {hi:,}"
    return Annotated[int, Field(ge=lo, le=hi), _expect(span)]


def _number(lo: float = -math.inf, hi: float = math.inf) -> Any:  # NaN is refused: it fails both bounds
    return Annotated[float, Field(ge=lo, le=hi), _expect(f"a number from {lo:g} to {hi:g}")]


def _choice(*options: str) -> Any:
    return Annotated[Literal[options], _expect(f"one of {', '.join(options)}")]


def _list(item: Any, lo: int = 0, hi: int = MAX_SIZE) -> Any:  # fail_fast: one error, however long the list
    return Annotated[list[item], Field(min_length=lo, max_length=hi, fail_fast=True)]


def _section(name: str, closed: bool = False, **fields: Any) -> Any:
    """A pydantic model of a config section, strict (no bool for an int, no "1" for 1) and ``closed`` (refusing
    keys it does not know) or open (ignoring them). ``fields``: name -> type; a field may be left out unless given
    as (type, ...): its default is never read (validate_config returns the dict it checked), so it may be null
    only if typed ``| None``."""
    config = ConfigDict(strict=True, extra="forbid" if closed else "ignore")
    fields = {k: v if isinstance(v, tuple) else (v, None) for k, v in fields.items()}
    return create_model(name, __config__=config, **fields)


def _kinds(options: dict[str, dict[str, Any]]) -> Any:
    """An object whose "kind" names one of ``options``, with that kind's fields (a discriminated union)."""
    models = tuple(_section(kind, closed=True, kind=(Literal[kind], ...), **fields) for kind, fields in options.items())
    return Annotated[Union[models], Field(discriminator="kind")]  # noqa: UP007 - a union built at run time


SIZE, COUNT, LOGVAR = _int(1, MAX_SIZE), _int(1, MAX_COUNT), _number(-100.0, 100.0)
ACTIVATION, TEXTS, HIDDEN = _choice(*ACTIVATIONS), _list(str), _list(SIZE, 0, MAX_LAYERS)
ARCHITECTURES: dict[str, dict[str, Any]] = {  # the fields of vaekit.nn's configs, by kind
    "mlp": {"hidden": HIDDEN, "activation": ACTIVATION},
    "conv": {"channels": SIZE, "hidden": SIZE, "activation": ACTIVATION},
    "resconv": {"channels": SIZE, "blocks": _int(0, MAX_LAYERS), "hidden": SIZE, "activation": ACTIVATION},
    "sequence": {"embedding": SIZE, "encoder_hidden": SIZE, "decoder_hidden": SIZE},
    "frames": {
        "channels": SIZE,
        "hidden": SIZE,
        "features": SIZE,
        "rnn": SIZE,
        "predictor_layers": _int(1, MAX_LAYERS),
    },  # fmt: skip
}
LIKELIHOODS: dict[str, dict[str, Any]] = {  # the fields of vaekit.core.likelihoods' configs, by kind
    "bernoulli": {},
    "gaussian": {"min_logvar": LOGVAR, "max_logvar": LOGVAR},
    "studentt": {"min_logvar": LOGVAR, "max_logvar": LOGVAR, "min_df": _number(0.0, 1000.0)},
    "mixed": {"cardinalities": _list(_int(0, MAX_SIZE), 1), "min_logvar": LOGVAR, "max_logvar": LOGVAR},
    "categorical_sequence": {},
}
MODEL_FIELDS: dict[str, Any] = {  # ModelConfig without its likelihood (a section of its own)
    "latent_dim": SIZE,
    "architecture": _kinds(ARCHITECTURES),
    "autoencoder": bool,
    "top_latent_dim": SIZE | None,
    "mask_input": bool,
    "properties": _list(str, 0, 64),
    "code_prior": _choice("standard", "fitted"),
}
SCHEMA = _section(
    "schema",
    kind=(_choice("image", "table", "vector", "sequence", "video", "series"), ...),
    shape=(_list(SIZE, 1, 4), ...),  # video: (T, C, H, W)
    columns=_list(str, 1) | None,
    label_names=TEXTS | None,
    source=str,
    column_types=_list(_choice("numeric", "categorical"), 1) | None,
    categories=Annotated[dict[str, _list(str, 1)], Field(fail_fast=True)] | None,
    vocabulary=_section("vocabulary", tokens=(_list(str, 5), ...), max_length=SIZE | None) | None,
    condition=_section(  # a conditional model's y: names, a type each, categories of the categorical ones
        "condition",
        names=(_list(str, 1, 64), ...),
        types=(_list(_choice("numeric", "categorical"), 1, 64), ...),
        categories=Annotated[dict[str, _list(str, 1, MAX_SIZE)], Field(fail_fast=True)] | None,
    )
    | None,
)
OPTIONS = _section(  # the training options other commands read (the training code checks all of them on resume)
    "options",
    **dict.fromkeys(("epochs", "iw_samples"), COUNT),
    **dict.fromkeys(("subset", "early_stopping"), COUNT | None),
    **dict.fromkeys(("corrupt", "objective"), str | None),
    val_fraction=_number(0.0, 1.0),
    time_limit=_number(0.0) | None,
    seed=_int(-(2**63), 2**64 - 1),
)
RESULT = _section(
    "result",
    **dict.fromkeys(("epochs_completed", "best_epoch"), _int(0, MAX_COUNT)),
    **{"best_val": _number() | None, "selected_by": str, "stopped_early": bool, "stopped_by": str | None},
)
TRAINING = _section(  # status (untrained, in_progress, finished) is checked by the training code on resume
    "training",
    **dict.fromkeys(("data", "label_column", "representation", "smiles_column", "preset", "status"), str | None),
    **dict.fromkeys(("likelihood", "binarize_resolved"), str | None),
    **dict.fromkeys(("categorical", "numeric", "properties", "condition"), TEXTS | None),
    attributes=str | None,
    **{"image_size": SIZE | None, "latent_dim": SIZE | None, "hidden": HIDDEN | None, "autoencoder": bool | None},
    options=OPTIONS,
    result=RESULT,
)
CONFIG_SECTIONS = _section(
    "config",
    format_version=(_int(1, FORMAT_VERSION), ...),
    vaekit_version=str,
    model=(_section("model", closed=True, **MODEL_FIELDS), ...),
    likelihood=(_kinds(LIKELIHOODS), ...),
    schema_=(SCHEMA, Field(alias="schema")),  # not "schema": BaseModel has a method of that name
    preprocessing=dict[str, Any],
    training=TRAINING,
)


# -- the check, and its one-line message --------------------------------------------------------------------------
def validate_config(cfg: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """``cfg`` (a bundle's config.json) when every field the toolkit reads has the type and range it needs,
    else one BundleError naming the field, its value and what was expected. Nothing is built or allocated."""
    version = cfg.get("format_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise BundleError(
            f"{path} was written by a newer vaekit (bundle format {version}, this one reads "
            f"up to {FORMAT_VERSION}): upgrade vaekit"
        )
    try:
        CONFIG_SECTIONS.model_validate(cfg)
        _check_schema(cfg["schema"])
    except ValidationError as e:
        why = _describe(e.errors(include_url=False)[0])  # the first error only (lists and dicts fail fast)
    except _Invalid as e:
        why = str(e)
    else:
        return cfg
    raise BundleError(f"{Path(path) / CONFIG} is damaged: {why}")


_TAGGED = (("model", "architecture"), ("likelihood",))  # discriminated unions: pydantic puts the kind in the loc
_CLOSED = {  # loc of a closed section -> its fields
    ("model",): list(MODEL_FIELDS),
    **{("model", "architecture", k): ["kind", *v] for k, v in ARCHITECTURES.items()},
    **{("likelihood", k): ["kind", *v] for k, v in LIKELIHOODS.items()},
}
_EXPECTED = {  # pydantic's error type -> what was expected (an _expect error's msg says it; others fall back to it)
    **dict.fromkeys(("model_type", "model_attributes_type", "dict_type"), "an object"),
    "list_type": "a list",
    "too_short": "a list of {min_length:,} or more entries",
    "too_long": "a list of at most {max_length:,} entries",
    "string_type": "a string",
    "bool_type": "true or false",
}


def _describe(error: ErrorDetails) -> str:
    """One pydantic error as 'where is value, expected what' (or 'where has no key'), where = model.hidden[0]."""
    loc, kind, value = error["loc"], error["type"], error["input"]
    if kind == "missing":
        return f"{_where(loc[:-1]) or 'the config'} has no {loc[-1]}"
    if kind == "union_tag_not_found":
        return f"{_where(loc)} has no kind"
    if kind == "extra_forbidden":
        return f"{_where(loc[:-1])} has an unknown field {loc[-1]!r} (expected {', '.join(_CLOSED[loc[:-1]])})"
    if kind == "union_tag_invalid":
        kinds = error["ctx"]["expected_tags"].replace("'", "")
        return f"{_where(loc)}.kind is {_show(value['kind'])}, expected one of {kinds}"
    what = _EXPECTED[kind].format(**error.get("ctx", {})) if kind in _EXPECTED else error["msg"]
    return f"{_where(loc)} is {_show(value)}, expected {what}"


def _where(loc: tuple[int | str, ...]) -> str:
    """A pydantic loc as a dotted path without the union tags: ("model", "architecture", "mlp", "hidden", 0)
    -> "model.architecture.hidden[0]"."""
    for tagged in _TAGGED:
        if loc[: len(tagged)] == tagged and len(loc) > len(tagged):
            loc = loc[: len(tagged)] + loc[len(tagged) + 1 :]
    return "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in loc).removeprefix(".")


SHAPES = {"image": ("(C, H, W)", 3), "video": ("(T, C, H, W)", 4), "series": ("(T, D)", 2)}  # per sample, by kind


def _check_schema(schema: dict[str, Any]) -> None:
    """What the field checks cannot see: the shape fits the kind, and the column descriptions agree."""
    kind, shape = schema["kind"], schema["shape"]
    expected, dims = SHAPES.get(kind, ("(D,)", 1))
    if len(shape) != dims:
        raise _Invalid(f"schema.shape is {_show(shape)}, expected {expected}")
    if math.prod(shape) > MAX_FEATURES:
        raise _Invalid(f"schema.shape is {_show(shape)}, expected at most {MAX_FEATURES:,} values per sample")
    columns, types = schema.get("columns"), schema.get("column_types")
    width = shape[-1] if kind == "series" else shape[0]  # a series names its channels (T, D)
    if columns is not None and len(columns) != width:
        raise _Invalid(f"schema.columns names {len(columns)} columns, expected {width} (schema.shape)")
    if types is not None and (columns is None or len(types) != len(columns)):
        raise _Invalid(f"schema.column_types has {len(types)} entries, expected one per column")
    categories = schema.get("categories") or {}
    for c, t in zip(columns or (), types or (), strict=False):
        if t == "categorical" and c not in categories:
            raise _Invalid(f"schema.categories has no entry for the categorical column {c!r}")
    if kind == "sequence" and schema.get("vocabulary") is None:
        raise _Invalid("schema.vocabulary is missing, expected the token vocabulary of a sequence model")
    _check_condition(schema.get("condition"))


def _check_condition(cond: dict[str, Any] | None) -> None:
    """A condition names each attribute once, types each, and lists the categories of the categorical ones."""
    if cond is None:
        return
    names, types, categories = cond["names"], cond["types"], cond.get("categories") or {}
    if len(types) != len(names) or len(set(names)) != len(names):
        raise _Invalid("schema.condition needs distinct names and one type per name")
    for n, t in zip(names, types, strict=True):
        if t == "categorical" and n not in categories:
            raise _Invalid(f"schema.condition.categories has no entry for the categorical condition {n!r}")
