"""What users do with a trained sequence VAE (molecules): encode SMILES, sample, reconstruct, interpolate, draw,
and the MOSES metrics of a file of generated SMILES.

Inputs are canonicalized with RDKit; invalid SMILES, and molecules the model's vocabulary cannot write (a token it
never saw, too many tokens), are counted and skipped with a one-line report, never a crash. What the model
generates is returned as RDKit-canonical SMILES when it parses, and as generated when it does not: SELFIES always
decode to a molecule, a SMILES model can write invalid strings, and validity is for the metrics to measure.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from .._io import atomic_write, write_text
from ..data.condition import condition_rows
from ..errors import DataError
from ..molecules.data import SmilesSet, canonical_smiles, canonicalize, load_smiles, read_smiles_rows
from ..molecules.dataset import vocabulary_of
from ..vae import VAE, slerp_path
from .outputs import check_out, save_array

if TYPE_CHECKING:
    from ..molecules.metrics import ReferenceStats

DRAW_EXT = {".png"}
MOSES_SUBSET = 2000  # molecules of a MOSES split that evaluate / reconstruct use (a seeded random sample)
N_EXAMPLES = 3  # skipped inputs quoted in a report
EMPTY_REDRAWS = 10  # times a sample that writes no molecule is drawn again (sample_with_validity)
MIN_TEMPERATURE = 0.01  # the server's bound too


# -- encoding ----------------------------------------------------------------------------------------------------
@dataclass
class EncodedMolecules:
    """Molecules as a sequence model's token ids, with what was skipped on the way."""

    ids: torch.Tensor  # (N, L) int64 token ids of the molecules kept, on the model's device
    smiles: list[str]  # their canonical SMILES, in input order
    source: str  # where they came from, for humans
    n_read: int  # molecules given
    n_invalid: int = 0  # inputs RDKit could not parse
    invalid_examples: tuple[str, ...] = ()
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> molecules the vocabulary cannot write
    unknown_tokens: Counter[str] = field(default_factory=Counter)  # tokens outside the vocabulary -> count

    @property
    def n_skipped(self) -> int:
        """Inputs not encoded: invalid SMILES and molecules the vocabulary cannot write."""
        return self.n_invalid + sum(self.skipped.values())

    def summary(self) -> str:
        """One line: how many were encoded and, when some were skipped, how many and why (with examples)."""
        parts = []
        if self.n_invalid:
            examples = ", ".join(repr(s) for s in self.invalid_examples[:N_EXAMPLES])
            parts.append(f"{self.n_invalid:,} invalid SMILES (e.g. {examples})")
        for reason, n in self.skipped.items():
            if reason == "unknown tokens":
                tokens = ", ".join(repr(t) for t, _ in self.unknown_tokens.most_common(N_EXAMPLES))
                parts.append(f"{n:,} with tokens outside the model's vocabulary ({tokens})")
            elif reason == "too long":
                parts.append(f"{n:,} longer than the model's {self.ids.shape[1] - 2} tokens")
            else:
                parts.append(f"{n:,} the vocabulary cannot encode ({reason})")
        line = f"{self.source}: {len(self.smiles):,} of {self.n_read:,} molecules encoded"
        return line + (f"; skipped {'; '.join(parts)}" if parts else "")


def _device(model: VAE) -> torch.device:
    return next(model.parameters()).device


def _require_sequence(model: VAE) -> None:
    if not model.is_sequence:
        raise DataError(f"this model was trained on {model.schema.kind} data, not on molecules")


def encode_smiles(model: VAE, smiles: Sequence[str] | SmilesSet, source: str = "input") -> EncodedMolecules:
    """Token ids of molecules for ``model``: canonicalized (a :class:`SmilesSet` already is, and its invalid count
    carries over), invalid SMILES and molecules the vocabulary cannot write skipped and counted. Nothing left to
    encode is a DataError."""
    _require_sequence(model)
    vocab = vocabulary_of(model.schema)
    mols = smiles if isinstance(smiles, SmilesSet) else canonicalize(smiles, source)
    enc = vocab.encode_batch(mols.smiles, on_unknown="skip", on_error="skip")
    kept = set(enc.kept)
    unknown: Counter[str] = Counter()
    if enc.skipped.get("unknown tokens"):  # which tokens: the message names the commonest
        for i, s in enumerate(mols.smiles):
            if i not in kept:
                try:
                    unknown.update(t for t in vocab.tokenize(s) if t not in vocab.tokens)
                except DataError:
                    continue
    result = EncodedMolecules(
        enc.ids.to(_device(model)),
        [mols.smiles[i] for i in enc.kept],
        mols.source,
        mols.n_read,
        mols.n_invalid,
        mols.invalid_examples,
        enc.skipped,
        unknown,
    )
    if not result.smiles:
        raise DataError(f"no molecule left to encode: {result.summary()}")
    return result


def decode_ids(model: VAE, ids: torch.Tensor) -> tuple[list[str], list[bool]]:
    """The molecules written by token-id rows (N, L): canonical SMILES where RDKit reads them, the others as
    written; and which were read."""
    strings = vocabulary_of(model.schema).decode_batch(ids.cpu())
    canonical = [canonical_smiles(s) for s in strings]
    valid = [c is not None for c in canonical]
    return [c if c is not None else s for s, c in zip(strings, canonical, strict=True)], valid


def own_condition(model: VAE, smiles: Sequence[str]) -> torch.Tensor | None:
    """A model conditioned on properties: each molecule's own values of them (N, K), computed with RDKit; None for
    a model without a condition."""
    if model.condition is None:
        return None
    from ..molecules.properties import property_table

    table = property_table(list(smiles), model.condition.names)
    return torch.from_numpy(table).float().to(_device(model))


@torch.no_grad()
def decode_greedy(
    model: VAE, z: torch.Tensor, batch_size: int = 1000, condition: torch.Tensor | None = None
) -> list[str]:
    """The most probable molecule of each latent (N, D): greedy decoding, canonical SMILES (raw if invalid). A
    conditional model decodes with ``condition`` (N, K), or one row (1, K) for all."""
    smiles: list[str] = []
    y = _per_row(condition, len(z))
    for i in range(0, len(z), batch_size):
        smiles += decode_ids(model, model.decode(z[i : i + batch_size], condition_rows(y, i, batch_size)).mean)[0]
    return smiles


def _per_row(condition: torch.Tensor | None, n: int) -> torch.Tensor | None:
    """Condition values (n, K) from (n, K) or one row (1, K) for all; None stays None."""
    return None if condition is None else condition.expand(n, -1) if len(condition) == 1 else condition


@torch.no_grad()
def reconstruct_ids(
    model: VAE, ids: torch.Tensor, batch_size: int = 1000, condition: torch.Tensor | None = None
) -> list[str]:
    """Greedy decoding of the posterior mean of every token-id row (N, L): canonical SMILES (raw if invalid); a
    conditional model encodes and decodes with each row's ``condition``."""
    z = model.latent_codes(ids, batch_size=batch_size, condition=condition)
    return decode_greedy(model, z, batch_size, condition)


# -- generate, reconstruct, interpolate ---------------------------------------------------------------------------
@torch.no_grad()
def sample_with_validity(
    model: VAE,
    n: int,
    temperature: float = 1.0,
    seed: int = 0,
    batch_size: int = 1000,
    condition: torch.Tensor | None = None,
    prior: bool = False,
) -> tuple[list[str], list[bool]]:
    """``sample_molecules`` and which of the molecules are valid. A conditional model samples p(x|z, y) for
    ``condition`` (n, K) or one row (1, K). z from the Gaussian fitted to the training codes when the model has one
    (``fitted_codes``: conditional models, ``code_prior="fitted"``), else N(0, I); ``prior``: N(0, I) always."""
    _check_sampling(model, n, temperature)
    dev = _device(model)
    g = torch.Generator(dev).manual_seed(seed)
    return _draw(model, n, temperature, g, None if condition is None else condition.to(dev), prior, batch_size)


def _check_sampling(model: VAE, n: int, temperature: float) -> None:
    _require_sequence(model)
    if n < 1:
        raise DataError("--n must be at least 1")
    if not temperature >= MIN_TEMPERATURE:  # below it the scaled logits overflow float32 (and NaN is refused too)
        raise DataError(
            f"--temperature must be at least {MIN_TEMPERATURE}, got {temperature} (0.1: nearly the likeliest tokens)"
        )


def _draw(
    model: VAE, n: int, temperature: float, g: torch.Generator, condition: torch.Tensor | None, prior: bool,
    batch_size: int,
) -> tuple[list[str], list[bool]]:  # fmt: skip
    dev = _device(model)
    smiles: list[str] = []
    valid: list[bool] = []
    y_all = _per_row(condition, n)
    for start in range(0, n, batch_size):
        eps = torch.randn(min(batch_size, n - start), model.config.latent_dim, generator=g, device=dev)
        y = condition_rows(y_all, start, batch_size)
        z = eps if prior or not model.fitted_codes else model.sample_codes(y, eps=eps)
        batch, ok = _draw_nonempty(model, z, y, temperature, g)
        smiles += batch
        valid += ok
    return smiles, valid


# -- property-targeted sampling, checked with RDKit -------------------------------------------------------------
TOLERANCE = 0.25  # default window: a quarter of the property's standard deviation over the training molecules
MAX_DRAWS = 50  # draws per molecule asked for, at most, before sample_within gives what it found


def checked_properties(model: VAE) -> tuple[str, ...]:
    """The conditions of a molecule model RDKit can compute for any molecule (``PROPERTY_FUNCTIONS``), which
    ``sample_within`` checks every sample against."""
    from ..molecules.properties import PROPERTY_FUNCTIONS

    cond = model.condition
    if cond is None or not model.is_sequence:
        return ()
    return tuple(n for n, t in zip(cond.names, cond.types, strict=True) if t == "numeric" and n in PROPERTY_FUNCTIONS)


def default_tolerance(model: VAE) -> dict[str, float]:
    """±``TOLERANCE`` standard deviations of each checked property over the training molecules (logP on MOSES:
    ±0.23, QED: ±0.02)."""
    names = list(model.condition.names) if model.condition is not None else []
    return {n: TOLERANCE * float(model.condition_scale[names.index(n)]) for n in checked_properties(model)}


@dataclass
class Matched:
    """Molecules whose RDKit-computed properties lie within ``tolerance`` of the values asked for."""

    smiles: list[str]  # canonical SMILES, at most the n asked for, in the order drawn
    values: np.ndarray  # (len(smiles), K) their RDKit values of ``names``
    names: tuple[str, ...]
    requested: dict[str, float]
    tolerance: dict[str, float]
    drawn: int  # samples drawn to find them (valid or not)
    n: int  # molecules asked for

    def summary(self) -> str:
        window = ", ".join(f"{k} {self.requested[k]:g} ± {v:.3g}" for k, v in self.tolerance.items())
        line = (
            f"{len(self.smiles):,} of {self.drawn:,} molecules drawn have RDKit {window} "
            f"({len(self.smiles) / max(self.drawn, 1):.1%})"
        )
        if len(self.smiles) < self.n:
            line += f"; only {len(self.smiles):,} of the {self.n:,} asked for: widen --tolerance or ask for fewer"
        return line


@torch.no_grad()
def sample_within(
    model: VAE,
    n: int,
    condition: torch.Tensor,
    tolerance: dict[str, float] | None = None,
    temperature: float = 1.0,
    seed: int = 0,
    prior: bool = False,
    max_draws: int = MAX_DRAWS,
) -> Matched:
    """n molecules the conditional model generates for ``condition`` (1, K) whose RDKit-computed properties are
    within ``tolerance`` ({name: ±value}; default ``default_tolerance``) of the values asked for: samples of
    p(x | y) (z as in ``sample_with_validity``) restricted to the window, drawn a thousand at a time until n are
    found or ``max_draws`` · n samples were drawn (then fewer, as ``Matched.summary`` says). The model proposes,
    RDKit checks: a molecule returned has the properties asked for, however closely the model alone follows its
    condition."""
    from ..molecules.properties import property_table

    _check_sampling(model, n, temperature)
    names = checked_properties(model)
    tolerance = default_tolerance(model) if tolerance is None else dict(tolerance)
    bad = [k for k in tolerance if k not in names]
    if bad:
        raise DataError(
            f"a tolerance applies to the model's conditions RDKit computes ({', '.join(names) or 'none'}), "
            f"not {bad[0]!r}"
        )
    if not tolerance:
        raise DataError("give a tolerance for at least one condition")
    if any(not v > 0 for v in tolerance.values()):
        raise DataError("a tolerance must be above 0")
    checked = list(tolerance)
    cols = [list(model.condition.names).index(k) for k in checked]
    y = condition.to(_device(model))[:1]
    want = np.array([float(y[0, j]) for j in cols])
    width = np.array([tolerance[k] for k in checked])
    g = torch.Generator(_device(model)).manual_seed(seed)
    found: list[str] = []
    values: list[np.ndarray] = []
    drawn = 0
    while len(found) < n and drawn < max_draws * n:
        m = min(1000, max_draws * n - drawn)
        smiles, valid = _draw(model, m, temperature, g, y, prior, 1000)
        drawn += m
        kept = [s for s, v in zip(smiles, valid, strict=True) if v and s]
        if not kept:
            continue
        props = property_table(kept, checked, workers=1)
        inside = np.all(np.abs(props - want) <= width, axis=1)
        found += [s for s, ok in zip(kept, inside, strict=True) if ok]
        values.append(props[inside])
    table = np.concatenate(values)[:n] if values else np.zeros((0, len(checked)))
    requested = {k: float(v) for k, v in zip(checked, want, strict=True)}
    return Matched(found[:n], table, tuple(checked), requested, tolerance, drawn, n)


def _draw_nonempty(
    model: VAE, z: torch.Tensor, y: torch.Tensor | None, temperature: float, g: torch.Generator
) -> tuple[list[str], list[bool]]:
    """One molecule drawn from p(x|z[, y]) per code, and which are valid. Token rows that write no molecule at all
    (SELFIES such as ``[Branch1][Ring1]`` decode to an empty string) are drawn again from the same code, up to
    ``EMPTY_REDRAWS`` times: the model's support is non-empty molecules (the likelihood already never ends a
    sequence at its first token), so this samples p(x|z) restricted to it. A row still empty stays empty and
    invalid."""
    p = model.decode(z, y)
    p.temperature = temperature
    smiles, valid = decode_ids(model, p.sample(g))
    for _ in range(EMPTY_REDRAWS):
        empty = [i for i, s in enumerate(smiles) if not s]
        if not empty:
            break
        rows = torch.tensor(empty, device=z.device)
        p = model.decode(z[rows], None if y is None else y[rows])
        p.temperature = temperature
        again, ok = decode_ids(model, p.sample(g))
        for i, s, v in zip(empty, again, ok, strict=True):
            smiles[i], valid[i] = s, v
    return smiles, valid


def sample_molecules(model: VAE, n: int, temperature: float = 1.0, seed: int = 0, batch_size: int = 1000) -> list[str]:
    """n new molecules: z from the model's code distribution (``sample_with_validity``), tokens drawn one by one
    from the decoder at ``temperature`` (below 1: closer to the most probable tokens, above 1: more varied).
    Canonical SMILES; a string that does not parse (a SMILES model can write one; SELFIES cannot) is kept as
    generated, so the list always has n entries and its validity can be measured. The same seed (and batch_size)
    gives the same molecules."""
    return sample_with_validity(model, n, temperature, seed, batch_size)[0]


@dataclass
class Reconstructions:
    """Inputs beside the model's reconstruction of them."""

    table: pd.DataFrame  # columns input (canonical SMILES), reconstruction, match (bool)
    accuracy: float  # share of exact matches (same canonical SMILES)
    encoded: EncodedMolecules  # what was encoded and what skipped (``encoded.summary()``)


@torch.no_grad()
def reconstruct_molecules(
    model: VAE, smiles: Sequence[str] | SmilesSet, batch_size: int = 1000, condition: torch.Tensor | None = None
) -> Reconstructions:
    """Greedy decoding of each molecule's posterior mean, compared as canonical SMILES (deterministic, no seed).
    Invalid and unencodable inputs are skipped and counted (``.encoded``). A conditional model encodes each
    molecule with its own properties and decodes with them, or with ``condition`` (1, K) when given: the same
    molecule, asked for other properties."""
    enc = encode_smiles(model, smiles)
    own = own_condition(model, enc.smiles)
    if condition is None:
        recon = reconstruct_ids(model, enc.ids, batch_size, own)
    else:
        recon = decode_greedy(model, model.latent_codes(enc.ids, batch_size=batch_size, condition=own), batch_size,
                              condition)  # fmt: skip
    match = [r == s for r, s in zip(recon, enc.smiles, strict=True)]
    table = pd.DataFrame({"input": enc.smiles, "reconstruction": recon, "match": match})
    return Reconstructions(table, float(np.mean(match)), enc)


@torch.no_grad()
def interpolate_molecules(
    model: VAE, a: str, b: str, steps: int = 10, slerp: bool = False, condition: torch.Tensor | None = None
) -> list[str]:
    """``steps`` molecules, greedily decoded along the straight (or, with ``slerp``, spherical) path between the
    posterior means of molecules a and b (SMILES), endpoints included. A conditional model encodes each end with
    its own properties and decodes the path with ``condition`` (1, K), by default the first end's."""
    if steps < 2:
        raise DataError("--steps must be at least 2")
    enc = encode_smiles(model, [a, b])
    if len(enc.smiles) < 2:
        raise DataError(f"cannot interpolate between {a!r} and {b!r}: {enc.summary()}")
    own = own_condition(model, enc.smiles)
    z = model.encode(enc.ids, condition=own).mean
    t = torch.linspace(0, 1, steps, device=z.device)[:, None]
    y = condition if condition is not None or own is None else own[:1]
    return decode_greedy(model, slerp_path(z[0], z[1], t) if slerp else (1 - t) * z[0] + t * z[1], condition=y)


def molecule_grid(smiles: Sequence[str], per_row: int = 5, legends: Sequence[str] | None = None, size: int = 250):
    """A PIL image of molecules drawn by RDKit in a grid, each labelled with its SMILES (or ``legends``); an invalid
    one is an empty cell labelled 'invalid: ...'."""
    from rdkit import Chem
    from rdkit.Chem import Draw
    from rdkit.rdBase import BlockLogs

    with BlockLogs():
        mols = [Chem.MolFromSmiles(s) if s else None for s in smiles]
    if legends is None:
        legends = [s if m is not None else f"invalid: {s}" for s, m in zip(smiles, mols, strict=True)]
    per_row = max(1, min(per_row, len(mols)))
    return Draw.MolsToGridImage(mols, molsPerRow=per_row, subImgSize=(size, size), legends=list(legends))


def draw_molecules(
    smiles: Sequence[str], out: str | Path, per_row: int = 5, legends: Sequence[str] | None = None
) -> Path:
    """Draw molecules as a grid PNG with RDKit (``molecule_grid``), written atomically."""
    out = check_out(out, DRAW_EXT, "molecule drawings", overwrite=True)  # callers check the path
    img = molecule_grid(smiles, per_row, legends)
    atomic_write(out, lambda p: img.save(p, format="PNG"))
    return out


# -- data for a run ------------------------------------------------------------------------------------------------
def _is_moses(spec: str) -> bool:
    return spec == "moses" or spec.startswith("moses:")


def load_molecules(model: VAE, data: str | None, n: int | None = None, column: str | None = None) -> SmilesSet:
    """Molecules to evaluate or reconstruct: ``data`` (a SMILES file: its first n rows; ``moses:SPLIT``: a seeded
    random n, default 2,000, of the split); without data, MOSES test for a run trained on MOSES."""
    if n is not None and n < 1:
        raise DataError("--n must be at least 1")
    if data is None:  # the run's own data: MOSES' test split for a MOSES run, else the file it was trained on
        rec = model.record
        if not rec.from_file:
            raise DataError("this run was trained on in-memory molecules: pass --data (a .smi/.txt/.csv file or "
                            "moses:test)")  # fmt: skip
        data, column = ("moses:test", column) if _is_moses(rec.data) else (rec.data, column or rec.smiles_column)
    if _is_moses(data):
        return load_smiles("moses:test" if data == "moses" else data, subset=n or MOSES_SUBSET, seed=0)
    rows = read_smiles_rows(data, column)
    return canonicalize(rows[:n] if n else rows, source=str(data))


# -- what the explore commands write (``kinds.SequenceKind``) -------------------------------------------------------
def encode_to_file(model: VAE, data: str | None, out: Path, sample: bool = False, seed: int = 0) -> EncodedMolecules:
    """Posterior means (or, with ``sample``, one draw from q(z|x)) of the molecules of ``data`` (see
    :func:`load_molecules`): .npy (N, D), or .csv with each molecule's canonical SMILES beside its code. Returns
    what was encoded and skipped."""
    enc = encode_smiles(model, load_molecules(model, data))
    own = own_condition(model, enc.smiles)  # a conditional model encodes each molecule with its own properties
    codes = model.latent_codes(enc.ids, sample=sample, seed=seed, condition=own).cpu().numpy()
    if out.suffix.lower() == ".npy":
        save_array(codes, out)
    else:
        frame = pd.DataFrame(codes, columns=[f"z{i}" for i in range(codes.shape[1])])
        frame.insert(0, "smiles", enc.smiles)
        atomic_write(out, lambda p: frame.to_csv(p, index=False))
    return enc


def traverse_molecules(
    model: VAE,
    out: Path,
    dims: list[int] | None = None,
    span: float = 3.0,
    steps: int = 9,
    condition: torch.Tensor | None = None,
) -> list[list[str]]:
    """One row per latent dimension, varied over [-span, span] standard deviations of the codes around their
    mean, each point greedily decoded (a conditional model: with ``condition``): a .png grid (a row per
    dimension), .smi/.txt (row after row) or .csv (dimension, value in standard deviations, SMILES). Returns the
    rows' SMILES."""
    if steps < 2:
        raise DataError("--steps must be at least 2")
    dims = list(range(min(model.config.latent_dim, 10))) if dims is None else dims
    with torch.no_grad():
        ids = model.traverse(dims, span=span, steps=steps, condition=condition)  # (dims, steps, L) greedy ids
    smiles = decode_ids(model, ids.flatten(0, 1))[0]
    rows = [smiles[r * steps : (r + 1) * steps] for r in range(len(dims))]
    if out.suffix.lower() == ".csv":
        values = np.linspace(-span, span, steps)
        frame = pd.DataFrame(
            [
                (d, round(float(v), 4), s)
                for d, row in zip(dims, rows, strict=True)
                for v, s in zip(values, row, strict=True)
            ],
            columns=["dim", "value", "smiles"],
        )
        atomic_write(out, lambda p: frame.to_csv(p, index=False))
    else:
        write_molecules(smiles, out, per_row=steps)
    return rows


def write_molecules(smiles: list[str], out: Path, per_row: int) -> None:
    """SMILES one per line (.smi/.txt; an empty generation is an empty line) or drawn as a PNG grid."""
    if out.suffix.lower() in DRAW_EXT:
        draw_molecules(smiles, out, per_row=per_row)
    else:
        write_text(out, "".join(s + "\n" for s in smiles))


def reconstruction_accuracy(model: VAE, ids: torch.Tensor, smiles: list[str], batch_size: int = 1000) -> float:
    """Share of encoded molecules (token ids (N, L), their canonical SMILES) whose greedy decoding at the posterior
    mean is the same molecule (a conditional model: encoded and decoded with each molecule's own properties)."""
    recon = reconstruct_ids(model, ids, batch_size, own_condition(model, smiles))
    return float(np.mean([r == s for r, s in zip(recon, smiles, strict=True)])) if smiles else 0.0


# -- MOSES metrics of a file -----------------------------------------------------------------------------------------
MOSES_REFERENCES = {"moses-test": "test", "moses:test": "test", "moses-test-scaffolds": "test_scaffolds",
                    "moses:test_scaffolds": "test_scaffolds"}  # fmt: skip


def _reference(ref: str) -> ReferenceStats:
    """Statistics of the reference set: a cached MOSES split, or a SMILES file (cached by its molecules)."""
    from ..molecules.metrics import moses_reference, reference_stats

    if ref.lower() in MOSES_REFERENCES:
        return moses_reference(MOSES_REFERENCES[ref.lower()])
    mols = load_smiles(ref)
    if len(mols) < 2:
        raise DataError(f"{ref}: a reference needs at least 2 valid molecules, it has {len(mols)}")
    return reference_stats(mols.smiles, source=str(ref))


def _train_set(train: str) -> set[str]:
    """Canonical SMILES of the training set for novelty: MOSES train (cached) or a SMILES file."""
    from ..molecules.data import moses_train_set

    if train.lower() in ("moses", "moses:train"):
        return moses_train_set()
    return set(load_smiles(train).smiles)


def metrics_run(
    samples: str | os.PathLike[str],
    out: str | Path,
    ref: str = "moses-test",
    train: str | None = None,
    column: str | None = None,
    *,
    overwrite: bool = False,
) -> dict[str, float]:
    """Every MOSES metric of the SMILES in ``samples`` (invalid ones count against validity) against ``ref``
    (moses-test, moses-test-scaffolds or a SMILES file) and, with ``train``, novelty; written as JSON to ``out``.
    In a .smi/.txt file an empty line between SMILES is an empty (invalid) generation, as ``vaekit sample``
    writes it."""
    from ..molecules.metrics import all_metrics, write_metrics_json

    out = check_out(out, {".json"}, "metrics", overwrite=overwrite)
    generated = read_smiles_rows(samples, column, keep_empty=True)  # an empty line: an empty generation
    metrics = all_metrics(generated, _reference(ref), train=_train_set(train) if train else None)
    write_metrics_json(out, metrics)
    return metrics
