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
import pickle
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

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


#: MOSES's property names -> function; its metrics compare their distributions (Wasserstein-1).
PROPERTIES: dict[str, Callable[[str | Chem.Mol], float]] = {
    "logP": logp,
    "SA": sa_score,
    "QED": qed,
    "weight": molecular_weight,
}
