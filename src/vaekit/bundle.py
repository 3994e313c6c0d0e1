"""The model bundle: a folder with config.json + model.safetensors (+ training_state/ for --resume).

Loading never executes code: the model is rebuilt from config.json and safetensors weights are loaded into it.
Every file is written atomically (temp file + rename), weights before the config, so a process killed at any
moment leaves either the previous bundle or the new one, always loadable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ._io import atomic_write, write_json
from ._version import __version__
from .core import conformal
from .errors import BundleError

FORMAT_VERSION = 1
CONFIG, WEIGHTS, STATE_DIR, CHECKPOINT = (
    "config.json",
    "model.safetensors",
    "training_state",
    "checkpoint.safetensors",
)
PICKLE_NAMES = ("*.pt", "*.pth", "*.bin", "*.ckpt", "*.pkl")


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
    """config.json of a bundle, or a BundleError saying why ``path`` is not one."""
    path = Path(path)
    if not path.exists():
        raise BundleError(f"no such run folder: {path}")
    if not path.is_dir():
        raise BundleError(f"{path} is a file, expected a run folder (with config.json and model.safetensors)")
    if not (path / CONFIG).is_file():
        raise BundleError(f"{path} is not a vaekit run: it has no {CONFIG}")
    try:
        cfg = json.loads((path / CONFIG).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(f"{path / CONFIG} is not valid JSON ({e})") from None
    if not isinstance(cfg, dict) or "format_version" not in cfg:
        raise BundleError(f"{path / CONFIG} is not a vaekit config (no format_version)")
    if cfg["format_version"] > FORMAT_VERSION:
        raise BundleError(
            f"{path} was written by a newer vaekit (bundle format {cfg['format_version']}, this one reads "
            f"up to {FORMAT_VERSION}): upgrade vaekit"
        )
    return cfg


def load_model(path: str | Path, device: str | torch.device = "cpu", *, cls: Any) -> Any:
    """Rebuild a model of class ``cls`` from config.json (``cls.from_config``) and load model.safetensors into it
    (no pickle, no code). The bundle never names the model class: ``vaekit.VAE.load`` passes itself."""
    path = Path(path)
    cfg = read_config(path)
    try:
        model = cls.from_config(cfg)
    except (KeyError, TypeError, ValueError) as e:
        raise BundleError(f"{path / CONFIG} describes no valid model ({e})") from None
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
    try:
        d = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(f"{file} is not valid JSON ({e}): calibrate again") from None
    return conformal.Calibration.from_dict(d, str(file))


def read_weights(file: Path) -> dict[str, torch.Tensor]:
    if not file.is_file():
        pickled = [p.name for pat in PICKLE_NAMES for p in file.parent.glob(pat)]
        hint = f" (found {pickled[0]}: pickled weights are refused, they can run code)" if pickled else ""
        raise BundleError(f"{file.parent} has no {file.name}{hint}")
    try:
        return load_file(str(file))
    except (SafetensorError, OSError, ValueError) as e:
        head = file.read_bytes()[:2]
        why = (
            "it is a pickle, and pickles are refused because loading one can run code"
            if head in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05", b"PK")
            else f"not a valid safetensors file: {e}"
        )
        raise BundleError(f"cannot load {file}: {why}") from None


# -- training state (for --resume): one safetensors file, tensors plus a JSON skeleton -------------------
def save_checkpoint(path: str | Path, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
    """Atomically write ``tensors`` (model weights) and ``state`` (nested dicts/lists with tensors inside, e.g.
    an optimizer state dict and RNG states) to RUN/training_state/checkpoint.safetensors."""
    flat = {f"model/{k}": v.detach().cpu().contiguous() for k, v in tensors.items()}
    skeleton = _flatten(state, "state", flat)
    target = Path(path) / STATE_DIR / CHECKPOINT
    atomic_write(target, lambda p: save_file(flat, str(p), metadata={"state": json.dumps(skeleton)}))


def load_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    file = Path(path) / STATE_DIR / CHECKPOINT
    if not file.is_file():
        raise BundleError(f"{path} has no training state to resume from ({STATE_DIR}/{CHECKPOINT})")
    from safetensors import safe_open

    try:
        with safe_open(str(file), framework="pt") as f:
            skeleton = json.loads(f.metadata()["state"])
            flat = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no __iter__
    except (SafetensorError, OSError, KeyError, ValueError) as e:
        raise BundleError(f"cannot read training state {file}: {e}") from None
    weights = {k[len("model/") :]: v for k, v in flat.items() if k.startswith("model/")}
    return weights, _unflatten(skeleton, flat)


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
    if isinstance(obj, dict):
        if set(obj) == {"__tensor__"}:
            return flat[obj["__tensor__"]]
        return {(int(k[5:]) if k.startswith("#int:") else k): _unflatten(v, flat) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_unflatten(v, flat) for v in obj]
    return obj
