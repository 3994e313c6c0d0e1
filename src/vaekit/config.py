"""Frozen config dataclasses <-> JSON.

Every config is a frozen dataclass; fields that may hold one of several configs are resolved through the
``kind`` field and a registry (``{"mlp": MLPConfig, ...}``), never through if/elif chains on names.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any


def to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready dict (tuples become lists)."""
    return dataclasses.asdict(cfg)


def from_dict(cls: type, data: dict[str, Any], registries: dict[str, dict[str, type]] | None = None) -> Any:
    """Rebuild a dataclass from ``to_dict`` output; unknown keys are an error (a typo must not pass silently).

    ``registries`` maps a field name to ``{kind: config class}`` for fields typed as a union of configs.
    """
    registries = registries or {}
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s): {sorted(unknown)}")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _convert(hints[name], value, registries.get(name))
    return cls(**kwargs)


def _convert(hint: Any, value: Any, registry: dict[str, type] | None) -> Any:
    if registry is not None and isinstance(value, dict):
        return from_dict(registry[value["kind"]], value)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _convert(args[0], value, None) if len(args) == 1 else value
    if origin is tuple and isinstance(value, list):
        return tuple(value)
    if dataclasses.is_dataclass(hint) and isinstance(value, dict):
        return from_dict(hint, value)
    return value
