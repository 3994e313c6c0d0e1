"""GRU encoder and autoregressive GRU decoder over token sequences (molecules as SELFIES/SMILES tokens).

Layers only. A sequence is a row of token ids ``<bos> t1 ... tn <eos> <pad> ...``; the encoder reads it up to
its ``<eos>`` (packed, so padding never reaches the state), the decoder is conditioned on z twice: through its
initial state and by reading z beside the previous token at every step (Bowman et al., 2016), which makes the
latent code harder to ignore. Teacher forcing (``logits``) scores a given sequence; ``step`` advances one token
at a time for sampling.

The recurrence is ``GRU`` below rather than ``torch.nn.GRU``: on the CPU, nn.GRU's backward pass writes a full-size
zero gradient for every time step it slices (``fill_`` was 69 % of a profiled training step); projecting all
inputs in one matmul and unbinding the time steps avoids that: 0.97 s instead of 1.19 s per fp32 training step
(batch 256, 2 cores), and it runs under bf16 autocast (the gates stay float32), which training uses on CPUs
with fast bf16 matrix units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn


@dataclass(frozen=True)
class SequenceConfig:
    kind: Literal["sequence"] = "sequence"
    embedding: int = 64  # token embedding size
    encoder_hidden: int = 256  # GRU state size of the encoder (bidirectional: twice this reaches the heads)
    decoder_hidden: int = 256  # GRU state size of the decoder (256 beat 512 per CPU-minute: see the README)


PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3  # the special tokens every vocabulary starts with (molecules.tokenizers)


def lengths_of(ids: torch.Tensor, eos_id: int = EOS_ID) -> torch.Tensor:
    """Tokens up to and including the first <eos> of each row (the whole row when it has none). (N,) int64"""
    is_eos = ids == eos_id
    first = torch.where(is_eos.any(-1), is_eos.int().argmax(-1) + 1, torch.full_like(ids[:, 0], ids.shape[-1]))
    return first.long()


def word_dropout(ids: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """A copy of id rows with a share ``p`` of their tokens (not <bos>, <eos> or padding) replaced by <unk>.
    What the decoder reads in training with word dropout (Bowman et al., 2016): with part of its history hidden it
    has to take the rest from z."""
    hide = (torch.rand(ids.shape, generator=generator, device=ids.device) < p) & (ids > UNK_ID)
    return torch.where(hide, torch.full_like(ids, UNK_ID), ids)


class GRU(nn.Module):
    """A one-layer GRU (the equations of ``torch.nn.GRU``) over batch-first inputs (N, L, I)."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input = nn.Linear(input_size, 3 * hidden_size)
        self.hidden = nn.Linear(hidden_size, 3 * hidden_size)
        bound = hidden_size**-0.5
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def cell(self, gi: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """One step from the projected input gi (N, 3H) and the state h (N, H). The gates are computed in
        float32, so the state stays float32 under bf16 autocast (only the matmuls run in bf16)."""
        gh = self.hidden(h)
        i_r, i_z, i_n = gi.float().chunk(3, -1)
        h_r, h_z, h_n = gh.float().chunk(3, -1)
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        return n + z * (h - n)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Outputs (N, L, H) for inputs (N, L, I) from the initial state h (N, H)."""
        outputs = []
        for gi in self.input(x).unbind(1):
            h = self.cell(gi, h)
            outputs.append(h)
        return torch.stack(outputs, 1)


class SequenceEncoder(nn.Module):
    """Bidirectional GRU over the tokens up to <eos>; the two final states -> ``out`` features (the heads)."""

    def __init__(self, cfg: SequenceConfig, vocab_size: int, out: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, cfg.embedding, padding_idx=0)
        self.forward_gru = GRU(cfg.embedding, cfg.encoder_hidden)
        self.backward_gru = GRU(cfg.embedding, cfg.encoder_hidden)
        self.head = nn.Linear(2 * cfg.encoder_hidden, out)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        ids = ids.long()
        lengths = lengths_of(ids)
        ids = ids[:, : int(lengths.max())]
        steps = torch.arange(ids.shape[1], device=ids.device)
        last = (lengths - 1)[:, None, None]
        # each sequence reversed within its own length (padding stays at the end): the backward direction
        reverse = torch.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)
        h0 = ids.new_zeros((len(ids), self.forward_gru.hidden.in_features), dtype=self.embed.weight.dtype)
        states = []
        for gru, seq in ((self.forward_gru, ids), (self.backward_gru, ids.gather(1, reverse))):
            out = gru(self.embed(seq), h0)
            states.append(out.gather(1, last.expand(-1, 1, out.shape[-1]))[:, 0])  # the state after <eos>
        return self.head(torch.cat(states, -1))


class SequenceDecoder(nn.Module):
    """p(t_i | t_<i, z): GRU whose initial state and every input carry z; logits over the vocabulary."""

    def __init__(self, cfg: SequenceConfig, latent_dim: int, vocab_size: int):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(vocab_size, cfg.embedding, padding_idx=0)
        self.init = nn.Linear(latent_dim, cfg.decoder_hidden)
        self.gru = GRU(cfg.embedding, cfg.decoder_hidden)
        self.latent_input = nn.Linear(latent_dim, 3 * cfg.decoder_hidden, bias=False)  # z's share of every input
        self.out = nn.Linear(cfg.decoder_hidden, vocab_size)

    def initial_state(self, z: torch.Tensor) -> torch.Tensor:
        """(N, H) from z (N, D)."""
        return torch.tanh(self.init(z))

    def logits(self, z: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: logits (N, L - 1, V) for the tokens ids[:, 1:] given ids[:, :-1] and z (N, D)."""
        gi = self.gru.input(self.embed(ids[:, :-1].long())) + self.latent_input(z).unsqueeze(1)
        h = self.initial_state(z)
        outputs = []
        for g in gi.unbind(1):
            h = self.gru.cell(g, h)
            outputs.append(h)
        return self.out(torch.stack(outputs, 1))

    def step(self, z: torch.Tensor, token: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: (logits (N, V) for the next token, new state) after reading ``token`` (N,)."""
        h = self.gru.cell(self.gru.input(self.embed(token.long())) + self.latent_input(z), h)
        return self.out(h), h
