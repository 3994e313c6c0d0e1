"""What users do with a trained bundle: sample, reconstruct, interpolate, traverse, encode, decode.

Each function loads the run, does one job and writes one file (PNG/GIF for image models, .npy/.csv always).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..data import read_array_file
from ..errors import VaekitError
from ..vae import VAE, load_model
from .data import load_for_model
from .outputs import (
    ARRAY_EXT,
    GIF_EXT,
    IMAGE_EXT,
    TABLE_EXT,
    check_out,
    grid,
    save_array,
    save_gif,
    save_image,
)


def _formats(model: VAE, gif: bool = False) -> set[str]:
    image = model.schema.kind == "image"
    return (IMAGE_EXT | (GIF_EXT if gif else set()) if image else set()) | ARRAY_EXT | TABLE_EXT


def _write(model: VAE, x: torch.Tensor, out: Path, ncol: int) -> None:
    if out.suffix.lower() in IMAGE_EXT:
        save_image(grid(x, ncol), out)
    else:
        save_array(x, out, model.schema)


def sample(run: str | Path, n: int, out: str | Path, seed: int | None = 0) -> Path:
    """n new samples from the prior, decoded to the likelihood mean."""
    model = load_model(run)
    out = check_out(out, _formats(model), "samples")
    if n < 1:
        raise VaekitError("--n must be at least 1")
    _write(model, model.sample(n, seed=seed), out, ncol=round(n**0.5 + 0.49))
    return out


def reconstruct(run: str | Path, data: str | None, n: int, out: str | Path) -> Path:
    """The first n inputs and their reconstructions: image grids pair originals (top) with reconstructions."""
    model = load_model(run)
    out = check_out(out, _formats(model), "reconstructions")
    x = load_for_model(model, data, split="test_or_all").x[:n]
    recon = model.reconstruct(x)
    if out.suffix.lower() in IMAGE_EXT:
        cols = min(len(x), 16)
        rows = [t for i in range(0, len(x), cols) for t in (x[i : i + cols], recon[i : i + cols])]
        save_image(grid(torch.cat(rows), cols), out)
    else:
        save_array(recon, out, model.schema)
    return out


def interpolate(
    run: str | Path, data: str | None, pair: tuple[int, int], steps: int, out: str | Path, slerp: bool = False
) -> Path:
    """Decode the path between the codes of samples I and J of the data (a PNG strip or an animated GIF)."""
    model = load_model(run)
    out = check_out(out, _formats(model, gif=True), "the interpolation")
    x = load_for_model(model, data, split="test_or_all").x
    for i in pair:
        if not 0 <= i < len(x):
            raise VaekitError(f"--pair index {i} is out of range: the data has {len(x)} samples (0..{len(x) - 1})")
    if steps < 2:
        raise VaekitError("--steps must be at least 2")
    path = model.interpolate(x[pair[0]], x[pair[1]], steps, slerp=slerp)
    if out.suffix.lower() in GIF_EXT:
        save_gif(path, out)
    else:
        _write(model, path, out, ncol=steps)
    return out


def traverse(
    run: str | Path, out: str | Path, dims: list[int] | None = None, span: float = 3.0, steps: int = 9
) -> Path:
    """One row per latent dimension, varied over [-span, span] prior standard deviations around the mean."""
    model = load_model(run)
    out = check_out(out, _formats(model), "the traversal")
    grid_x = model.traverse(dims, span=span, steps=steps)
    _write(model, grid_x.flatten(0, 1), out, ncol=steps)
    return out


def encode(run: str | Path, data: str | None, out: str | Path, draw: bool = False, seed: int = 0) -> Path:
    """Posterior means (or one draw) of every input (the test split when the data has one): (N, D) to .npy,
    or .csv with a label column if known."""
    model = load_model(run)
    out = check_out(out, ARRAY_EXT | TABLE_EXT, "latent codes")
    sel = load_for_model(model, data, split="test_or_all")  # MNIST-like data has no "all" split
    labels = sel.labels.numpy() if sel.labels is not None and out.suffix.lower() == ".csv" else None
    save_array(posterior_codes(model, sel.x, draw, seed), out, labels=labels, prefix="z")
    return out


@torch.no_grad()
def posterior_codes(model: VAE, x: torch.Tensor, draw: bool = False, seed: int = 0, batch_size: int = 1000):
    """Posterior means of the rows of x (or, with ``draw``, one seeded draw from each q(z|x)), ``batch_size``
    rows at a time. (N, D)"""
    g = torch.Generator(x.device).manual_seed(seed)
    posteriors = (model.encode(x[i : i + batch_size]) for i in range(0, len(x), batch_size))
    return torch.cat([q.sample(g) if draw else q.mean for q in posteriors])


def decode(run: str | Path, latents: str | Path, out: str | Path) -> Path:
    """Decode latent vectors from a .npy/.npz/.csv file (N, D) to the likelihood means."""
    model = load_model(run)
    out = check_out(out, _formats(model), "decoded samples")
    with torch.no_grad():
        x = model.decode(read_latents(model, latents)).mean
    _write(model, x, out, ncol=round(len(x) ** 0.5 + 0.49))
    return out


def read_latents(model: VAE, latents: str | Path) -> torch.Tensor:
    """Latent vectors (N, D) for ``model`` from a .npy/.npz/.csv file; one clear error when the shape is wrong."""
    z = torch.as_tensor(read_array_file(latents), dtype=torch.float32)
    if z.dim() == 1:
        z = z[None]
    if z.dim() != 2 or z.shape[1] != model.config.latent_dim:
        raise VaekitError(
            f"{latents} holds an array of shape {tuple(z.shape)}, expected (N, "
            f"{model.config.latent_dim}) latent vectors"
        )
    return z
