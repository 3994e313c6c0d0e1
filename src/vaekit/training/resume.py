"""Checks on a loaded training state before ``--resume`` uses it.

``bundle.load_checkpoint`` only guarantees a readable file (tensors plus a JSON skeleton). What it holds must also
fit this run: the weights and Adam moments have the model's shapes, the TrainState fields their types, the random
generator states are byte tensors. Each check returns what is wrong, as words for a one-line error, or None.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch

from ..vae import VAE
from .loop import TrainState

_NUMBER = (int, float)
_STATE_TYPES: dict[str, tuple[type, ...]] = {
    "epoch": (int,),
    "history": (list,),
    "best_val": (int, float, type(None)),
    "best_epoch": (int,),
    "bad_epochs": (int,),
    "lr_scale": _NUMBER,
    "stopped_early": (bool,),
}


def resume_problem(model: VAE, weights: dict[str, torch.Tensor], saved: Any) -> str | None:
    """What makes the checkpoint (weights, saved state) unusable to resume training ``model``; None when it fits."""
    if problem := weights_problem(model, weights):
        return f"model weights: {problem}"
    if not isinstance(saved, dict) or not {"optimizer", "rng", "train_state"} <= saved.keys():
        return "it lacks the optimizer, random-generator or training progress state"
    return (
        state_problem(saved["train_state"]) or optimizer_problem(model, saved["optimizer"]) or rng_problem(saved["rng"])
    )


def weights_problem(model: VAE, weights: Any) -> str | None:
    """Names, shapes and dtypes as in ``model.state_dict()``."""
    expected = model.state_dict()
    if not isinstance(weights, dict):
        return "not a set of named tensors"
    if missing := sorted(expected.keys() - weights.keys()):
        return f"missing {', '.join(missing[:3])}"
    if extra := sorted(weights.keys() - expected.keys()):
        return f"unexpected {', '.join(extra[:3])}"
    for name, ref in expected.items():  # (finite values: checked where the bundle reads the weights)
        t = weights[name]
        if not torch.is_tensor(t) or t.shape != ref.shape or t.dtype != ref.dtype:
            got = f"{tuple(t.shape)} {t.dtype}" if torch.is_tensor(t) else type(t).__name__
            return f"{name} is {got}, expected {tuple(ref.shape)} {ref.dtype}"
    return None


def state_problem(d: Any) -> str | None:
    """The TrainState fields, of their types, consistent (one history record per completed epoch)."""
    fields = {f.name for f in dataclasses.fields(TrainState)}
    if not isinstance(d, dict) or d.keys() != fields:
        got = sorted(d) if isinstance(d, dict) else type(d).__name__
        return f"training progress has fields {got}, expected {sorted(fields)}"
    for name, kinds in _STATE_TYPES.items():
        value = d[name]
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            return f"training progress field {name} is {value!r}"
    epoch, history = d["epoch"], d["history"]
    if epoch < 1 or len(history) != epoch or not 0 <= d["best_epoch"] <= epoch or d["bad_epochs"] < 0:
        return f"training progress is inconsistent (epoch {epoch}, {len(history)} records, best {d['best_epoch']})"
    if not (math.isfinite(d["lr_scale"]) and 0 < d["lr_scale"] <= 1):
        return f"learning-rate scale {d['lr_scale']!r} is not in (0, 1]"
    for i, record in enumerate(history, 1):
        if not isinstance(record, dict) or record.get("epoch") != i or not _numbers(record) or "seconds" not in record:
            return f"history record {i} is not the record of epoch {i}"
    return None


def _numbers(record: dict[str, Any]) -> bool:
    return all(isinstance(k, str) and isinstance(v, _NUMBER) and not isinstance(v, bool) for k, v in record.items())


def optimizer_problem(model: VAE, opt: Any) -> str | None:
    """An Adam state for ``model``'s parameters: one group over all of them, the settings vaekit uses, and
    well-formed moments (the parameter's shape, finite, second moments >= 0) for at least one parameter."""
    params = list(model.parameters())
    if (
        not isinstance(opt, dict)
        or not isinstance(opt.get("state"), dict)
        or not isinstance(opt.get("param_groups"), list)
    ):
        return "the optimizer state is missing"
    groups = opt["param_groups"]
    if len(groups) != 1 or not isinstance(groups[0], dict) or groups[0].get("params") != list(range(len(params))):
        return "the optimizer's parameter groups do not match the model"
    group, fresh = groups[0], torch.optim.Adam(params, fused=True).param_groups[0]
    lr = group.get("lr")
    if not isinstance(lr, _NUMBER) or isinstance(lr, bool) or not (math.isfinite(lr) and lr > 0):
        return f"the optimizer's learning rate is {lr!r}"
    for key, value in fresh.items():
        if key not in ("params", "lr") and key in group and _plain(group[key]) != _plain(value):
            return f"the optimizer setting {key} is {group[key]!r}, vaekit uses {value!r}"
    if not opt["state"]:
        return "the optimizer state holds no Adam moments"
    for index, moments in opt["state"].items():
        if not isinstance(index, int) or not 0 <= index < len(params) or not isinstance(moments, dict):
            return f"the optimizer state has an entry {index!r} for no parameter"
        if problem := _moments_problem(moments, params[index]):
            return f"the optimizer state of parameter {index} {problem}"
    return None


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple | list) else value  # JSON gives betas back as a list


def _moments_problem(moments: dict[str, Any], param: torch.Tensor) -> str | None:
    step = moments.get("step")
    if not torch.is_tensor(step) or step.numel() != 1 or not step.is_floating_point() or not step.item() >= 0:
        return "has no valid step count"
    for name in ("exp_avg", "exp_avg_sq"):
        t = moments.get(name)
        if not torch.is_tensor(t) or t.shape != param.shape or not t.is_floating_point():
            got = tuple(t.shape) if torch.is_tensor(t) else "nothing"
            return f"has {name} of shape {got}, expected {tuple(param.shape)}"
        if not torch.isfinite(t).all() or (name == "exp_avg_sq" and (t < 0).any()):
            return f"has invalid values in {name}"
    return None


def rng_problem(rng: Any) -> str | None:
    """The two random generator states (data, noise): non-empty 1-D uint8 tensors."""
    if not isinstance(rng, dict) or set(rng) != {"data", "noise"}:
        return "the random generator states are missing"
    for name, t in rng.items():
        if not torch.is_tensor(t) or t.dtype != torch.uint8 or t.dim() != 1 or t.numel() == 0:
            return f"the random generator state {name!r} is not a byte tensor"
    return None
