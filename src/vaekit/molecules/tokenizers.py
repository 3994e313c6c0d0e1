"""Token vocabularies for SELFIES (the default: every token sequence decodes to a valid molecule) and SMILES.

A :class:`Vocabulary` turns canonical SMILES into padded id sequences ``<bos> t1 … tn <eos> <pad> …`` and back,
and serializes to plain JSON (it is stored in a bundle's ``config.json``).

Molecules outside what the vocabulary covers, at inference:

- a token the vocabulary has never seen: ``on_unknown="error"`` (default) refuses the batch with one line naming
  the count and an example; ``"unk"`` encodes it as ``<unk>`` and counts it (``Encoded.n_unknown``,
  ``Encoded.unknown_tokens``); ``"skip"`` drops the molecule and counts it. ``<unk>`` decodes to nothing.
- a molecule longer than ``max_length`` tokens, or one SELFIES cannot encode: ``on_error="error"`` (default)
  refuses with one line; ``"skip"`` drops it and counts it. ``Encoded.kept`` says which inputs were encoded.
"""

from __future__ import annotations

import importlib.metadata
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import selfies as sf
import torch

from ..errors import DataError
from ..nn.sequence import BOS_ID, EOS_ID, PAD_ID, UNK_ID

Representation = Literal["selfies", "smiles"]
PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIAL_TOKENS: tuple[str, ...] = (PAD, BOS, EOS, UNK)  # ids 0, 1, 2, 3 in every vocabulary
VOCAB_FORMAT = 1

# Schwaller et al. (2019): bracket atoms whole, two-letter organic atoms (Br, Cl), %nn ring closures, bonds.
SMILES_TOKEN = re.compile(
    r"(\[[^\]]+]|Br?|Cl?|N|O|S|P|F|I|b|c|n|o|s|p|\(|\)|\.|=|#|-|\+|\\|/|:|~|@|\?|>|\*|\$|%[0-9]{2}|[0-9])"
)


def tokenize_smiles(smiles: str) -> list[str]:
    """Split a SMILES string into tokens; a character the grammar does not know is a DataError."""
    tokens = SMILES_TOKEN.findall(smiles)
    if sum(map(len, tokens)) != len(smiles):
        bad = next(i for i, (a, b) in enumerate(zip(smiles, "".join(tokens) + "\0", strict=False)) if a != b)
        raise DataError(f"cannot tokenize SMILES {smiles!r}: unexpected {smiles[bad]!r} at position {bad}")
    return tokens


def _to_tokens(smiles: str, representation: Representation) -> list[str]:
    """The tokens of one molecule in the given representation (DataError when SELFIES cannot encode it)."""
    if representation == "smiles":
        return tokenize_smiles(smiles)
    try:
        return list(sf.split_selfies(sf.encoder(smiles)))
    except sf.EncoderError as e:
        raise DataError(f"SELFIES cannot encode {smiles!r}: {str(e).splitlines()[0]}") from None


@dataclass
class Encoded:
    """A batch of encoded molecules and what happened to the rest."""

    ids: torch.Tensor  # (N_kept, max_length + 2) int64: <bos> tokens <eos>, then <pad>
    lengths: torch.Tensor  # (N_kept,) int64, tokens including <bos> and <eos>
    kept: list[int]  # index in the input of each encoded row
    n_unknown: int = 0  # tokens encoded as <unk> (on_unknown="unk")
    unknown_tokens: Counter[str] = field(default_factory=Counter)  # unknown token -> count
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> molecules dropped ("skip" policies)


@dataclass(frozen=True)
class Vocabulary:
    """Tokens of one representation; the id of a token is its index in ``tokens`` (specials first)."""

    representation: Representation
    tokens: tuple[str, ...]  # SPECIAL_TOKENS, then the data's tokens, sorted
    max_length: int  # most tokens per molecule, without <bos>/<eos>

    def __post_init__(self) -> None:
        if self.tokens[: len(SPECIAL_TOKENS)] != SPECIAL_TOKENS:
            raise DataError(f"a vocabulary must start with {', '.join(SPECIAL_TOKENS)}")
        if len(set(self.tokens)) != len(self.tokens):
            raise DataError("a vocabulary lists the same token twice")
        if self.representation not in ("selfies", "smiles"):
            raise DataError(f"unknown representation {self.representation!r}; choose selfies or smiles")
        if self.max_length < 1:
            raise DataError(f"max_length must be at least 1, got {self.max_length}")
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.tokens)})

    @classmethod
    def build(
        cls, smiles: Iterable[str], representation: Representation = "selfies", max_length: int | None = None
    ) -> Vocabulary:
        """The vocabulary of a training set; ``max_length`` defaults to its longest molecule. Molecules SELFIES
        cannot encode are a DataError (canonicalize with :func:`~vaekit.molecules.canonicalize` first)."""
        return cls.from_token_rows((_to_tokens(s, representation) for s in smiles), representation, max_length)

    @classmethod
    def from_token_rows(
        cls, rows: Iterable[Sequence[str]], representation: Representation = "selfies", max_length: int | None = None
    ) -> Vocabulary:
        """The vocabulary of molecules already split into tokens (one list per molecule)."""
        seen: set[str] = set()
        longest = 0
        for toks in rows:
            seen.update(toks)
            longest = max(longest, len(toks))
        if longest == 0:
            raise DataError("cannot build a vocabulary from no molecules")
        return cls(representation, SPECIAL_TOKENS + tuple(sorted(seen - set(SPECIAL_TOKENS))), max_length or longest)

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def pad_id(self) -> int:
        return PAD_ID

    @property
    def bos_id(self) -> int:
        return BOS_ID

    @property
    def eos_id(self) -> int:
        return EOS_ID

    @property
    def unk_id(self) -> int:
        return UNK_ID

    @property
    def sequence_length(self) -> int:
        """Length of an encoded row: max_length tokens plus <bos> and <eos>."""
        return self.max_length + 2

    def tokenize(self, smiles: str) -> list[str]:
        """The tokens of one molecule in this vocabulary's representation."""
        return _to_tokens(smiles, self.representation)

    def encode(self, smiles: str, on_unknown: Literal["error", "unk"] = "error") -> list[int]:
        """Ids of one molecule, ``<bos> … <eos>``, unpadded (see the module docstring for unknown tokens)."""
        enc = self.encode_batch([smiles], on_unknown=on_unknown)
        return enc.ids[0, : int(enc.lengths[0])].tolist()

    def encode_batch(
        self,
        smiles: Sequence[str],
        on_unknown: Literal["error", "unk", "skip"] = "error",
        on_error: Literal["error", "skip"] = "error",
    ) -> Encoded:
        """Encode molecules to a padded (N, max_length + 2) id tensor; see the module docstring for policies."""
        index: dict[str, int] = self._index  # type: ignore[attr-defined]
        rows: list[list[int]] = []
        kept: list[int] = []
        unknown: Counter[str] = Counter()
        skipped: Counter[str] = Counter()
        first: dict[str, str] = {}  # reason -> first offending input, for the message
        for i, s in enumerate(smiles):
            try:
                toks = self.tokenize(s)
            except DataError as e:
                reason, msg = "not encodable", str(e)
            else:
                if len(toks) > self.max_length:
                    reason, msg = "too long", f"{s!r} has {len(toks)} tokens, more than max_length {self.max_length}"
                else:
                    unseen = [t for t in toks if t not in index]
                    if not unseen:
                        rows.append([self.bos_id, *(index[t] for t in toks), self.eos_id])
                        kept.append(i)
                        continue
                    if on_unknown == "unk":
                        unknown.update(unseen)
                        rows.append([self.bos_id, *(index.get(t, self.unk_id) for t in toks), self.eos_id])
                        kept.append(i)
                        continue
                    reason, msg = "unknown tokens", f"{unseen[0]!r} in {s!r}"
            skipped[reason] += 1
            first.setdefault(reason, msg)
        refuse = {r: n for r, n in skipped.items() if (on_unknown if r == "unknown tokens" else on_error) == "error"}
        if refuse:
            reason, n = next(iter(refuse.items()))
            hint = "on_unknown='unk' or 'skip'" if reason == "unknown tokens" else "on_error='skip'"
            raise DataError(
                f"{n} of {len(smiles)} molecules have {reason} for this vocabulary (e.g. {first[reason]}); "
                f"pass {hint} to go on"
            )
        lengths = torch.tensor([len(row) for row in rows], dtype=torch.int64)
        return Encoded(self.padded(rows), lengths, kept, sum(unknown.values()), unknown, dict(skipped))

    def padded(self, rows: Sequence[Sequence[int]]) -> torch.Tensor:
        """Id rows (``<bos> … <eos>``) padded with <pad> to (N, max_length + 2) int64."""
        ids = torch.full((len(rows), self.sequence_length), self.pad_id, dtype=torch.int64)
        for r, row in enumerate(rows):
            ids[r, : len(row)] = torch.tensor(row, dtype=torch.int64)
        return ids

    def decode_tokens(self, ids: Sequence[int] | torch.Tensor) -> list[str]:
        """The tokens of one id sequence: read up to the first <eos>; <bos>, <pad> and <unk> are dropped."""
        out: list[str] = []
        for i in ids.tolist() if isinstance(ids, torch.Tensor) else ids:
            if i == self.eos_id:
                break
            if i in (self.pad_id, self.bos_id, self.unk_id) or not 0 <= i < len(self.tokens):
                continue
            out.append(self.tokens[i])
        return out

    def decode(self, ids: Sequence[int] | torch.Tensor) -> str:
        """The SMILES string of one id sequence (SELFIES are decoded to SMILES; not canonicalized)."""
        text = "".join(self.decode_tokens(ids))
        if self.representation == "smiles":
            return text
        try:
            return sf.decoder(text)
        except sf.DecoderError:
            return ""  # only for hand-made sequences: every vocabulary token is a valid SELFIES symbol

    def decode_batch(self, ids: torch.Tensor) -> list[str]:
        """SMILES of every row of an (N, L) id tensor."""
        return [self.decode(row) for row in ids]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready description (tokens in id order)."""
        d: dict[str, Any] = {
            "format": VOCAB_FORMAT,
            "representation": self.representation,
            "max_length": self.max_length,
            "tokens": list(self.tokens),
        }
        if self.representation == "selfies":
            d["selfies_version"] = importlib.metadata.version("selfies")  # decoding rules of this version
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Vocabulary:
        """Rebuild from :meth:`to_dict` output; anything malformed is a DataError."""
        try:
            if d.get("format", VOCAB_FORMAT) != VOCAB_FORMAT:
                raise DataError(f"vocabulary format {d['format']} is not supported (expected {VOCAB_FORMAT})")
            tokens = d["tokens"]
            if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
                raise DataError("vocabulary tokens must be a list of strings")
            return cls(d["representation"], tuple(tokens), int(d["max_length"]))
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"malformed vocabulary: {type(e).__name__}: {e}") from None
