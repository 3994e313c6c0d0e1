"""The model bundle: a folder with config.json + model.safetensors (+ training_state/ for --resume).

Loading never executes code: the model is rebuilt from config.json and safetensors weights are loaded into it.
Every file is written atomically (temp file + rename), weights before the config, so a process killed at any
moment leaves either the previous bundle or the new one, always loadable.

Nothing in a bundle is trusted before it is checked: config.json is size- and depth-limited and validated
(``validate_config``); the model is first built on the meta device (no memory) and its parameter names and shapes
compared with the header of model.safetensors, so a config asking for a huge network is refused before anything
is allocated; weights holding NaN/inf are refused. Every refusal is one BundleError line.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from ._io import atomic_write, write_json
from ._version import __version__
from .core import conformal
from .errors import BundleError
from .nn.mlp import ACTIVATIONS
from .record import UNTRAINED, training_status

FORMAT_VERSION = 1
CONFIG, WEIGHTS, STATE_DIR, CHECKPOINT = (
    "config.json",
    "model.safetensors",
    "training_state",
    "checkpoint.safetensors",
)
PICKLE_NAMES = ("*.pt", "*.pth", "*.bin", "*.ckpt", "*.pkl")
MAX_CONFIG_BYTES = 10 * 2**20  # config.json (a vocabulary of tokens is the largest part of a real one: a few KB)
MAX_CALIBRATION_BYTES = 64 * 2**20  # anomaly.json: about 20 bytes per calibration row, so 3 million rows
MAX_DEPTH = 32  # JSON nesting; config.json needs 4 levels, a training state's skeleton 5
MAX_SIZE = 1_000_000  # any one width, length or count in a model config
MAX_FEATURES = 100_000_000  # values per sample (the product of the schema's shape)
MAX_LAYERS = 64  # hidden layers of an MLP, residual blocks per resolution
MAX_COUNT = 10**12  # epochs, seeds' neighbours and other plain counts in the training section


def save_model(model: Any, path: str | Path, training: dict[str, Any] | None = None, **extra: Any) -> None:
    """Write weights, then config.json, into the folder ``path`` (then anomaly.json when calibrated).

    A calibration already in the folder belongs to the weights being replaced: it is removed first."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / conformal.FILE).unlink(missing_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(path / WEIGHTS, lambda p: save_file(tensors, str(p), metadata={"format": "pt"}))
    write_json(path / CONFIG, bundle_config(model, training, **extra))
    if getattr(model, "calibration", None) is not None:
        write_json(path / conformal.FILE, model.calibration.to_dict())


def bundle_config(model: Any, training: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    model_cfg = model.config.to_dict()
    likelihood = model_cfg.pop("likelihood")
    preprocessing: dict[str, Any] = {}
    if model.schema.kind != "image":
        preprocessing = {"standardize": {"mean": model.shift.tolist(), "std": model.scale.tolist()}}
    return {
        "format_version": FORMAT_VERSION,
        "vaekit_version": __version__,
        "model": model_cfg,
        "likelihood": likelihood,
        "schema": model.schema.to_dict(),
        "preprocessing": preprocessing,
        "training": training or {},
        **extra,
    }


def read_config(path: str | Path) -> dict[str, Any]:
    """config.json of a bundle, validated (``validate_config``), or a BundleError saying why ``path`` is not one."""
    path = Path(path)
    if not path.exists():
        raise BundleError(f"no such run folder: {path}")
    if not path.is_dir():
        raise BundleError(f"{path} is a file, expected a run folder (with config.json and model.safetensors)")
    if not (path / CONFIG).is_file():
        raise BundleError(f"{path} is not a vaekit run: it has no {CONFIG}")
    cfg = read_json(path / CONFIG, MAX_CONFIG_BYTES)
    if not isinstance(cfg, dict) or "format_version" not in cfg:
        raise BundleError(f"{path / CONFIG} is not a vaekit config (no format_version)")
    return validate_config(cfg, path)


def load_model(path: str | Path, device: str | torch.device = "cpu", *, cls: Any) -> Any:
    """Rebuild a model of class ``cls`` from config.json (``cls.from_config``) and load model.safetensors into it
    (no pickle, no code). The bundle never names the model class: ``vaekit.VAE.load`` passes itself.

    Order matters: the config is validated, then the model is built on the meta device and compared with the
    weights' header; only a bundle whose weights fit the described model is built for real and loaded."""
    path = Path(path)
    cfg = read_config(path)
    if training_status(cfg) == UNTRAINED:  # killed before its first epoch completed: no usable weights
        data = (cfg.get("training") or {}).get("data") or "DATA"
        raise BundleError(
            f"{path} has not finished an epoch of training yet: resume it with "
            f"`vaekit train {data} --out {path} --resume`"
        )
    check_weights_fit(path, cfg, cls)
    model = _build(cls, cfg, path)
    try:
        model.load_state_dict(read_weights(path / WEIGHTS))
    except RuntimeError:
        raise BundleError(f"{path / WEIGHTS} does not match the model described in {CONFIG}") from None
    model.run_config = cfg  # what the bundle says about data and training (read by the workflows)
    model.calibration = read_calibration(path)
    return model.to(device).eval()


def read_calibration(path: str | Path) -> conformal.Calibration | None:
    """RUN/anomaly.json (the conformal calibration of anomaly scores), or None when the run has none."""
    file = Path(path) / conformal.FILE
    if not file.is_file():
        return None
    d = read_json(file, MAX_CALIBRATION_BYTES, hint=": calibrate again")
    return conformal.Calibration.from_dict(d, str(file))


# -- weights ---------------------------------------------------------------------------------------------------
def read_weights(file: Path) -> dict[str, torch.Tensor]:
    """All tensors of a safetensors file; BundleError when it is missing, not safetensors, or holds NaN/inf."""
    _check_present(file)
    try:
        tensors = load_file(str(file))
    except (SafetensorError, OSError, ValueError) as e:
        raise _unreadable(file, e) from None
    for name, t in tensors.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise BundleError(f"{file} holds NaN/inf values in {name}: the run diverged or the file is damaged")
    return tensors


def read_header(file: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape from a safetensors file's header, without reading the tensors."""
    _check_present(file)
    try:
        with safe_open(str(file), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118 - no __iter__
    except (SafetensorError, OSError, ValueError) as e:
        raise _unreadable(file, e) from None


def check_weights_fit(path: Path, cfg: dict[str, Any], cls: Any) -> None:
    """BundleError unless model.safetensors holds exactly the tensors (names and shapes) of the model that
    ``cfg`` describes. The model is built on the meta device: nothing is allocated, however large it claims to be."""
    file = path / WEIGHTS
    header = read_header(file)
    with torch.device("meta"):
        needed = {k: tuple(v.shape) for k, v in _build(cls, cfg, path).state_dict().items()}
    why = _mismatch(needed, header)
    if why:
        raise BundleError(f"{file} does not match the model described in {CONFIG}: {why}")


def _mismatch(needed: dict[str, tuple[int, ...]], found: dict[str, tuple[int, ...]]) -> str | None:
    """The first difference between the tensors a model needs and those a file holds (name -> shape), or None."""
    missing = sorted(needed.keys() - found.keys())
    if missing:
        return f"it lacks {missing[0]}" + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
    unexpected = sorted(found.keys() - needed.keys())
    if unexpected:
        return f"{unexpected[0]} is not part of the model"
    wrong = sorted(k for k in needed if needed[k] != found[k])
    return f"{wrong[0]} has shape {list(found[wrong[0]])}, the config needs {list(needed[wrong[0]])}" if wrong else None


def _build(cls: Any, cfg: dict[str, Any], path: Path) -> Any:
    try:
        return cls.from_config(cfg)
    except (KeyError, TypeError, ValueError, IndexError, OverflowError, RuntimeError) as e:
        raise BundleError(f"{path / CONFIG} describes no valid model ({e})") from None


def _check_present(file: Path) -> None:
    if not file.is_file():
        pickled = [p.name for pat in PICKLE_NAMES for p in file.parent.glob(pat)]
        hint = f" (found {pickled[0]}: pickled weights are refused, they can run code)" if pickled else ""
        raise BundleError(f"{file.parent} has no {file.name}{hint}")


def _unreadable(file: Path, e: Exception) -> BundleError:
    with open(file, "rb") as f:
        head = f.read(2)
    why = (
        "it is a pickle, and pickles are refused because loading one can run code"
        if head in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05", b"PK")
        else f"not a valid safetensors file: {e}"
    )
    return BundleError(f"cannot load {file}: {why}")


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


# -- training state (for --resume): one safetensors file, tensors plus a JSON skeleton -------------------
def save_checkpoint(path: str | Path, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
    """Atomically write ``tensors`` (model weights) and ``state`` (nested dicts/lists with tensors inside, e.g.
    an optimizer state dict and RNG states) to RUN/training_state/checkpoint.safetensors."""
    flat = {f"model/{k}": v.detach().cpu().contiguous() for k, v in tensors.items()}
    skeleton = _flatten(state, "state", flat)
    target = Path(path) / STATE_DIR / CHECKPOINT
    atomic_write(target, lambda p: save_file(flat, str(p), metadata={"state": json.dumps(skeleton)}))


def load_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(model weights, state) as ``save_checkpoint`` wrote them; a BundleError (only) when the file is missing
    or damaged: unreadable, no skeleton, references to tensors it lacks, empty or non-finite weights."""
    file = Path(path) / STATE_DIR / CHECKPOINT
    if not file.is_file():
        raise BundleError(f"{path} has no training state to resume from ({STATE_DIR}/{CHECKPOINT})")
    damaged = f"the training state {file} is damaged"
    try:
        with safe_open(str(file), framework="pt") as f:
            text = (f.metadata() or {}).get("state")
            if not isinstance(text, str):
                raise BundleError(f"{damaged}: its header has no state record")
            skeleton = parse_json(text, f"the state record of {file}")
            flat = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no __iter__
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise BundleError(f"cannot read training state {file}: {e}") from None
    if not isinstance(skeleton, dict):
        raise BundleError(f"{damaged}: its state record is {_show(skeleton)}, expected an object")
    try:
        state = _unflatten(skeleton, flat)
    except _Invalid as e:
        raise BundleError(f"{damaged}: {e}") from None
    weights = {k[len("model/") :]: v for k, v in flat.items() if k.startswith("model/")}
    if not weights:
        raise BundleError(f"{damaged}: it holds no model weights")
    for name, t in weights.items():
        if t.numel() == 0 or (t.is_floating_point() and not bool(torch.isfinite(t).all())):
            why = "is empty" if t.numel() == 0 else "holds NaN/inf values"
            raise BundleError(f"{damaged}: the weight {name} {why}")
    return weights, state


def _flatten(obj: Any, prefix: str, out: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, torch.Tensor):
        out[prefix] = obj.detach().cpu().contiguous()
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        return {(f"#int:{k}" if isinstance(k, int) else k): _flatten(v, f"{prefix}/{k}", out) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_flatten(v, f"{prefix}/{i}", out) for i, v in enumerate(obj)]
    return obj


def _unflatten(obj: Any, flat: dict[str, torch.Tensor]) -> Any:
    """The state with its tensors put back; _Invalid on references to tensors ``flat`` lacks and on malformed
    integer keys. Recursion is bounded: the skeleton was parsed with at most MAX_DEPTH levels."""
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            name = obj["__tensor__"]
            if len(obj) != 1 or not isinstance(name, str) or not name.startswith("state/") or name not in flat:
                raise _Invalid(f"it refers to a tensor {_show(name)} that it does not hold")
            return flat[name]
        return {_key(k): _unflatten(v, flat) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unflatten(v, flat) for v in obj]
    return obj


def _key(k: str) -> str | int:
    if not k.startswith("#int:"):
        return k
    if not re.fullmatch(r"-?[0-9]{1,18}", k[5:]):
        raise _Invalid(f"it has a malformed integer key {_show(k)}")
    return int(k[5:])
