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

from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .._io import atomic_write, write_json
from .._version import __version__
from ..core import conformal
from ..errors import BundleError
from ..record import UNTRAINED, training_status
from .checkpoint import first_nonfinite, load_checkpoint, save_checkpoint
from .format import (
    ATTRIBUTES,
    CHECKPOINT,
    CONFIG,
    FORMAT_VERSION,
    MAX_CALIBRATION_BYTES,
    MAX_CONFIG_BYTES,
    PICKLE_NAMES,
    STATE_DIR,
    WEIGHTS,
)
from .validate import ARCHITECTURES, LIKELIHOODS, MODEL_FIELDS, parse_json, read_json, validate_config

__all__ = [
    "ARCHITECTURES",
    "ATTRIBUTES",
    "CHECKPOINT",
    "CONFIG",
    "FORMAT_VERSION",
    "LIKELIHOODS",
    "MAX_CONFIG_BYTES",
    "MODEL_FIELDS",
    "STATE_DIR",
    "WEIGHTS",
    "bundle_config",
    "check_weights_fit",
    "load_checkpoint",
    "load_model",
    "parse_json",
    "read_calibration",
    "read_config",
    "read_header",
    "read_json",
    "read_weights",
    "save_checkpoint",
    "save_model",
    "validate_config",
    "write_json",
]


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
    if model.schema.kind not in ("image", "video"):  # the weights hold them; for pictures they are per channel
        preprocessing = {"standardize": {"mean": model.shift.tolist(), "std": model.scale.tolist()}}
    return {
        # the oldest format that holds the model: releases before conditioning keep reading unconditional bundles
        "format_version": FORMAT_VERSION if model.schema.condition is not None else 1,
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
    model.run_path = path  # where it was loaded from: its optional files (attributes.json) are read from there
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
    if name := first_nonfinite(tensors):
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
