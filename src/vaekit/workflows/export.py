"""``vaekit export``: a run's encoder and decoder as ONNX graphs, checked against PyTorch with ONNX Runtime.

``encoder.onnx`` maps x (N, *shape), float32 in data units, to the posterior's ``mean`` and ``logvar`` (N, D);
``decoder.onnx`` maps latents ``z`` (N, D) to the likelihood's parameters ``params`` as the decoder outputs them
(Bernoulli: logits (N, *shape); Gaussian: mean and log-variance stacked as the model's decoder stacks them). The
batch size is dynamic. ``onnx.json`` beside them says what the files hold. Graphs come from PyTorch's exporter
(``torch.onnx.export(..., dynamo=True)``); each is run once with ONNX Runtime on a seeded batch and refused when it
differs from PyTorch by more than ``TOLERANCE``. Needs the onnx extra: ``pip install 'vaekit[onnx]'``.

Exported kinds: single-level image and table VAEs without a condition. Sequence (molecule) models, two-level
models, conditional models and plain autoencoders are refused in one line.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._io import atomic_write, write_json
from ..errors import VaekitError
from ..models.module import VAEModule
from ..vae import load_model

FORMATS = ("onnx",)
TOLERANCE = 1e-4  # max abs difference between ONNX Runtime and PyTorch on the check batch
FILES = ("encoder.onnx", "decoder.onnx", "onnx.json")
CHECK_ROWS = 7
OPSET = 18


@dataclass
class Exported:
    """What ``export_run`` wrote and how closely ONNX Runtime reproduced PyTorch."""

    folder: Path
    files: list[Path]
    max_abs_diff: dict[str, float]  # encoder, decoder


class _Encoder(nn.Module):
    """x in data units -> (mean, logvar) of q(z|x): ``VAEModule.encode_levels`` without its input checks."""

    def __init__(self, model: VAEModule):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = self.model
        h = m.encoder(m._encoder_input(x, None) if m.config.mask_input else (x - m.shift) / m.scale)
        mean, logvar = h[..., : 2 * m.config.latent_dim].chunk(2, dim=-1)
        return mean, logvar.clamp(-30.0, 20.0)


class _Decoder(nn.Module):
    """z -> the decoder's raw output, the likelihood's parameters."""

    def __init__(self, model: VAEModule):
        super().__init__()
        self.model = model

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.decoder(z)


def export_run(run: str | Path, out: str | Path, fmt: str = "onnx", *, overwrite: bool = False) -> Exported:
    """Write RUN's encoder and decoder as ONNX graphs (plus ``onnx.json``) into the folder ``out``."""
    if fmt not in FORMATS:
        raise VaekitError(f"unknown export format '{fmt}': expected {', '.join(FORMATS)}")
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise VaekitError(f"--out {folder} is a file, expected a folder for {', '.join(FILES)}")
    taken = [folder / f for f in FILES if (folder / f).exists()]
    if taken and not overwrite:
        raise VaekitError(f"{taken[0]} already exists: choose another --out, or pass --overwrite to replace it")
    ort = _onnx_modules()
    model = load_model(run).eval()
    _check_exportable(model)
    x, z = _check_batch(model)
    folder.mkdir(parents=True, exist_ok=True)
    diffs = {}
    with torch.no_grad():
        q = model.encode(x)
        parts = {
            "encoder": (_Encoder(model), x, ["x"], ["mean", "logvar"], [q.mean, q.logvar]),
            "decoder": (_Decoder(model), z, ["z"], ["params"], [model.decoder(z)]),
        }
        for name, (module, example, inputs, outputs, expected) in parts.items():
            path = folder / f"{name}.onnx"
            atomic_write(path, lambda p, m=module, e=example, i=inputs, o=outputs: _export(m, e, i, o, p))
            got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
                None, {inputs[0]: example.numpy()}
            )
            diffs[name] = max(float(np.abs(g - e.numpy()).max()) for g, e in zip(got, expected, strict=True))
    write_json(folder / "onnx.json", _manifest(model, diffs))
    worst = max(diffs, key=diffs.get)
    if diffs[worst] > TOLERANCE:
        raise VaekitError(
            f"the exported {worst} differs from PyTorch by {diffs[worst]:.2e} (more than {TOLERANCE:g}) on the check "
            "batch: the export is not faithful; please report it"
        )
    return Exported(folder, [folder / f for f in FILES], diffs)


def _onnx_modules() -> Any:
    try:
        import onnxruntime
        import onnxscript  # noqa: F401 - the exporter's dependency, checked here for a clear message
    except ModuleNotFoundError as e:
        raise VaekitError(
            f"ONNX export needs the onnx extra ({e.name} is not installed): pip install 'vaekit[onnx]'"
        ) from None
    return onnxruntime


def _check_exportable(model: VAEModule) -> None:
    kind = (
        "a sequence (molecule) model" if model.is_sequence
        else "a two-level model" if model.config.top_latent_dim is not None
        else "a conditional model" if model.condition is not None
        else "a plain autoencoder" if model.config.autoencoder
        else None
    )  # fmt: skip
    if kind:
        raise VaekitError(
            f"ONNX export covers single-level VAEs of images and tables without a condition; this run is {kind}"
        )


def _check_batch(model: VAEModule) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded batch in data units (images in [0, 1]; tables around their means) and seeded latents."""
    g = torch.Generator().manual_seed(0)
    shape = (CHECK_ROWS, *model.schema.shape)
    if model.schema.kind == "image":
        x = torch.rand(shape, generator=g)
    else:
        x = model.shift + model.scale * torch.randn(shape, generator=g)
        for j, c in enumerate(model.cardinalities):  # categorical columns hold category indices
            if c:
                x[:, j] = torch.randint(c, (CHECK_ROWS,), generator=g).float()
    return x, torch.randn(CHECK_ROWS, model.config.latent_dim, generator=g)


def _export(module: nn.Module, example: torch.Tensor, inputs: list[str], outputs: list[str], path: Path) -> None:
    batch = torch.export.Dim("batch", min=1)
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")  # the exporter's own deprecation notices
            program = torch.onnx.export(
                module,
                (example,),
                input_names=inputs,
                output_names=outputs,
                dynamic_shapes=({0: batch},),
                opset_version=OPSET,
                dynamo=True,
                verbose=False,
            )
            program.save(str(path))
    except Exception as e:  # the exporter's many failure types: one line, the model kind named
        raise VaekitError(f"ONNX export failed for this model: {type(e).__name__}: {str(e).splitlines()[0]}") from None
    finally:
        quiet.setLevel(level)


def _manifest(model: VAEModule, diffs: dict[str, float]) -> dict[str, Any]:
    return {
        "format_version": 1,
        "kind": model.schema.kind,
        "input_shape": list(model.schema.shape),
        "latent_dim": model.config.latent_dim,
        "likelihood": model.config.likelihood.kind,
        "encoder": {"file": "encoder.onnx", "inputs": {"x": "(N, *input_shape) float32, data units"},
                    "outputs": {"mean": "(N, latent_dim)", "logvar": "(N, latent_dim)"}},
        "decoder": {"file": "decoder.onnx", "inputs": {"z": "(N, latent_dim) float32"},
                    "outputs": {"params": "the likelihood's parameters as the decoder outputs them"}},
        "opset": OPSET,
        "max_abs_diff_vs_pytorch": diffs,
    }  # fmt: skip
