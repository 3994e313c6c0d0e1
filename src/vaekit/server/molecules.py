"""Molecule endpoints of ``vaekit serve``, for sequence (SMILES/SELFIES) runs: SMILES in, canonical SMILES out.

For a model NAME trained on molecules (``schema.kind == "sequence"``; any other model gets a 422, an unknown name a
404):

* ``POST /models/NAME/molecules/sample`` ``{"n", "temperature", "seed", "condition", "draw"}``: new molecules and
  which are valid (``workflows.molecules.sample_with_validity``)
* ``POST /models/NAME/molecules/reconstruct`` ``{"smiles", "condition", "draw"}``: each input canonicalized beside
  the greedy decoding of its code, and whether they match (``reconstruct_molecules``)
* ``POST /models/NAME/molecules/neighbours`` ``{"smiles", "n", "spread", "seed", "condition", "draw"}``: one
  molecule's reconstruction and the molecules decoded around its code, with their Tanimoto similarity to it
* ``POST /models/NAME/molecules/optimize`` ``{"property", "goal", "budget", "n", "seed", "similar_to", "min_sim",
  "method", "spread", "condition"}``: the best molecules a latent-space search finds within ``budget`` decoder
  calls (``workflows.optimize.optimize``), at most ``MAX_BUDGET`` per request

``condition`` is a conditional model's {name: value}; ``draw`` adds RDKit SVG drawings (null for an invalid
molecule). A SMILES that RDKit cannot read, or that the model's vocabulary cannot write, is a 422 naming it. RDKit
is imported on first use (the ``molecules`` extra), so a server of image and table models never loads it.

The helpers shared with the package's router (the model by name, the limits) are in ``common``.
"""

from __future__ import annotations

import random
import time
from typing import Annotated, Any, Literal

import torch
from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from ..vae import VAE
from ..workflows.molecules import MIN_TEMPERATURE
from .common import Seed, at_most, served, served_model

MAX_BUDGET = 2000  # decoder calls per optimize request: 1,000 took 2-3 s on a MOSES model on 2 CPU cores
MAX_SMILES_CHARS = 1000  # characters of one SMILES in a request
DEFAULT_SPREAD = 0.3  # neighbours: as evolve's step near a molecule (workflows.optimize.SPREAD_NEAR)
SVG_SIZE = (240, 180)
MAX_CONDITION = 1e9  # a numeric condition value's magnitude (the model reads float32)

router = APIRouter()

Smiles = Annotated[str, Field(min_length=1, max_length=MAX_SMILES_CHARS)]
Number = Annotated[float, Field(allow_inf_nan=False, ge=-MAX_CONDITION, le=MAX_CONDITION)]
Condition = dict[str, Number | str] | None
CONDITION = "a conditional model's values, {name: value} (numbers, or category names)"


class MoleculeSampleRequest(BaseModel):
    n: int = Field(8, ge=1, description="how many molecules (at most the server's sample limit)")
    temperature: float = Field(
        1.0, ge=MIN_TEMPERATURE, le=10, description="below 1: the likeliest tokens; above 1: more varied"
    )
    seed: Seed | None = Field(None, description="same seed, same molecules; null: a random seed (returned)")
    condition: Condition = Field(None, description=CONDITION + "; needed by a conditional model")
    draw: bool = Field(False, description="add RDKit SVG drawings")


class MoleculeReconstructRequest(BaseModel):
    smiles: list[Smiles] = Field(..., min_length=1, description="SMILES (at most the server's row limit)")
    condition: Condition = Field(None, description=CONDITION + "; default: each molecule's own values")
    draw: bool = Field(False, description="add RDKit SVG drawings of inputs and reconstructions")


class NeighboursRequest(BaseModel):
    smiles: Smiles = Field(..., description="the molecule whose neighbourhood to decode")
    n: int = Field(8, ge=1, description="neighbours (at most the server's sample limit)")
    spread: float = Field(
        DEFAULT_SPREAD, gt=0, le=10, description="how far from its code, in standard deviations of the training codes"
    )
    seed: Seed = Field(0, description="same seed, same neighbours")
    condition: Condition = Field(None, description=CONDITION + "; default: the molecule's own values")
    draw: bool = Field(False, description="add RDKit SVG drawings")


class OptimizeRequest(BaseModel):
    property: str = Field("qed", description="the RDKit property to optimize: qed, logp, sa, weight or plogp")
    goal: Literal["maximize", "minimize"] = Field("maximize", description="high or low values")
    budget: int = Field(100, ge=1, description=f"decoder calls to spend (at most {MAX_BUDGET:,})")
    n: int = Field(10, ge=1, description="rows to return, best first (at most the server's row limit)")
    seed: Seed = Field(0, description="same seed, same search")
    similar_to: Smiles | None = Field(None, description="start from this SMILES and keep molecules similar to it")
    min_sim: float = Field(0.4, ge=0, le=1, description="least Tanimoto similarity to similar_to (Morgan, r=2)")
    method: Literal["auto", "evolve", "gradient"] = Field(
        "auto", description="evolve: evolution on RDKit's value (auto); gradient: ascent on the property head"
    )
    spread: float | None = Field(
        None, ge=0, le=10, description="evolve: children's distance from their parent, in training-code std"
    )
    condition: Condition = Field(None, description=CONDITION + "; default: the property pushed toward the goal")


# -- helpers -------------------------------------------------------------------------------------------------------
def _molecule_model(request: Request, name: str) -> VAE:
    """The served model NAME: 404 when unknown, 422 when it is not a molecule model."""
    m = served_model(request, name)
    if m.schema.kind != "sequence":
        raise HTTPException(422, f"molecule endpoints need a model of molecules; '{name}' holds {m.schema.kind} data")
    return m


def _canonical(model: VAE, smiles: list[str], field: str) -> list[str]:
    """Canonical SMILES of the inputs; a 422 naming the first one RDKit cannot read or the vocabulary cannot write."""
    return _encoded(model, smiles, field)[0]


def _encoded(model: VAE, smiles: list[str], field: str) -> tuple[list[str], Any]:
    """The inputs' canonical SMILES and their encoding in the model's vocabulary (``Encoded``: ``ids`` (N, L)),
    every input kept; a 422 naming the first one RDKit cannot read or the vocabulary cannot write."""
    from ..molecules.data import canonical_smiles
    from ..molecules.dataset import vocabulary_of

    out = []
    for i, s in enumerate(smiles):
        c = canonical_smiles(s)
        if c is None:
            raise HTTPException(422, f"{field if len(smiles) == 1 else f'{field}[{i}]'}: {s!r} is not a valid SMILES")
        out.append(c)
    vocab = vocabulary_of(model.schema)
    enc = vocab.encode_batch(out, on_unknown="skip", on_error="skip")
    if len(enc.kept) < len(out):
        kept = set(enc.kept)
        i = next(i for i in range(len(out)) if i not in kept)
        why = _why_not_encodable(vocab, out[i])
        where = field if len(smiles) == 1 else f"{field}[{i}]"
        raise HTTPException(422, f"{where}: {smiles[i]!r} cannot be written in this model's vocabulary ({why})")
    return out, enc


def _why_not_encodable(vocab: Any, smiles: str) -> str:
    from ..errors import DataError

    try:
        tokens = vocab.tokenize(smiles)
    except DataError as e:
        return str(e)
    unknown = [t for t in tokens if t not in vocab.tokens]
    if unknown:
        return f"tokens it never saw: {', '.join(repr(t) for t in dict.fromkeys(unknown))}"
    return f"{len(tokens)} tokens, more than its {vocab.max_length}"


def _not_conditional(model: VAE, condition: dict[str, Any] | None) -> None:
    if condition is not None and model.condition is None:
        raise HTTPException(422, "this model is not conditional: leave out the condition")


def _condition(model: VAE, condition: dict[str, Any] | None, needed: bool) -> torch.Tensor | None:
    """A conditional model's y (1, K) from the request; None when not given (then refused where ``needed``)."""
    _not_conditional(model, condition)
    if condition is None and not needed:
        return None
    return model.condition_values(condition, 1)  # the one-line errors: unknown name, needed, not conditional


def _svg(smiles: str | None) -> str | None:
    """An RDKit drawing of a molecule as SVG text; None when it cannot be read."""
    from rdkit import Chem
    from rdkit.Chem.Draw import rdMolDraw2D
    from rdkit.rdBase import BlockLogs

    with BlockLogs():
        mol = Chem.MolFromSmiles(smiles) if smiles else None
    if mol is None:
        return None
    drawer = rdMolDraw2D.MolDraw2DSVG(*SVG_SIZE)
    drawer.DrawMolecule(mol)
    drawer.FinishDrawing()
    return drawer.GetDrawingText()


def _drawings(smiles: list[str], valid: list[bool]) -> list[str | None]:
    return [_svg(s) if ok else None for s, ok in zip(smiles, valid, strict=True)]


def _similarities(smiles: list[str], valid: list[bool], reference: str) -> list[float | None]:
    """Tanimoto similarity of each valid molecule to ``reference`` (workflows.optimize.tanimoto), None if invalid."""
    from ..workflows.optimize import tanimoto

    kept = [s for s, ok in zip(smiles, valid, strict=True) if ok]
    sims = iter(tanimoto(kept, reference).tolist() if kept else [])
    return [next(sims) if ok else None for ok in valid]


def _condition_names(model: VAE, y: torch.Tensor | None) -> dict[str, Any]:
    if y is None:
        return {}
    from ..workflows.optimize import condition_dict

    return {"condition": condition_dict(model, y)}


# -- the Python side of the endpoints --------------------------------------------------------------------------------
@torch.no_grad()
def neighbours(
    model: VAE, smiles: str, n: int = 8, spread: float = DEFAULT_SPREAD, seed: int = 0, condition: Any = None
) -> dict[str, Any]:
    """The greedy decoding of a molecule's posterior mean and of n codes around it, N(mean, (spread · s)² I) (s: the
    standard deviation of the training codes per dimension where the model fitted them, else 1). A conditional
    model encodes the molecule with its own values and decodes with them, or with ``condition`` (1, K).
    Returns ``smiles`` (canonical), ``z`` (the mean, (D,)), ``reconstruction``, and the neighbours' ``neighbours``
    (canonical SMILES, raw when invalid), ``valid`` and ``distance`` (from the mean, in units of s)."""
    from ..workflows.molecules import decode_ids, encode_smiles, own_condition

    enc = encode_smiles(model, [smiles])
    own = own_condition(model, enc.smiles)
    z0 = model.encode(enc.ids, condition=own).mean  # (1, D)
    eps = torch.randn(n, model.config.latent_dim, generator=torch.Generator().manual_seed(seed)).to(z0)
    z = torch.cat([z0, z0 + spread * model.code_std * eps])
    y = condition if condition is not None else own
    decoded, valid = decode_ids(model, model.decode(z, None if y is None else y.expand(len(z), -1)).mean)
    return {
        "smiles": enc.smiles[0],
        "z": z0[0].tolist(),
        "reconstruction": decoded[0],
        "neighbours": decoded[1:],
        "valid": valid[1:],
        "distance": (spread * eps.norm(dim=-1)).tolist(),
    }


# -- endpoints ---------------------------------------------------------------------------------------------------------
@router.post("/models/{name}/molecules/sample")
def sample(name: str, body: MoleculeSampleRequest, request: Request) -> dict[str, Any]:
    """New molecules: canonical SMILES (as generated when invalid) and which are valid."""
    from ..workflows.molecules import sample_with_validity

    m = _molecule_model(request, name)
    at_most(body.n, served(request).limits.samples, "samples")
    y = _condition(m, body.condition, needed=True)
    seed = body.seed if body.seed is not None else random.SystemRandom().randrange(2**31)
    smiles, valid = sample_with_validity(m, body.n, body.temperature, seed, condition=y)
    out: dict[str, Any] = {"smiles": smiles, "valid": valid, "seed": seed, **_condition_names(m, y)}
    if body.draw:
        out["svg"] = _drawings(smiles, valid)
    return out


@router.post("/models/{name}/molecules/reconstruct")
def reconstruct(name: str, body: MoleculeReconstructRequest, request: Request) -> dict[str, Any]:
    """Each input's canonical SMILES, the greedy decoding of its posterior mean, and whether they are the same."""
    from ..workflows.molecules import reconstruct_molecules

    m = _molecule_model(request, name)
    at_most(len(body.smiles), served(request).limits.rows, "molecules")
    y = _condition(m, body.condition, needed=False)
    canonical = _canonical(m, body.smiles, "smiles")
    rec = reconstruct_molecules(m, canonical, condition=y)
    rows = rec.table.to_dict(orient="records")  # input, reconstruction, match
    for row, given in zip(rows, body.smiles, strict=True):
        row["given"] = given
        row["valid"] = _valid(row["reconstruction"])
        if body.draw:
            row["input_svg"], row["reconstruction_svg"] = _svg(row["input"]), _svg(row["reconstruction"])
    return {"rows": rows, "accuracy": rec.accuracy, **_condition_names(m, y)}


def _valid(smiles: str) -> bool:
    from ..molecules.data import canonical_smiles

    return canonical_smiles(smiles) is not None


@router.post("/models/{name}/molecules/neighbours")
def neighbours_endpoint(name: str, body: NeighboursRequest, request: Request) -> dict[str, Any]:
    """A molecule's reconstruction and the molecules decoded around its code, with Tanimoto similarity to it."""
    m = _molecule_model(request, name)
    at_most(body.n, served(request).limits.samples, "neighbours")
    y = _condition(m, body.condition, needed=False)
    canonical = _canonical(m, [body.smiles], "smiles")[0]
    found = neighbours(m, canonical, body.n, body.spread, body.seed, y)
    found["given"] = body.smiles
    found["match"] = found["reconstruction"] == found["smiles"]
    found["similarity"] = _similarities(found["neighbours"], found["valid"], canonical)
    found["distinct"] = len({s for s, ok in zip(found["neighbours"], found["valid"], strict=True) if ok})
    if body.draw:
        found["svg"] = _svg(canonical)
        found["reconstruction_svg"] = _svg(found["reconstruction"])
        found["neighbour_svg"] = _drawings(found["neighbours"], found["valid"])
    return found | _condition_names(m, y)


@router.post("/models/{name}/molecules/optimize")
def optimize_endpoint(name: str, body: OptimizeRequest, request: Request) -> dict[str, Any]:
    """The distinct valid molecules a search in latent space found within ``budget`` decoder calls, best first,
    with their RDKit values; the counts of the search beside them."""
    from ..molecules.properties import property_names
    from ..workflows.optimize import optimize

    m = _molecule_model(request, name)
    at_most(body.budget, MAX_BUDGET, "decoder calls (budget)")
    at_most(body.n, served(request).limits.rows, "rows")
    (prop,) = property_names([body.property])  # a VaekitError (422) names the choices
    _not_conditional(m, body.condition)
    similar_to = _canonical(m, [body.similar_to], "similar_to")[0] if body.similar_to is not None else None
    start = time.perf_counter()
    table = optimize(
        m, prop, body.budget, maximize=body.goal == "maximize", similar_to=similar_to, min_sim=body.min_sim,
        seed=body.seed, method=body.method, spread=body.spread, condition=body.condition,
    )  # fmt: skip
    return {
        "property": prop,
        "goal": body.goal,
        "rows": table.head(body.n).to_dict(orient="records"),
        "found": len(table),
        **table.attrs,  # decoder_calls, invalid, duplicates, below_min_sim, method (condition, start_value, ...)
        "seconds": round(time.perf_counter() - start, 3),
    }


def describe(m: VAE) -> dict[str, Any]:
    """What ``GET /models`` says of a molecule model beyond the common fields."""
    from ..molecules.properties import PROPERTY_FUNCTIONS

    vocab = m.schema.vocabulary or {}
    cond = m.condition
    stats = None  # the training mean and standard deviation of each numeric condition: where to start a form
    if cond is not None:
        stats = {
            c: {"mean": float(m.condition_shift[j]), "std": float(m.condition_scale[j])}
            for j, (c, kind) in enumerate(zip(cond.names, cond.types, strict=True))
            if kind == "numeric"
        }
    return {
        "molecules": {
            "representation": vocab.get("representation"),
            "max_tokens": vocab.get("max_length"),
            "properties": list(m.config.properties),  # what the property head predicts (gradient can climb these)
            "optimizable": list(PROPERTY_FUNCTIONS),  # what optimize scores with RDKit
            "condition_stats": stats,
            "max_budget": MAX_BUDGET,
        }
    }


def token_ids(m: VAE, smiles: list[str]) -> torch.Tensor:
    """SMILES as the model's token ids (N, L), for the generic endpoints (encode, reconstruct, anomaly...)."""
    return _encoded(m, smiles, "inputs")[1].ids


def rendered(m: VAE, ids: torch.Tensor) -> dict[str, Any]:
    """Token-id rows (N, L) a molecule model decoded or sampled, as the generic endpoints could answer them:
    canonical SMILES (as written when invalid) and which are valid."""
    from ..workflows.molecules import decode_ids

    smiles, valid = decode_ids(m, ids)
    return {"smiles": smiles, "valid": valid}
