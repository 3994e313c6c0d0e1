"""Residual convolutional encoder and decoder, for images of any size >= 16 px and any number of channels.

Same resolution plan as ``conv`` (stride-2 steps until the smaller side is at most 8 px, exact sizes on the way
back up), with pre-activation residual blocks of two 3x3 convolutions at every reduced resolution (none at full
resolution, where they would cost most of the compute). No batch norm: the
model behaves the same in training and evaluation and with any batch size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from .conv import Crop, _plan
from .mlp import ACTIVATIONS


@dataclass(frozen=True)
class ResConvConfig:
    kind: Literal["resconv"] = "resconv"
    channels: int = 16  # channels at full resolution; doubled at each stride-2 step (max 256)
    blocks: int = 1  # residual blocks per resolution
    hidden: int = 256  # width of the fully connected layer between the feature map and the latent
    activation: Literal["relu", "tanh", "gelu", "silu"] = "silu"


class ResBlock(nn.Module):
    """x + conv(act(conv(act(x)))), 3x3 convolutions, channels and size unchanged."""

    def __init__(self, channels: int, activation: str):
        super().__init__()
        act = ACTIVATIONS[activation]
        self.body = nn.Sequential(
            act(), nn.Conv2d(channels, channels, 3, padding=1), act(), nn.Conv2d(channels, channels, 3, padding=1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _blocks(channels: int, cfg: ResConvConfig) -> list[nn.Module]:
    return [ResBlock(channels, cfg.activation) for _ in range(cfg.blocks)]


class ResConvEncoder(nn.Module):
    """x (N, C, H, W) -> features (N, out_features)."""

    def __init__(self, cfg: ResConvConfig, shape: tuple[int, ...], out_features: int):
        super().__init__()
        c_in, h, w = shape
        plan = _plan(h, w, 2 * cfg.channels)
        layers: list[nn.Module] = [nn.Conv2d(c_in, cfg.channels, 3, padding=1)]
        c = cfg.channels
        for c_out, ho, wo in plan:
            layers += [nn.ZeroPad2d((0, w % 2, 0, h % 2)), nn.Conv2d(c, c_out, 4, 2, 1), *_blocks(c_out, cfg)]
            c, h, w = c_out, ho, wo
        layers += [ACTIVATIONS[cfg.activation](), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        act = ACTIVATIONS[cfg.activation]
        self.head = nn.Sequential(nn.Linear(c * h * w, cfg.hidden), act(), nn.Linear(cfg.hidden, out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class ResConvDecoder(nn.Module):
    """z (N, D) -> decoder output (N, k*C, H, W)."""

    def __init__(self, cfg: ResConvConfig, latent_dim: int, shape: tuple[int, ...], params_per_value: int):
        super().__init__()
        c_out, h, w = shape
        plan = _plan(h, w, 2 * cfg.channels)
        sizes = [(cfg.channels, h, w), *plan]  # sizes[i] is the target of up-step i
        self.start = plan[-1]
        c0, h0, w0 = self.start
        act = ACTIVATIONS[cfg.activation]
        self.fc = nn.Sequential(nn.Linear(latent_dim, cfg.hidden), act(), nn.Linear(cfg.hidden, c0 * h0 * w0))
        layers: list[nn.Module] = []
        for i in range(len(plan), 0, -1):
            (ci, hi, wi), (co, ho, wo) = sizes[i], sizes[i - 1]
            layers += [*_blocks(ci, cfg), act(), nn.ConvTranspose2d(ci, co, 4, 2, 1)]
            if (2 * hi, 2 * wi) != (ho, wo):
                layers.append(Crop(ho, wo))
        layers += [act(), nn.Conv2d(cfg.channels, c_out * params_per_value, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.fc(z).view(z.shape[0], *self.start))
