"""``vaekit export``: a run's encoder and decoder as ONNX graphs, checked against PyTorch with ONNX Runtime.

``encoder.onnx`` maps x (N, *shape), float32 in data units, to the posterior's ``mean`` and ``logvar`` (N, D);
``decoder.onnx`` maps latents ``z`` (N, D) to the likelihood's parameters ``params`` as the decoder outputs them
(Bernoulli: logits (N, *shape); Gaussian: mean and log-variance stacked as the model's decoder stacks them). The
batch size is dynamic. ``onnx.json`` beside them says what the files hold. Graphs come from PyTorch's exporter
(``torch.onnx.export(..., dynamo=True)``); each is run once with ONNX Runtime on a seeded batch and refused when it
differs from PyTorch by more than ``TOLERANCE``. Needs the onnx extra: ``pip install 'vaekit[onnx]'``.

A conditional model (p(x|z, y), trained with ``condition=``) takes its condition as a second input ``y`` in both
graphs: encoder (x, y) -> (mean, logvar), decoder (z, y) -> params, y (N, width) float32 the condition *features*
the networks read (``VAEModule.condition_features``), not the user's values: per attribute in the model's order, a
one-hot block over its categories (categorical) or one standardized number, ``(value - shift) / scale``
(numeric). ``onnx.json``'s ``condition`` lists each block (name, type, start, size; categories, or shift and
scale), so numpy alone builds y from raw values as ``vaekit.data.condition.condition_values`` reads them (a
category by its name, a whole number 7.0 by "7"). A conditional table model's condition columns are not among
x's ``columns``: they are y.

Sampling: where vaekit draws new codes matters as much as the graphs. A model with fitted codes
(``VAEModule.fitted_codes``: every conditional model, and ``code_prior="fitted"``) draws z not from N(0, I) but
from a full-covariance Gaussian fitted to the training codes of the sample's group (``sample_codes``): one group
per combination of the categorical conditions (``group_of``: a mixed-radix number of their category indices; one
group for all without a categorical condition or with more than 256 combinations). ``onnx.json``'s ``sampling``
then holds each group's ``mean`` (G, D) and Cholesky factor ``chol`` (G, D, D), and z = mean[g] + chol[g] @ eps,
eps ~ N(0, I) (times the temperature), reproduces ``VAE.sample`` up to the random numbers (``prior=True``
draws N(0, I) instead); otherwise it says z ~ N(0, I).

Exported kinds: single-level image and table VAEs, with or without a condition. Sequence (molecule) models,
two-level models and plain autoencoders are refused in one line.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._io import atomic_write, write_text
from ..errors import VaekitError
from ..models.module import VAEModule
from ..vae import load_model

FORMATS = ("onnx",)
TOLERANCE = 1e-4  # max abs difference between ONNX Runtime and PyTorch on the check batch
FILES = ("encoder.onnx", "decoder.onnx", "onnx.json")
CHECK_ROWS = 7
OPSET = 18
BUILD_Y = (
    "y (N, width) float32: the blocks of features, in this order, side by side; a categorical attribute: one-hot "
    'over its categories (1 at the index of the value\'s name in categories; a whole number 7.0 is named "7"), a '
    "numeric one: (value - shift) / scale"
)
GROUP_OF = (
    "g = 0; for each name in group_by, in order: g = g * len(its categories) + the index of its category "
    "(no names: every sample is group 0)"
)


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
        return self.moments(self.features(x))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        m = self.model
        return m.encoder(m._encoder_input(x, None) if m.config.mask_input else (x - m.shift) / m.scale)

    def moments(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, logvar = h[..., : 2 * self.model.config.latent_dim].chunk(2, dim=-1)
        return mean, logvar.clamp(-30.0, 20.0)


class _ConditionalEncoder(_Encoder):
    """(x, condition features y) -> (mean, logvar) of q(z|x, y): the encoder's output corrected by the condition
    head, as ``VAEModule.encode_levels`` does."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(x)
        return self.moments(h + self.model.condition_head(torch.cat([h, y], -1)))


class _Decoder(nn.Module):
    """z -> the decoder's raw output, the likelihood's parameters."""

    def __init__(self, model: VAEModule):
        super().__init__()
        self.model = model

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.decoder(z)


class _ConditionalDecoder(_Decoder):
    """(z, condition features y) -> the decoder's raw output at [z, y] plus the per-condition bias
    (``VAEModule.decode``)."""

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        zc = torch.cat([z, y], -1)
        return self.model.add_condition_bias(self.model.decoder(zc), zc)


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
    folder.mkdir(parents=True, exist_ok=True)
    diffs = {}
    with torch.no_grad():
        for name, (module, inputs, outputs, expected) in _parts(model).items():
            path = folder / f"{name}.onnx"
            atomic_write(path, lambda p, m=module, i=inputs, o=outputs: _export(m, i, o, p))
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            got = session.run(None, {k: v.numpy() for k, v in inputs.items()})
            diffs[name] = max(float(np.abs(g - e.numpy()).max()) for g, e in zip(got, expected, strict=True))
    write_text(folder / "onnx.json", _dumps(_manifest(model, diffs)) + "\n")
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
        else "a plain autoencoder" if model.config.autoencoder
        else None
    )  # fmt: skip
    if kind:
        raise VaekitError(f"ONNX export covers single-level VAEs of images and tables; this run is {kind}")


def _parts(model: VAEModule) -> dict[str, tuple[nn.Module, dict[str, torch.Tensor], list[str], list[torch.Tensor]]]:
    """Per graph: the module to export, its named example inputs, its output names and PyTorch's outputs (what
    ``VAEModule.encode`` and ``decode`` compute) on those inputs."""
    x, z, values = _check_batch(model)
    q = model.encode(x, condition=values)
    zc = model.with_condition(z, values)
    params = model.add_condition_bias(model.decoder(zc), zc)
    if values is None:
        return {
            "encoder": (_Encoder(model), {"x": x}, ["mean", "logvar"], [q.mean, q.logvar]),
            "decoder": (_Decoder(model), {"z": z}, ["params"], [params]),
        }
    y = model.condition_features(values, len(values))
    return {
        "encoder": (_ConditionalEncoder(model), {"x": x, "y": y}, ["mean", "logvar"], [q.mean, q.logvar]),
        "decoder": (_ConditionalDecoder(model), {"z": z, "y": y}, ["params"], [params]),
    }


def _check_batch(model: VAEModule) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """A seeded batch in data units (images in [0, 1]; tables around their means), seeded latents and, for a
    conditional model, seeded condition values (category indices; numbers around their training mean)."""
    g = torch.Generator().manual_seed(0)
    shape = (CHECK_ROWS, *model.schema.shape)
    if model.schema.kind == "image":
        x = torch.rand(shape, generator=g)
    else:
        x = model.shift + model.scale * torch.randn(shape, generator=g)
        for j, c in enumerate(model.cardinalities):  # categorical columns hold category indices
            if c:
                x[:, j] = torch.randint(c, (CHECK_ROWS,), generator=g).float()
    z = torch.randn(CHECK_ROWS, model.config.latent_dim, generator=g)
    cond = model.condition
    if cond is None:
        return x, z, None
    values = model.condition_shift + model.condition_scale * torch.randn(CHECK_ROWS, len(cond.names), generator=g)
    for j, (name, kind) in enumerate(zip(cond.names, cond.types, strict=True)):
        if kind == "categorical":
            values[:, j] = torch.randint(len(cond.categories[name]), (CHECK_ROWS,), generator=g).float()
    return x, z, values


def _export(module: nn.Module, inputs: dict[str, torch.Tensor], outputs: list[str], path: Path) -> None:
    batch = torch.export.Dim("batch", min=1)  # one for all inputs: they hold the same rows
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")  # the exporter's own deprecation notices
            program = torch.onnx.export(
                module,
                tuple(inputs.values()),
                input_names=list(inputs),
                output_names=outputs,
                dynamic_shapes=tuple({0: batch} for _ in inputs),
                opset_version=OPSET,
                dynamo=True,
                verbose=False,
            )
            for node in program.model.graph.all_nodes():  # the exporter's stack traces name this machine's paths
                node.metadata_props.clear()
            program.save(str(path))
    except Exception as e:  # the exporter's many failure types: one line, the model kind named
        raise VaekitError(f"ONNX export failed for this model: {type(e).__name__}: {str(e).splitlines()[0]}") from None
    finally:
        quiet.setLevel(level)


def _manifest(model: VAEModule, diffs: dict[str, float]) -> dict[str, Any]:
    conditional = model.condition is not None
    y = {"y": "(N, condition.width) float32: the condition features (see condition)"} if conditional else {}
    out = {
        "format_version": 1,
        "kind": model.schema.kind,
        "input_shape": list(model.schema.shape),
        "latent_dim": model.config.latent_dim,
        "likelihood": model.config.likelihood.kind,
        "encoder": {"file": "encoder.onnx", "inputs": {"x": "(N, *input_shape) float32, data units", **y},
                    "outputs": {"mean": "(N, latent_dim)", "logvar": "(N, latent_dim)"}},
        "decoder": {"file": "decoder.onnx", "inputs": {"z": "(N, latent_dim) float32", **y},
                    "outputs": {"params": "the likelihood's parameters as the decoder outputs them"}},
    }  # fmt: skip
    if model.schema.kind == "table" and model.schema.columns is not None:
        out["columns"] = list(model.schema.columns)  # x's columns, in order (categorical: category indices)
        out["categories"] = {k: list(v) for k, v in (model.schema.categories or {}).items()}
    out["condition"] = _condition_manifest(model) if conditional else None
    out["sampling"] = _sampling_manifest(model)
    out["opset"] = OPSET
    out["max_abs_diff_vs_pytorch"] = diffs
    return out


def _condition_manifest(model: VAEModule) -> dict[str, Any]:
    """What y is, block by block: enough to build it from raw condition values with numpy."""
    cond = model.condition
    blocks = []
    for j, (name, kind, (start, size, _)) in enumerate(
        zip(cond.names, cond.types, model.condition_blocks(), strict=True)
    ):
        block: dict[str, Any] = {"name": name, "type": kind, "start": start, "size": size}
        if kind == "categorical":
            block["categories"] = list(cond.categories[name])
        else:
            block["shift"] = float(model.condition_shift[j])
            block["scale"] = float(model.condition_scale[j])
        blocks.append(block)
    return {"names": list(cond.names), "width": cond.width, "blocks": blocks, "build": BUILD_Y}


def _sampling_manifest(model: VAEModule) -> dict[str, Any]:
    """Where ``VAE.sample`` draws new codes: N(0, I), or the fitted Gaussian of each condition group."""
    if not model.fitted_codes:
        return {"z": "standard_normal", "how": "z ~ N(0, I), (N, latent_dim)"}
    cond = model.condition
    grouped = cond is not None and len(model.group_mean) > 1
    group_by = [n for n, t in zip(cond.names, cond.types, strict=True) if t == "categorical"] if grouped else []
    return {
        "z": "fitted",
        "how": "z = mean[g] + chol[g] @ eps, eps ~ N(0, I) (latent_dim,) times the temperature (1: vaekit's "
        "default), g the sample's group",
        "groups": len(model.group_mean),
        "group_by": group_by,
        "group_of": GROUP_OF,
        "mean": model.group_mean.tolist(),
        "chol": model.group_chol.tolist(),
    }


def _dumps(value: Any, depth: int = 0) -> str:
    """JSON indented by two spaces, with each list of plain values (numbers, names) on one line: the sampling
    Gaussians take a line per row."""
    pad = "  " * (depth + 1)
    if isinstance(value, dict) and value:
        items = [f"{pad}{json.dumps(k)}: {_dumps(v, depth + 1)}" for k, v in value.items()]
    elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        items = [pad + _dumps(v, depth + 1) for v in value]
    else:
        return json.dumps(value)
    opening, closing = ("{", "}") if isinstance(value, dict) else ("[", "]")
    return opening + "\n" + ",\n".join(items) + "\n" + "  " * depth + closing
