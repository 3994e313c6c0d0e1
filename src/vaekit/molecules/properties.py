"""Molecular properties, as MOSES computes them: QED, Crippen logP, synthetic accessibility (SA), weight.

SA is Ertl & Schuffenhauer's score from RDKit's Contrib ``SA_Score/sascorer.py``, which ships in the rdkit wheel.
Its fragment table ``fpscores.pkl.gz`` is a pickle; rather than let sascorer unpickle it, vaekit reads it with an
unpickler that refuses every global (the file is plain lists of numbers, which need none), so loading it cannot run
code, and hands the table to sascorer.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import os
import pickle
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

import numpy as np
from rdkit import Chem, RDConfig
from rdkit.Chem import QED as _QED
from rdkit.Chem import Crippen, Descriptors

from ..errors import VaekitError


class _DataOnlyUnpickler(pickle.Unpickler):
    """Unpickles only built-in containers and numbers: any class or function reference is refused."""

    def find_class(self, module: str, name: str) -> object:
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: data-only pickle expected")


@functools.cache
def _sascorer() -> ModuleType:
    """RDKit's Contrib sascorer module, with its fragment scores loaded safely."""
    folder = Path(RDConfig.RDContribDir) / "SA_Score"
    spec = importlib.util.spec_from_file_location("_vaekit_sascorer", folder / "sascorer.py")
    if spec is None or spec.loader is None or not (folder / "fpscores.pkl.gz").is_file():
        raise VaekitError(f"RDKit's SA_Score is missing from {folder}; reinstall rdkit")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with gzip.open(folder / "fpscores.pkl.gz", "rb") as f:
        table = _DataOnlyUnpickler(f).load()
    module._fscores = {int(key): float(row[0]) for row in table for key in row[1:]}  # as readFragmentScores does
    return module


def _mol(smiles_or_mol: str | Chem.Mol) -> Chem.Mol:
    if isinstance(smiles_or_mol, Chem.Mol):
        return smiles_or_mol
    mol = Chem.MolFromSmiles(smiles_or_mol)
    if mol is None:
        raise ValueError(f"invalid SMILES {smiles_or_mol!r}")
    return mol


def qed(smiles_or_mol: str | Chem.Mol) -> float:
    """Quantitative estimate of drug-likeness (Bickerton et al. 2012), in [0, 1]."""
    return float(_QED.qed(_mol(smiles_or_mol)))


def logp(smiles_or_mol: str | Chem.Mol) -> float:
    """Crippen's octanol-water partition coefficient (Wildman & Crippen 1999)."""
    return float(Crippen.MolLogP(_mol(smiles_or_mol)))


def sa_score(smiles_or_mol: str | Chem.Mol) -> float:
    """Synthetic accessibility, 1 (easy) to 10 (hard) (Ertl & Schuffenhauer 2009)."""
    return float(_sascorer().calculateScore(_mol(smiles_or_mol)))


def molecular_weight(smiles_or_mol: str | Chem.Mol) -> float:
    """Average molecular weight in g/mol (hydrogens included)."""
    return float(Descriptors.MolWt(_mol(smiles_or_mol)))


def penalized_logp(smiles_or_mol: str | Chem.Mol) -> float:
    """logP minus the SA score minus the size beyond 6 of the largest ring: the target of JT-VAE's and GCPN's
    optimization benchmarks (You et al., 2018), unnormalized as GCPN reports it."""
    mol = _mol(smiles_or_mol)
    largest = max((len(ring) for ring in mol.GetRingInfo().AtomRings()), default=0)
    return logp(mol) - sa_score(mol) - max(largest - 6, 0)


#: MOSES's property names -> function; its metrics compare their distributions (Wasserstein-1).
PROPERTIES: dict[str, Callable[[str | Chem.Mol], float]] = {
    "logP": logp,
    "SA": sa_score,
    "QED": qed,
    "weight": molecular_weight,
}

#: the names the CLI and the property head use (lower case) -> function
PROPERTY_FUNCTIONS: dict[str, Callable[[str | Chem.Mol], float]] = {
    "qed": qed,
    "logp": logp,
    "sa": sa_score,
    "weight": molecular_weight,
    "plogp": penalized_logp,
}


def property_names(names: str | Sequence[str]) -> tuple[str, ...]:
    """Validated property names from ``"qed,logp"`` or a list; ``"none"`` or empty: no properties."""
    if isinstance(names, str):
        names = [] if names.strip().lower() in ("", "none") else names.split(",")
    out = tuple(n.strip().lower() for n in names)
    bad = [n for n in out if n not in PROPERTY_FUNCTIONS]
    if bad:
        raise VaekitError(f"unknown property {bad[0]!r}: expected one of {', '.join(PROPERTY_FUNCTIONS)}")
    if len(set(out)) != len(out):
        raise VaekitError("a property is named twice")
    return out


def _row(args: tuple[str, tuple[str, ...]]) -> list[float]:
    smiles, names = args
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return [float("nan")] * len(names)
    return [PROPERTY_FUNCTIONS[n](mol) for n in names]


def property_table(smiles: Sequence[str], names: Sequence[str], workers: int | None = None) -> np.ndarray:
    """Properties (N, P) of molecules, NaN for SMILES RDKit cannot parse; computed in ``workers`` processes
    (default: every CPU core) for large inputs, in order."""
    names = tuple(names)
    jobs = [(s, names) for s in smiles]
    workers = workers or os.cpu_count() or 1
    if workers > 1 and len(jobs) >= 5000:
        import multiprocessing

        _sascorer()  # load once here; forked workers inherit it
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            rows = pool.map(_row, jobs, chunksize=1000)
    else:
        rows = [_row(j) for j in jobs]
    return np.asarray(rows, dtype=np.float64).reshape(len(jobs), len(names))
