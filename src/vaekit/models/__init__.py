"""The generative model as an ``nn.Module`` (tensors only), its config and the presets table.

The torch-backed names load on first use (PEP 562), so ``vaekit.models.presets`` (plain data) can be read
without importing torch."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .presets import PRESET_NOTES, PRESET_TRAINING

if TYPE_CHECKING:
    from .module import ARCHITECTURES, PRESETS, Latents, ModelConfig, VAEModule

_LAZY = {name: ".module" for name in ("ARCHITECTURES", "PRESETS", "Latents", "ModelConfig", "VAEModule")}

__all__ = ["ARCHITECTURES", "PRESETS", "PRESET_NOTES", "PRESET_TRAINING", "Latents", "ModelConfig", "VAEModule"]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
