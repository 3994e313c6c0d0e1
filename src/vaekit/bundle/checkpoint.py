"""The training state for --resume: one safetensors file, tensors plus a JSON skeleton of everything else."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .._io import atomic_write
from ..errors import BundleError
from .format import CHECKPOINT, STATE_DIR
from .validate import _Invalid, _show, parse_json


# -- training state (for --resume): one safetensors file, tensors plus a JSON skeleton -------------------
def save_checkpoint(path: str | Path, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
    """Atomically write ``tensors`` (model weights) and ``state`` (nested dicts/lists with tensors inside, e.g.
    an optimizer state dict and RNG states) to RUN/training_state/checkpoint.safetensors."""
    flat = {f"model/{k}": v.detach().cpu().contiguous() for k, v in tensors.items()}
    skeleton = _flatten(state, "state", flat)
    target = Path(path) / STATE_DIR / CHECKPOINT
    atomic_write(target, lambda p: save_file(flat, str(p), metadata={"state": json.dumps(skeleton)}))


def first_nonfinite(tensors: dict[str, torch.Tensor]) -> str | None:
    """The name of the first floating-point tensor holding NaN or inf, else None."""
    return next((k for k, t in tensors.items() if t.is_floating_point() and not bool(torch.isfinite(t).all())), None)


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
    if empty := next((name for name, t in weights.items() if t.numel() == 0), None):
        raise BundleError(f"{damaged}: the weight {empty} is empty")
    if name := first_nonfinite(weights):
        raise BundleError(f"{damaged}: the weight {name} holds NaN/inf values")
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
