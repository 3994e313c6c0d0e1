"""The MOSES metrics of a set of generated molecules (Polykovskiy et al. 2020), computed as the ``molsets`` code does.

- validity: share of generated strings RDKit parses (an empty string is invalid);
- unique@k: share of distinct canonical SMILES among the first k valid ones (all of them when fewer than k);
- novelty: share of the distinct valid molecules that are not in the training set;
- IntDiv / IntDiv2: 1 − mean over molecules of (mean over the set of Tanimoto^p)^(1/p), p = 1, 2, on Morgan
  fingerprints (radius 2, 1024 bits); all pairs, the molecule with itself included, as MOSES does;
- FCD: Fréchet distance between Gaussians fitted to ChemNet activations (see :mod:`.chemnet`);
- SNN: mean over generated molecules of the Tanimoto similarity to the nearest reference molecule;
- Frag / Scaf: cosine similarity of BRICS-fragment / Bemis–Murcko-scaffold counts (scaffolds with at least two
  rings, as MOSES);
- logP, SA, QED, weight: Wasserstein-1 distance between the property distributions;
- chemistry the training data does not have (with a training set): the share of valid molecules with a radical
  (an atom with unpaired electrons), with a charged atom, and with an element the training set never has, each
  beside the same shares in the training set (``Radicals``, ``Charged``, ``ForeignElements``, ``train/...``).

Set metrics (all but validity) use the valid molecules, duplicates included. Reference statistics (fingerprints,
ChemNet Gaussian, fragment and scaffold counts, properties) are computed once and cached as ``.npz`` + JSON —
loaded with ``allow_pickle=False`` — under :func:`~vaekit.molecules.data.cache_dir`; they are never downloaded.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
import zlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rdkit
import torch
from rdkit import Chem
from rdkit.Chem import rdFingerprintGenerator
from rdkit.Chem.Scaffolds import MurckoScaffold
from rdkit.rdBase import BlockLogs
from scipy.stats import wasserstein_distance

from .. import progress
from .._io import atomic_path, write_json
from ..data.arrays import read_npz_safely
from ..errors import DataError
from . import chemnet
from .data import cache_dir, canonical_smiles, load_moses
from .properties import PROPERTIES

STATS_FORMAT = 1
FP_RADIUS, FP_BITS = 2, 1024  # MOSES's Morgan fingerprints
_fp_generator = rdFingerprintGenerator.GetMorganGenerator(radius=FP_RADIUS, fpSize=FP_BITS)


def _mol_of(smiles: str) -> Chem.Mol:
    """Parse one SMILES that is known to be valid."""
    with BlockLogs():
        mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise DataError(f"invalid SMILES {smiles!r} among molecules expected to be valid; canonicalize them first")
    return mol


def fingerprints(molecules: Sequence[str] | Sequence[Chem.Mol]) -> np.ndarray:
    """Morgan fingerprints, radius 2, 1024 bits, of valid SMILES or molecules. (N, 1024) uint8"""
    out = np.zeros((len(molecules), FP_BITS), dtype=np.uint8)
    for i, m in enumerate(molecules):
        out[i] = _fp_generator.GetFingerprintAsNumPy(_mol_of(m) if isinstance(m, str) else m)
    return out


def _tanimoto_agg(ref: np.ndarray, gen: np.ndarray, agg: str, p: float = 1.0, batch: int = 1000) -> np.ndarray:
    """Per generated fingerprint: max (``agg="max"``) or power mean (``"mean"``, (mean T^p)^(1/p)) of its Tanimoto
    similarity to every reference fingerprint; two empty fingerprints have similarity 1 (as MOSES). (N_gen,)
    Blocks of ``batch`` x ``batch`` pairs: 1000 keeps a block in the CPU's cache (30,000 molecules against the
    176,074 of MOSES test: 16 s on 2 cores, 45 s with blocks of 5,000)."""
    result = np.zeros(len(gen))
    for i in range(0, len(gen), batch):
        g = torch.from_numpy(gen[i : i + batch])  # (b, 1024) uint8 bits
        g_bits = g.sum(1).float()
        acc = torch.zeros(len(g), dtype=torch.float64)
        for j in range(0, len(ref), batch):
            r = torch.from_numpy(ref[j : j + batch])  # (b', 1024)
            r_bits = r.sum(1, keepdim=True).float()
            sim = _intersections(r, g)  # (b', b) common bits, exact; then in place: I / (|r| + |g| - I)
            sim.div_(torch.add(r_bits, g_bits).sub_(sim).clamp_(min=1.0))
            if bool((r_bits == 0).any()) and bool((g_bits == 0).any()):  # two empty fingerprints: similarity 1
                sim = torch.where((r_bits == 0) & (g_bits == 0), torch.ones(()), sim)
            if agg == "max":
                acc = torch.maximum(acc, sim.max(0).values.double())
            else:
                acc += (sim.double() ** p).sum(0)
        result[i : i + len(g)] = acc.numpy() if agg == "max" else (acc / len(ref)).numpy() ** (1 / p)
    return result


def _intersections(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Common set bits of every pair of rows of 0/1 matrices a (m, k) and b (n, k): a @ b.T as float32 (m, n),
    exact either way. int8 matrix products (int32 sums) where this CPU runs them faster than float32 ones (3.4x
    with AMX/VNNI units, measured; ``_int8_is_faster``), else float32."""
    if not _int8_is_faster():
        return a.float() @ b.float().T
    m, n = len(a), len(b)
    pad_m, pad_n = max(17 - m, (-m) % 8), (-n) % 8  # _int_mm wants more than 16 rows and multiples of 8
    a8 = torch.nn.functional.pad(a.to(torch.int8), (0, 0, 0, pad_m))
    b8 = torch.nn.functional.pad(b.to(torch.int8), (0, 0, 0, pad_n))
    return torch._int_mm(a8, b8.T.contiguous())[:m, :n].float()


@functools.cache
def _int8_is_faster() -> bool:
    """Whether int8 products of 0/1 fingerprints beat float32 ones on this machine (timed once, ~0.1 s)."""
    import time

    a = (torch.rand(2000, FP_BITS, generator=torch.Generator().manual_seed(0)) < 0.05).to(torch.uint8)
    try:
        torch._int_mm(a[:32].to(torch.int8), a[:32].to(torch.int8).T.contiguous())
    except (RuntimeError, AttributeError):
        return False
    timings = {}
    for name, f in (("int8", lambda: torch._int_mm(a.to(torch.int8), a.to(torch.int8).T.contiguous())),
                    ("fp32", lambda: a.float() @ a.float().T)):  # fmt: skip
        f()
        start = time.perf_counter()
        f()
        timings[name] = time.perf_counter() - start
    return timings["int8"] < timings["fp32"]


def internal_diversity(molecules: Sequence[str] | np.ndarray, p: int = 1) -> float:
    """IntDiv_p of valid SMILES (or their fingerprints): 0 for a set of one molecule repeated."""
    fps = molecules if isinstance(molecules, np.ndarray) else fingerprints(molecules)
    if len(fps) == 0:
        return math.nan
    return float(1 - _tanimoto_agg(fps, fps, "mean", p).mean())


def snn(generated: Sequence[str] | np.ndarray, reference: Sequence[str] | np.ndarray) -> float:
    """Mean Tanimoto similarity of each generated molecule to its nearest reference neighbour (SMILES or fps)."""
    g = generated if isinstance(generated, np.ndarray) else fingerprints(generated)
    r = reference if isinstance(reference, np.ndarray) else fingerprints(reference)
    if len(g) == 0 or len(r) == 0:
        return math.nan
    return float(_tanimoto_agg(r, g, "max").mean())


def fragments(mols: Iterable[Chem.Mol]) -> Counter[str]:
    """Counts of BRICS fragments (SMILES with dummy atoms at the broken bonds) over the molecules."""
    counts: Counter[str] = Counter()
    for m in mols:
        counts.update(Chem.MolToSmiles(Chem.FragmentOnBRICSBonds(m)).split("."))
    return counts


def _scaffold(mol: Chem.Mol, min_rings: int = 2) -> str | None:
    """Bemis–Murcko scaffold SMILES of a molecule, or None when it has fewer than ``min_rings`` rings."""
    try:
        scaffold = MurckoScaffold.GetScaffoldForMol(mol)
    except (ValueError, RuntimeError):
        return None
    smiles = Chem.MolToSmiles(scaffold)
    if not smiles or scaffold.GetRingInfo().NumRings() < min_rings:
        return None
    return smiles


def scaffolds(mols: Iterable[Chem.Mol]) -> Counter[str]:
    """Counts of Bemis–Murcko scaffolds with at least two rings (MOSES's choice) over the molecules."""
    return Counter(s for s in map(_scaffold, mols) if s is not None)


def cosine_similarity(a: Mapping[str, int], b: Mapping[str, int]) -> float:
    """Cosine similarity of two count vectors keyed by name (missing = 0); NaN when either is empty."""
    if not a or not b:
        return math.nan
    dot = sum(v * b.get(k, 0) for k, v in a.items())
    na = math.sqrt(sum(v * v for v in a.values()))
    nb = math.sqrt(sum(v * v for v in b.values()))
    return dot / (na * nb)


def fragment_similarity(generated: Sequence[str], reference: Sequence[str]) -> float:
    """Frag: cosine similarity of the BRICS fragment counts of two sets of valid SMILES."""
    return cosine_similarity(fragments(map(_mol_of, generated)), fragments(map(_mol_of, reference)))


def scaffold_similarity(generated: Sequence[str], reference: Sequence[str]) -> float:
    """Scaf: cosine similarity of the (≥ 2-ring) Bemis–Murcko scaffold counts of two sets of valid SMILES."""
    return cosine_similarity(scaffolds(map(_mol_of, generated)), scaffolds(map(_mol_of, reference)))


def fcd(generated: Sequence[str], reference: Sequence[str] | ReferenceStats, device: str = "cpu") -> float:
    """Fréchet ChemNet Distance between two sets of canonical SMILES (≈ 0 for a set with itself)."""
    if len(generated) < 2:
        return math.nan
    mu1, s1 = chemnet.gaussian_stats(generated, device=device)
    if isinstance(reference, ReferenceStats):
        mu2, s2 = reference.fcd_mu, reference.fcd_sigma
    else:
        mu2, s2 = chemnet.gaussian_stats(reference, device=device)
    return chemnet.frechet_distance(mu2, s2, mu1, s1)


def validity(smiles: Sequence[str]) -> float:
    """Share of strings that RDKit parses into a molecule."""
    if not smiles:
        return math.nan
    return sum(canonical_smiles(s) is not None for s in smiles) / len(smiles)


def unique_at_k(valid_smiles: Sequence[str], k: int | None = None) -> float:
    """Share of distinct canonical SMILES among the first ``k`` valid SMILES (all when fewer, or k None)."""
    first = list(valid_smiles[:k] if k is not None else valid_smiles)
    if not first:
        return math.nan
    canon = {canonical_smiles(s) for s in first}
    if None in canon:
        raise DataError("unique@k expects valid SMILES; drop the invalid ones first")
    return len(canon) / len(first)


def novelty(valid_smiles: Iterable[str], train: Iterable[str]) -> float:
    """Share of the distinct valid molecules not in ``train`` (canonical SMILES; a set is used as it is)."""
    gen = {canonical_smiles(s) for s in valid_smiles} - {None}
    if not gen:
        return math.nan
    train_set = train if isinstance(train, set | frozenset) else set(train)
    return len(gen - train_set) / len(gen)


_BRACKET = re.compile(r"\[[^\]]*\]")  # a bracket atom of a SMILES string
_BRACKET_ELEMENT = re.compile(r"\[\d*([A-Z][a-z]?|[a-z][a-z]?)")
TRAIN_CHEMISTRY_SAMPLE = 20_000  # training molecules parsed for their radical and charge shares


def elements(smiles: Iterable[str]) -> set[str]:
    """The element symbols written in SMILES strings, read from the text (a few C-level passes over all of it:
    seconds for millions of molecules): each distinct bracket atom's symbol, then the organic-subset atoms
    outside brackets."""
    text = "\n".join(smiles)
    found: set[str] = set()
    for atom in set(_BRACKET.findall(text)):
        m = _BRACKET_ELEMENT.match(atom)
        if m:
            found.add(m.group(1).capitalize())
    bare = _BRACKET.sub(" ", text)
    found |= {a.capitalize() for a in ("Br", "Cl") if a in bare}
    bare = bare.replace("Br", " ").replace("Cl", " ")
    found |= {c.upper() for c in set(bare) & set("BCNOPSFIbcnops")}
    return found


def chemistry(valid_smiles: Sequence[str], known_elements: set[str] | None = None) -> dict[str, float]:
    """Shares of valid SMILES with a radical, with a charged atom and (given ``known_elements``) with an element
    outside them. NaN for no molecules."""
    n = len(valid_smiles)
    radical = charged = foreign = 0
    for mol in map(_mol_of, valid_smiles):
        atoms = list(mol.GetAtoms())
        radical += any(a.GetNumRadicalElectrons() > 0 for a in atoms)
        charged += any(a.GetFormalCharge() != 0 for a in atoms)
        if known_elements is not None:
            foreign += any(a.GetSymbol() not in known_elements for a in atoms)
    out = {"Radicals": radical / n if n else math.nan, "Charged": charged / n if n else math.nan}
    if known_elements is not None:
        out["ForeignElements"] = foreign / n if n else math.nan
    return out


def train_chemistry(train: Iterable[str]) -> tuple[set[str], dict[str, float]]:
    """(the training set's elements, its radical and charge shares over a fixed sample of about
    TRAIN_CHEMISTRY_SAMPLE of its molecules: those whose CRC-32 falls in one residue class, the same whatever the
    set's order)."""
    train = train if isinstance(train, set | frozenset | list | tuple) else list(train)
    k = max(1, len(train) // TRAIN_CHEMISTRY_SAMPLE)
    sample = sorted(s for s in train if zlib.crc32(s.encode()) % k == 0)
    return elements(train), chemistry(sample)


Features = tuple[np.ndarray, Counter[str], Counter[str], dict[str, np.ndarray]]
PARALLEL_FROM = 5000  # molecules from which _features spreads over processes
_CHUNK = 2000  # molecules per process task


def _features(smiles: Sequence[str], workers: int | None = None) -> Features:
    """Fingerprints (N, 1024), fragment and scaffold counts and properties of valid SMILES, one RDKit molecule
    at a time (a parsed molecule takes ~28 KB: the 176 k MOSES test set would need ~5 GB), in ``workers``
    processes (default: every core) from PARALLEL_FROM molecules on; the same result either way."""
    workers = workers or os.cpu_count() or 1
    chunks = [list(smiles[i : i + _CHUNK]) for i in range(0, len(smiles), _CHUNK)]
    described = f"fingerprints, fragments, scaffolds and properties of {len(smiles):,} molecules"
    if workers > 1 and len(smiles) >= PARALLEL_FROM:
        import multiprocessing

        from .properties import _sascorer

        _sascorer()  # loaded once here; forked workers inherit it
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            parts = list(progress.track(pool.imap(_chunk_features, chunks), described, total=len(chunks)))
    else:
        parts = [_chunk_features(c) for c in progress.track(chunks, described)]
    fps = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, FP_BITS), dtype=np.uint8)
    frag: Counter[str] = Counter()
    scaf: Counter[str] = Counter()
    for p in parts:
        frag.update(p[1])
        scaf.update(p[2])
    props = {name: np.concatenate([p[3][name] for p in parts]) if parts else np.zeros(0) for name in PROPERTIES}
    return fps, frag, scaf, props


def _chunk_features(smiles: list[str]) -> Features:
    fps = np.zeros((len(smiles), FP_BITS), dtype=np.uint8)
    frag: Counter[str] = Counter()
    scaf: Counter[str] = Counter()
    props = {name: np.zeros(len(smiles)) for name in PROPERTIES}
    for i, m in enumerate(map(_mol_of, smiles)):
        fps[i] = _fp_generator.GetFingerprintAsNumPy(m)
        frag.update(Chem.MolToSmiles(Chem.FragmentOnBRICSBonds(m)).split("."))
        if (sc := _scaffold(m)) is not None:
            scaf[sc] += 1
        for name, f in PROPERTIES.items():
            props[name][i] = f(m)
    return fps, frag, scaf, props


@dataclass
class ReferenceStats:
    """Everything the metrics need from a reference set, computed once (:func:`reference_stats`)."""

    source: str  # e.g. "MOSES test"
    n: int  # molecules
    fingerprints: np.ndarray  # (n, 1024) uint8 Morgan bits
    fcd_mu: np.ndarray  # (512,) mean ChemNet activation
    fcd_sigma: np.ndarray  # (512, 512) covariance
    fragments: dict[str, int]  # BRICS fragment -> count
    scaffolds: dict[str, int]  # scaffold -> count
    properties: dict[str, np.ndarray]  # "logP", "SA", "QED", "weight" -> (n,) float64

    @classmethod
    def compute(cls, smiles: Sequence[str], source: str = "", device: str = "cpu") -> ReferenceStats:
        """Statistics of at least two valid canonical SMILES."""
        mu, sigma = chemnet.gaussian_stats(smiles, device=device)
        fps, frag, scaf, props = _features(smiles)
        return cls(source, len(smiles), fps, mu, sigma, dict(frag), dict(scaf), props)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write one ``.npz`` (no pickled objects; the counts are JSON text), atomically."""
        meta = {"format": STATS_FORMAT, "source": self.source, "n": self.n}
        meta |= {"fragments": self.fragments, "scaffolds": self.scaffolds}
        arrays = {f"property_{k}": v for k, v in self.properties.items()}
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(
                f,
                fingerprints=np.packbits(self.fingerprints, axis=1),
                fcd_mu=self.fcd_mu,
                fcd_sigma=self.fcd_sigma,
                meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
                **arrays,
            )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ReferenceStats:
        """Read :meth:`save` output (``allow_pickle=False``: nothing in the file can run code)."""
        z = read_npz_safely(Path(path))  # every member's header checked before it is read
        try:
            meta = json.loads(z["meta"].tobytes().decode())
            if meta.get("format") != STATS_FORMAT:
                raise DataError(f"{path}: reference statistics format {meta.get('format')} (expected {STATS_FORMAT})")
            props = {k.removeprefix("property_"): v for k, v in z.items() if k.startswith("property_")}
            fps = np.unpackbits(z["fingerprints"], axis=1, count=FP_BITS)
            return cls(meta["source"], meta["n"], fps, z["fcd_mu"], z["fcd_sigma"], meta["fragments"],
                       meta["scaffolds"], props)  # fmt: skip
        except (KeyError, ValueError, TypeError, AttributeError) as e:
            raise DataError(f"{path}: damaged reference statistics ({e}): delete it to recompute") from None


def reference_stats(smiles: Sequence[str], source: str = "", cache: bool = True, device: str = "cpu") -> ReferenceStats:
    """Reference statistics of canonical SMILES, cached under ``cache_dir()/reference`` keyed by the molecules and
    the RDKit version."""
    key = hashlib.sha256("\n".join(smiles).encode() + f"|{rdkit.__version__}|{STATS_FORMAT}".encode()).hexdigest()
    path = cache_dir() / "reference" / f"{key[:24]}.npz"
    if cache and path.is_file():
        return ReferenceStats.load(path)
    where = f"; cached in {path}" if cache else ""
    progress.note(f"computing the reference statistics of {source or 'the reference'} ({len(smiles):,} molecules), "
                  f"once{where}")  # fmt: skip
    stats = ReferenceStats.compute(smiles, source, device=device)
    if cache:
        stats.save(path)
    return stats


def moses_reference(split: str = "test", cache: bool = True, device: str = "cpu") -> ReferenceStats:
    """Reference statistics of a whole MOSES split (``test`` or ``test_scaffolds``), cached after the first call."""
    data = load_moses(split, cache=cache)
    return reference_stats(data.smiles, source=data.source, cache=cache, device=device)


def all_metrics(
    generated: Sequence[str],
    reference: ReferenceStats | Sequence[str],
    train: Iterable[str] | None = None,
    scaffold_reference: ReferenceStats | Sequence[str] | None = None,
    k: Sequence[int] = (1000, 10000),
    device: str = "cpu",
) -> dict[str, float]:
    """Every MOSES metric of generated SMILES (invalid ones allowed) against a reference set ("Test") and, when
    given, a scaffold reference ("TestSF") and the training set (novelty). Keys as in MOSES's output."""
    with progress.task("MOSES metrics", total=5) as bar:
        return _all_metrics(generated, reference, train, scaffold_reference, k, device, bar)


def _all_metrics(generated, reference, train, scaffold_reference, k, device, bar) -> dict[str, float]:
    valid = [c for c in map(canonical_smiles, generated) if c is not None]
    bar.advance()
    out: dict[str, float] = {"n_generated": len(generated), "n_valid": len(valid), "valid": validity(generated)}
    for kk in k:
        out[f"unique@{kk}"] = unique_at_k(valid, kk)
    refs = {"Test": reference} | ({"TestSF": scaffold_reference} if scaffold_reference is not None else {})
    refs = {name: r if isinstance(r, ReferenceStats) else ReferenceStats.compute(r, name, device=device)
            for name, r in refs.items()}  # fmt: skip
    bar.advance()
    fps, frag, scaf, props = _features(valid)
    bar.advance()
    gauss = chemnet.gaussian_stats(valid, device=device) if len(valid) >= 2 else None
    bar.advance()
    for name, r in refs.items():
        out[f"FCD/{name}"] = chemnet.frechet_distance(r.fcd_mu, r.fcd_sigma, *gauss) if gauss else math.nan
        out[f"SNN/{name}"] = snn(fps, r.fingerprints)
        out[f"Frag/{name}"] = cosine_similarity(r.fragments, frag)
        out[f"Scaf/{name}"] = cosine_similarity(r.scaffolds, scaf)
    out["IntDiv"] = internal_diversity(fps, p=1)
    out["IntDiv2"] = internal_diversity(fps, p=2)
    for name, values in props.items():
        out[name] = float(wasserstein_distance(refs["Test"].properties[name], values)) if len(values) else math.nan
    if train is not None:
        out["Novelty"] = novelty(valid, train)
        known, in_train = train_chemistry(train)
        out |= chemistry(valid, known) | {f"train/{k}": v for k, v in in_train.items()}
    else:
        out |= chemistry(valid)
    bar.advance()
    return out


def write_metrics_json(path: str | os.PathLike[str], metrics: Mapping[str, Any]) -> None:
    """Write metrics as JSON atomically; NaN (undefined, e.g. FCD of one molecule) becomes null."""

    def clean(v: Any) -> Any:
        if isinstance(v, float | np.floating):
            return None if math.isnan(v) else float(v)
        return int(v) if isinstance(v, np.integer) else v

    write_json(Path(path), {k: clean(v) for k, v in metrics.items()})
