"""What users do with a trained bundle: sample, reconstruct, interpolate, traverse, encode, decode.

Each function loads the run, checks the output path against what the run's kind can write, lets the kind
(``kinds.kind_of``) do the job and returns a :class:`~vaekit.workflows.kinds.Written`: the file and one line
about it. Images: PNG grids (GIF for interpolations), .npy, .csv; tables: .csv (category names) or .npy;
molecules: .smi/.txt, .csv or PNG drawings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..vae import load_model
from .kinds import NONE, Endpoints, Options, Written, kind_of
from .outputs import check_out

WHAT = {
    "sample": "samples",
    "reconstruct": "reconstructions",
    "interpolate": "the interpolation",
    "traverse": "the traversal",
    "encode": "latent codes",
    "decode": "decoded samples",
}


def _open(run: str | Path, operation: str, out: str | Path, overwrite: bool):
    model = load_model(run)
    kind = kind_of(model)
    return model, kind, check_out(out, kind.formats[operation], WHAT[operation], overwrite=overwrite)


def sample(
    run: str | Path, n: int, out: str | Path, seed: int = 0, *, options: Options = NONE, overwrite: bool = False
) -> Written:
    """n new samples from the prior, decoded (images: the likelihood mean; tables: drawn rows, ``mean=True`` the
    most probable values; molecules: drawn token by token at ``temperature``; see ``kinds.Options``). A conditional
    model samples p(x|z, y) for ``options.condition`` ({"label": "7"}); without one, a model conditioned on one
    categorical attribute samples every category in turn (a grid row each); its codes come from the Gaussians
    fitted to its training codes, or with ``options.prior`` from N(0, I). Molecules conditioned on properties RDKit
    computes are checked: only those within ``options.tolerance`` of the request are written
    (``molecules.sample_within``)."""
    model, kind, out = _open(run, "sample", out, overwrite)
    return kind.sample(model, n, out, seed, options)


def reconstruct(
    run: str | Path,
    data: str | None,
    n: int | None,
    out: str | Path,
    *,
    condition: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Written:
    """The first n inputs of ``data`` (its test split when it has one) and their reconstructions; a conditional
    model decodes them with ``condition`` when given (counterfactuals: the same input, another condition)."""
    model, kind, out = _open(run, "reconstruct", out, overwrite)
    return kind.reconstruct(model, data, n, out, Options(condition=condition))


def interpolate(
    run: str | Path,
    out: str | Path,
    ends: Endpoints,
    steps: int = 10,
    slerp: bool = False,
    *,
    condition: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Written:
    """Decode the path between the codes of rows I and J of the data (molecules: of two SMILES); ``ends`` says
    which (``Endpoints(data, (i, j))`` or ``Endpoints(smiles=(a, b))``)."""
    model, kind, out = _open(run, "interpolate", out, overwrite)
    return kind.interpolate(model, ends, steps, out, slerp, Options(condition=condition))


def traverse(
    run: str | Path,
    out: str | Path,
    dims: list[int] | None = None,
    span: float = 3.0,
    steps: int = 9,
    *,
    condition: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Written:
    """One row per latent dimension, varied over [-span, span] prior standard deviations around the mean."""
    model, kind, out = _open(run, "traverse", out, overwrite)
    return kind.traverse(model, dims, span, steps, out, Options(condition=condition))


def encode(
    run: str | Path, data: str | None, out: str | Path, draw: bool = False, seed: int = 0, *, overwrite: bool = False
) -> Written:
    """Posterior means (or one draw) of every input (the test split when the data has one): (N, D) to .npy, or
    .csv with z0..z{D-1} columns (and a label or smiles column when known); ``decode`` reads either back."""
    model, kind, out = _open(run, "encode", out, overwrite)
    return kind.encode(model, data, out, draw, seed)


def decode(
    run: str | Path,
    latents: str | Path,
    out: str | Path,
    *,
    condition: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Written:
    """Decode latent vectors from a .npy/.npz/.csv file (N, D) (``encode``'s CSV included) to data (a conditional
    model: given ``condition``)."""
    model, kind, out = _open(run, "decode", out, overwrite)
    return kind.decode(model, latents, out, Options(condition=condition))
