"""Fully connected encoder and decoder (the classic 784-400-20 VAE is MLPConfig(hidden=(400,)))."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "silu": nn.SiLU}


@dataclass(frozen=True)
class MLPConfig:
    kind: Literal["mlp"] = "mlp"
    hidden: tuple[int, ...] = (400,)  # hidden widths, encoder order; the decoder mirrors them
    activation: Literal["relu", "tanh", "gelu", "silu"] = "relu"


def _stack(sizes: list[int], activation: str) -> nn.Sequential:
    """Linear layers between consecutive sizes, an activation after every layer but the last."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    """x (N, *shape) -> features (N, out_features): flatten, then the hidden layers."""

    def __init__(self, cfg: MLPConfig, shape: tuple[int, ...], out_features: int):
        super().__init__()
        in_features = 1
        for s in shape:
            in_features *= s
        self.net = _stack([in_features, *cfg.hidden, out_features], cfg.activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


class MLPDecoder(nn.Module):
    """z (N, D) -> decoder output (N, k*C, H, W) or (N, k*F): k parameters per data value, channel-major."""

    def __init__(self, cfg: MLPConfig, latent_dim: int, shape: tuple[int, ...], params_per_value: int):
        super().__init__()
        self.out_shape = (params_per_value * shape[0], *shape[1:])
        out_features = 1
        for s in self.out_shape:
            out_features *= s
        self.net = _stack([latent_dim, *reversed(cfg.hidden), out_features], cfg.activation)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.out_shape)
