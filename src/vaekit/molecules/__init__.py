"""Molecules: SMILES data (MOSES or your own files), SELFIES/SMILES vocabularies and the MOSES metrics.

>>> from vaekit import molecules as mol
>>> train = mol.load_moses("train", subset=30_000, seed=0)        # canonical SMILES; invalid ones counted, skipped
>>> vocab = mol.Vocabulary.build(train.smiles)                    # SELFIES tokens; vocab.to_dict() is plain JSON
>>> batch = vocab.encode_batch(train.smiles)                      # (N, max_length + 2) token ids
>>> mol.all_metrics(generated, mol.moses_reference("test"), train=mol.moses_train_set())

Needs the ``molecules`` extra (RDKit, selfies, fcd_torch) and, for MOSES, ``pip install --no-deps molsets==0.3.1``.
"""

from __future__ import annotations

from ._deps import INSTALL_EXTRA, missing

try:
    import rdkit  # noqa: F401
    import selfies  # noqa: F401
except ImportError as e:  # pragma: no cover - the extra is installed wherever the tests run
    raise missing(f"{e.name} (needed by vaekit.molecules)", INSTALL_EXTRA) from e

from .data import (  # noqa: E402
    MOSES_SPLITS,
    SmilesSet,
    canonical_smiles,
    canonicalize,
    load_moses,
    load_smiles,
    moses_file,
    moses_train_set,
    read_smiles_file,
)
from .metrics import (  # noqa: E402
    ReferenceStats,
    all_metrics,
    fcd,
    fingerprints,
    fragment_similarity,
    internal_diversity,
    moses_reference,
    novelty,
    reference_stats,
    scaffold_similarity,
    snn,
    unique_at_k,
    validity,
    write_metrics_json,
)
from .properties import PROPERTIES, logp, molecular_weight, qed, sa_score  # noqa: E402
from .tokenizers import SPECIAL_TOKENS, Encoded, Vocabulary, tokenize_smiles  # noqa: E402

__all__ = [
    "MOSES_SPLITS",
    "PROPERTIES",
    "SPECIAL_TOKENS",
    "Encoded",
    "ReferenceStats",
    "SmilesSet",
    "Vocabulary",
    "all_metrics",
    "canonical_smiles",
    "canonicalize",
    "fcd",
    "fingerprints",
    "fragment_similarity",
    "internal_diversity",
    "load_moses",
    "load_smiles",
    "logp",
    "molecular_weight",
    "moses_file",
    "moses_reference",
    "moses_train_set",
    "novelty",
    "qed",
    "read_smiles_file",
    "reference_stats",
    "sa_score",
    "scaffold_similarity",
    "snn",
    "tokenize_smiles",
    "unique_at_k",
    "validity",
    "write_metrics_json",
]
