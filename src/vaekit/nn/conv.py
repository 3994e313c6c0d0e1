"""Convolutional encoder and decoder for images of any size >= 16 px and any number of channels.

The encoder halves the resolution with stride-2 convolutions until the smaller side is at most 8 px (at most
five times); the decoder mirrors it with transposed convolutions whose ``output_padding`` is chosen per layer so
that every intermediate size, and the output, match the input exactly (28 -> 14 -> 7 -> 14 -> 28, 30 -> 15 -> 7
-> 15 -> 30). Nothing assumes 28x28 or 64x64.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from .mlp import ACTIVATIONS


@dataclass(frozen=True)
class ConvConfig:
    kind: Literal["conv"] = "conv"
    channels: int = 32  # channels after the first downsampling; doubled at each further one (max 256)
    hidden: int = 256  # width of the fully connected layer between the feature map and the latent
    activation: Literal["relu", "tanh", "gelu", "silu"] = "relu"


def _plan(h: int, w: int, base: int) -> list[tuple[int, int, int]]:
    """(channels, height, width) after each stride-2 step, starting from the input size."""
    if min(h, w) < 16:
        raise ValueError(f"the conv preset needs images of at least 16x16 pixels, got {h}x{w}")
    sizes = []
    c = base
    while min(h, w) > 8 and len(sizes) < 5:
        h, w = (h + 1) // 2, (w + 1) // 2
        sizes.append((c, h, w))
        c = min(2 * c, 256)
    return sizes


class ConvEncoder(nn.Module):
    """x (N, C, H, W) -> features (N, out_features)."""

    def __init__(self, cfg: ConvConfig, shape: tuple[int, ...], out_features: int):
        super().__init__()
        c_in, h, w = shape
        plan = _plan(h, w, cfg.channels)
        layers: list[nn.Module] = []
        for c, ho, wo in plan:
            # pad right/bottom by one pixel on odd sizes so the output is ceil(size / 2)
            layers += [nn.ZeroPad2d((0, w % 2, 0, h % 2)), nn.Conv2d(c_in, c, 4, 2, 1)]
            layers.append(ACTIVATIONS[cfg.activation]())
            c_in, h, w = c, ho, wo
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Sequential(
            nn.Linear(c_in * h * w, cfg.hidden),
            ACTIVATIONS[cfg.activation](),
            nn.Linear(cfg.hidden, out_features),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class ConvDecoder(nn.Module):
    """z (N, D) -> decoder output (N, k*C, H, W)."""

    def __init__(self, cfg: ConvConfig, latent_dim: int, shape: tuple[int, ...], params_per_value: int):
        super().__init__()
        c_out, h, w = shape
        plan = _plan(h, w, cfg.channels)
        sizes = [(c_out * params_per_value, h, w)] + plan  # sizes[i] is the target of up-step i
        c0, h0, w0 = plan[-1]
        self.start = (c0, h0, w0)
        self.fc = nn.Sequential(
            nn.Linear(latent_dim, cfg.hidden),
            ACTIVATIONS[cfg.activation](),
            nn.Linear(cfg.hidden, c0 * h0 * w0),
            ACTIVATIONS[cfg.activation](),
        )
        layers: list[nn.Module] = []
        for i in range(len(plan), 0, -1):
            (ci, hi, wi), (co, ho, wo) = sizes[i], sizes[i - 1]
            # ConvTranspose2d(k=4, s=2, p=1) gives 2*h + output_padding; crop one pixel when the target is odd
            layers.append(nn.ConvTranspose2d(ci, co, 4, 2, 1))
            if (2 * hi, 2 * wi) != (ho, wo):
                layers.append(Crop(ho, wo))
            if i > 1:
                layers.append(ACTIVATIONS[cfg.activation]())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.fc(z).view(z.shape[0], *self.start))


class Crop(nn.Module):
    def __init__(self, h: int, w: int):
        super().__init__()
        self.h, self.w = h, w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., : self.h, : self.w]
