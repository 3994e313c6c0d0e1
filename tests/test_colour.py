"""Colour images keep their colour: loading a folder of RGB PNGs, and reconstructions of a model trained on it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from vaekit.data import load_dataset
from vaekit.training import train

COLOURS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}


def coloured_shapes(folder: Path, n: int = 96, size: int = 32) -> Path:
    """n PNGs, deterministic: red squares, green circles and blue triangles of random size and place on black."""
    rng = np.random.default_rng(0)
    folder.mkdir()
    for i in range(n):
        name, fill = list(COLOURS.items())[i % 3]
        im = Image.new("RGB", (size, size))
        draw = ImageDraw.Draw(im)
        s = int(rng.integers(size // 3, size // 2))
        x, y = (int(v) for v in rng.integers(1, size - s - 1, 2))
        if name == "red":
            draw.rectangle([x, y, x + s, y + s], fill=fill)
        elif name == "green":
            draw.ellipse([x, y, x + s, y + s], fill=fill)
        else:
            draw.polygon([(x, y + s), (x + s, y + s), (x + s // 2, y)], fill=fill)
        im.save(folder / f"{i:03d}_{name}.png")
    return folder


def channel_means(images: torch.Tensor, shape_pixels: torch.Tensor) -> torch.Tensor:
    """Mean of each channel over the pixels of the shapes: images (N, 3, H, W), shape_pixels (N, H, W). (3,)"""
    return torch.stack([images[:, c][shape_pixels] for c in range(3)]).mean(1)


def assert_colours_kept(x: torch.Tensor, images: torch.Tensor, ratio: float) -> None:
    """For every colour class of the inputs x: the class's channel of ``images`` dominates the others ``ratio``-fold
    on the pixels of its shapes (x (N, 3, H, W), input i of class i % 3)."""
    for c, name in enumerate(COLOURS):
        idx = torch.arange(c, len(x), 3)
        means = channel_means(images[idx], x[idx].amax(1) > 0.1)
        others = torch.cat([means[:c], means[c + 1 :]])
        assert means[c] > 0.3 and means[c] > ratio * others.max(), f"{name} shapes: channel means {means.tolist()}"


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    return coloured_shapes(tmp_path_factory.mktemp("colour") / "shapes")


def test_folder_of_colour_pngs_loads_as_rgb(shapes: Path):
    """Guards a luminance conversion or a channel mix-up on the way in: a red square is (1, 0, 0)."""
    data = load_dataset(shapes)
    x = data.splits["all"]
    assert tuple(x.shape) == (96, 3, 32, 32) and data.schema.shape == (3, 32, 32)
    assert_colours_kept(x, x, ratio=1000.0)
    assert set(torch.unique(x).tolist()) <= {0.0, 1.0}  # pure colours on black: exactly 0 and 1, no scaling drift


def test_reconstructions_keep_the_dominant_colour(shapes: Path):
    """Guards grey reconstructions of colour images: after a short training (120 optimizer steps, a few seconds)
    a red square is reconstructed red, a green circle green, a blue triangle blue. (A model that has not left
    its collapsed start, e.g. the conv preset after 50 steps, decodes every input to the mean image, (0.32,
    0.27, 0.24) on a red square: grey, and this test fails.)"""
    model = train(
        shapes, latent_dim=8, hidden=(128,), epochs=10, batch_size=8, lr=3e-3, val_fraction=0.0, seed=0,
        progress=False,
    )  # fmt: skip
    assert model.config.likelihood.kind == "bernoulli"
    assert model.run_config["training"]["binarize_resolved"] == "none"  # continuous colour is never binarized
    x = load_dataset(shapes).splits["all"]
    recon = model.reconstruct(x)
    assert recon.shape == x.shape
    assert_colours_kept(x, recon, ratio=10.0)


def test_a_small_colour_folder_trained_with_the_defaults_keeps_its_colour(tmp_path):
    """The report: 200 coloured 32x32 shapes, the conv preset, 25 epochs, default options -> grey reconstructions.
    The cause was the default batch of 128: 2 optimizer steps an epoch, 50 in all, and the model still decoded
    every input to the mean image. Small data now gets at least 16 steps an epoch (batch 16 here)."""
    shapes = coloured_shapes(tmp_path / "shapes", n=200)
    messages: list[str] = []

    class Listen:
        def on_epoch_start(self, epoch, epochs, batches): ...
        def on_batch_end(self, batch, loss): ...
        def on_epoch_end(self, record): ...
        def on_message(self, text):
            messages.append(text)

    model = train(shapes, preset="conv", epochs=25, progress=False, callbacks=[Listen()])
    assert model.run_config["training"]["options"]["batch_size"] == 16  # max(16, ceil(180 / 16))
    assert any("optimizer steps" in m for m in messages)  # 300 steps: the run says it is a short one
    x = load_dataset(shapes).splits["all"]
    assert_colours_kept(x, model.reconstruct(x), ratio=3.0)
