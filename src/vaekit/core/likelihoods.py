"""Decoder likelihoods p(x|z): one abstraction for images and tables.

A likelihood *config* says how many decoder outputs each data value needs (``params_per_value``) and turns the
decoder's raw output into a distribution object. Every distribution offers ``log_prob(x, mask=None)`` summed
over all non-batch dimensions (the optional mask, 1 = observed, is how missing data and inpainting will enter),
``sample(generator)`` (a draw: what generating new data means), ``mode`` (the most probable value of each entry:
the category with the highest probability, the Gaussian's centre) and ``mean`` (the expected value; for a
categorical column, whose codes have no mean, its most probable category, as ``mode``). Values are in data units:
the Gaussian undoes the model's standardization, so its log-density is that of the original data.

Tables may have missing values: for the Gaussian and the Mixed likelihood a NaN in x counts as missing even
without a mask (log_prob then covers the observed entries only), and missing entries never reach the arithmetic,
so no NaN reaches a gradient. ``Mixed`` serves tables with categorical columns: a Gaussian per numeric column and
a categorical distribution over each categorical column's categories (x holds the category's index).
"""

from __future__ import annotations

import contextlib
import copy
import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from ..nn.sequence import BOS_ID, EOS_ID, PAD_ID, UNK_ID, lengths_of
from .distributions import LOG_2PI


def _sum_event(t: torch.Tensor, mask: torch.Tensor | None, event_dims: int | None) -> torch.Tensor:
    """Sum (masked) per-value terms over the event: the last ``event_dims`` dimensions (default: all but the
    first). (*batch, *event) -> (*batch,)"""
    if mask is not None:
        t = t * mask
    if event_dims is None:
        event_dims = t.dim() - 1
    return t.flatten(-event_dims).sum(-1) if event_dims > 0 else t


def _missing_as_mask(x: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(x with missing entries zero-filled, mask): NaN in x counts as missing, also when no mask is given."""
    nan = torch.isnan(x)
    if mask is None and not bool(nan.any()):
        return x, None
    observed = ~nan if mask is None else (mask != 0) & ~nan
    return torch.where(observed, x, torch.zeros((), dtype=x.dtype, device=x.device)), observed


def _normal_log_density(x: torch.Tensor, loc: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(x; loc, exp(logvar)) per value."""
    return -0.5 * (LOG_2PI + logvar + (x - loc) ** 2 * torch.exp(-logvar))


class Bernoulli:
    """Independent Bernoulli per value, parameterized by logits. Targets may be binary or in [0, 1]."""

    def __init__(self, logits: torch.Tensor, event_dims: int | None = None):
        self.logits = logits
        self.event_dims = event_dims  # trailing dimensions that make up one sample (None: all but the first)

    @property
    def mean(self) -> torch.Tensor:
        return torch.sigmoid(self.logits)

    @property
    def mode(self) -> torch.Tensor:
        """1 where p > 0.5, else 0 (0 at exactly 0.5)."""
        return (self.logits > 0).to(self.logits.dtype)

    def log_prob(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Sum of log p(x_i) over the event. (N,)"""
        # x*l - softplus(l) = x log sigmoid(l) + (1-x) log sigmoid(-l): stable, and on CPU ~4x faster than
        # binary_cross_entropy_with_logits (which matters for importance sampling with K=1000)
        if mask is not None:
            return _sum_event(x * self.logits - F.softplus(self.logits), mask, self.event_dims)
        e = self.event_dims if self.event_dims is not None else self.logits.dim() - 1
        if e == 0:
            return x * self.logits - F.softplus(self.logits)
        logits = self.logits.flatten(-e)
        # the dot product broadcasts x over extra sample dimensions without materializing x * logits
        return torch.linalg.vecdot(x.flatten(-e), logits) - F.softplus(logits).sum(-1)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.bernoulli(self.mean, generator=generator)


class Gaussian:
    """Independent Gaussian per value with a learned (per-value) variance, in data units."""

    def __init__(self, loc: torch.Tensor, logvar: torch.Tensor, event_dims: int | None = None):
        self.loc = loc
        self.logvar = logvar
        self.event_dims = event_dims  # trailing dimensions that make up one sample (None: all but the first)

    @property
    def mean(self) -> torch.Tensor:
        return self.loc

    @property
    def mode(self) -> torch.Tensor:
        return self.loc

    @property
    def stddev(self) -> torch.Tensor:
        return torch.exp(0.5 * self.logvar)

    def log_prob(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Sum of log N(x_i) over the observed values of the event (NaN in x: missing). (N,)"""
        x, mask = _missing_as_mask(x, mask)
        return _sum_event(_normal_log_density(x, self.loc, self.logvar), mask, self.event_dims)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """One draw per value: loc + stddev * N(0, 1). Same shape as ``loc``."""
        eps = torch.randn(self.loc.shape, generator=generator, dtype=self.loc.dtype, device=self.loc.device)
        return self.loc + self.stddev * eps


@dataclass(frozen=True)
class BernoulliConfig:
    kind: Literal["bernoulli"] = "bernoulli"

    params_per_value = 1

    def build(self, out: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> Bernoulli:
        """out: decoder output (*batch, 1*C, ...) in model space -> Bernoulli over (*batch, C, ...)."""
        return Bernoulli(out, event_dims=shift.dim())


@dataclass(frozen=True)
class GaussianConfig:
    kind: Literal["gaussian"] = "gaussian"
    min_logvar: float = -7.0  # floor on the standardized log-variance: keeps the density from collapsing
    max_logvar: float = 4.0  # ceiling, for stability early in training

    params_per_value = 2

    def build(self, out: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> Gaussian:
        """out: decoder output (*batch, 2*C, ...) standardized; returns a Gaussian in data units."""
        loc, logvar = out.chunk(2, dim=-shift.dim())
        logvar = logvar.clamp(self.min_logvar, self.max_logvar)
        return Gaussian(loc * scale + shift, logvar + 2 * torch.log(scale), event_dims=shift.dim())


class StudentT:
    """Independent Student-t per value with learned location, scale and degrees of freedom (> 2, so the variance
    exists), in data units: heavier tails than the Gaussian, so a few badly fitted values cost less (MIWAE's
    choice for tables). NaN in x is missing, as for the Gaussian."""

    def __init__(self, loc: torch.Tensor, log_scale: torch.Tensor, df: torch.Tensor, event_dims: int | None = None):
        self.loc, self.log_scale, self.df = loc, log_scale, df
        self.event_dims = event_dims

    @property
    def mean(self) -> torch.Tensor:
        return self.loc

    @property
    def mode(self) -> torch.Tensor:
        return self.loc

    @property
    def stddev(self) -> torch.Tensor:
        return torch.exp(self.log_scale) * torch.sqrt(self.df / (self.df - 2))

    def log_prob(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Sum of log t(x_i) over the observed values of the event (NaN in x: missing). (N,)"""
        x, mask = _missing_as_mask(x, mask)
        df = self.df
        y = (x - self.loc) * torch.exp(-self.log_scale)
        per_value = (
            torch.lgamma((df + 1) / 2)
            - torch.lgamma(df / 2)
            - 0.5 * torch.log(df * math.pi)
            - self.log_scale
            - (df + 1) / 2 * torch.log1p(y**2 / df)
        )
        return _sum_event(per_value, mask, self.event_dims)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """A draw per value; with a generator, reproducible (torch's gamma sampler takes none, so a seed drawn
        from it seeds a forked RNG)."""
        dist = torch.distributions.StudentT(self.df, self.loc, torch.exp(self.log_scale))
        if generator is None:
            return dist.sample()
        seed = int(torch.randint(2**62, (1,), generator=generator, device=generator.device))
        devices = [self.loc.device] if self.loc.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            return dist.sample()


@dataclass(frozen=True)
class StudentTConfig:
    kind: Literal["studentt"] = "studentt"
    min_logvar: float = -7.0  # floor on twice the standardized log-scale
    max_logvar: float = 4.0
    min_df: float = 2.0  # degrees of freedom are min_df + softplus(output)

    params_per_value = 3

    def build(self, out: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> StudentT:
        """out: decoder output (*batch, 3*C, ...) standardized; returns a Student-t in data units."""
        loc, logvar, raw_df = out.chunk(3, dim=-shift.dim())
        log_scale = 0.5 * logvar.clamp(self.min_logvar, self.max_logvar)
        df = self.min_df + F.softplus(raw_df)
        return StudentT(loc * scale + shift, log_scale + torch.log(scale), df, event_dims=shift.dim())


class Mixed:
    """A table with numeric and categorical columns: an independent Gaussian per numeric column (learned variance,
    data units) and a categorical distribution per categorical column; x (*batch, D) holds numbers and category
    indices, NaN where missing. ``cardinalities`` (D,) is 0 for a numeric column, else its number of categories."""

    def __init__(self, loc: torch.Tensor, logvar: torch.Tensor, logits: torch.Tensor, cardinalities: tuple[int, ...]):
        self.loc, self.logvar = loc, logvar  # (*batch, numeric columns)
        self.logits = logits  # (*batch, sum of the categorical cardinalities), column after column
        self.cardinalities = cardinalities
        self.numeric = [j for j, c in enumerate(cardinalities) if c == 0]
        self.categorical = [j for j, c in enumerate(cardinalities) if c > 0]

    def _slices(self):
        """(column index, logits of its categories) per categorical column."""
        start = 0
        for j in self.categorical:
            c = self.cardinalities[j]
            yield j, self.logits[..., start : start + c]
            start += c

    def _assemble(self, numeric: torch.Tensor, codes: list[torch.Tensor]) -> torch.Tensor:
        """Columns back in table order: numeric values (*batch, numeric) and one tensor per categorical column."""
        columns: list[torch.Tensor] = [torch.empty(0)] * len(self.cardinalities)
        for i, j in enumerate(self.numeric):
            columns[j] = numeric[..., i]
        for code, j in zip(codes, self.categorical, strict=True):
            columns[j] = code.to(numeric.dtype)
        return torch.stack(columns, -1)

    @property
    def mode(self) -> torch.Tensor:
        """The most probable row: numeric columns their mean, categorical columns the index of their most
        probable category. (*batch, D)"""
        return self._assemble(self.loc, [lg.argmax(-1) for _, lg in self._slices()])

    @property
    def mean(self) -> torch.Tensor:
        """Numeric columns: the mean; categorical columns (codes have no mean): the most probable category, as
        ``mode``. (*batch, D)"""
        return self.mode

    @property
    def stddev(self) -> torch.Tensor:
        """Standard deviation of each numeric column. (*batch, numeric columns)"""
        return torch.exp(0.5 * self.logvar)

    def log_prob(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Sum of the log-probabilities of the observed values (NaN in x or mask 0: missing). (*batch,)"""
        x, observed = _missing_as_mask(x, mask)
        if observed is None:
            observed = torch.ones_like(x, dtype=torch.bool)
        xn, on = x[..., self.numeric], observed[..., self.numeric]
        per_value = _normal_log_density(xn, self.loc, self.logvar)
        total = torch.where(on, per_value, torch.zeros((), device=x.device)).sum(-1)
        for j, logits in self._slices():
            log_p = torch.log_softmax(logits, -1)
            shape = torch.broadcast_shapes(log_p.shape[:-1], x.shape[:-1])
            code = x[..., j].long().clamp(0, logits.shape[-1] - 1).expand(shape)
            term = log_p.expand(*shape, log_p.shape[-1]).gather(-1, code[..., None])[..., 0]
            total = total + torch.where(observed[..., j].expand(shape), term, torch.zeros((), device=x.device))
        return total

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """One drawn row per batch entry: numeric columns from their Gaussian, each categorical column's category
        from the softmax of its logits (a column that is 40 % "Berlin" gives Berlin in about 40 % of the draws).
        (*batch, D)"""
        eps = torch.randn(self.loc.shape, generator=generator, dtype=self.loc.dtype, device=self.loc.device)
        codes = []
        for _, logits in self._slices():
            probs = torch.softmax(logits.float(), -1)
            flat = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator)
            codes.append(flat.view(probs.shape[:-1]))
        return self._assemble(self.loc + self.stddev * eps, codes)

    def mixture_point(self, w: torch.Tensor) -> torch.Tensor:
        """Point estimate of the mixture sum_k w_k p(x|z_k), w (K, N) over parameters (K, N, ...): numeric
        columns its mean, categorical columns its most probable category. (N, D)"""
        numeric = torch.einsum("kn,kn...->n...", w, self.loc.float())
        codes = [torch.einsum("kn,knc->nc", w, torch.softmax(lg.float(), -1)).argmax(-1) for _, lg in self._slices()]
        return self._assemble(numeric, codes)


@dataclass(frozen=True)
class MixedConfig:
    """Numeric and categorical table columns (``Mixed``); the decoder emits a mean and a log-variance per numeric
    column, then the logits of every categorical column's categories."""

    kind: Literal["mixed"] = "mixed"
    cardinalities: tuple[int, ...] = ()  # per column: 0 numeric, else its number of categories
    min_logvar: float = -7.0
    max_logvar: float = 4.0

    params_per_value = 1

    @property
    def output_size(self) -> int:
        """Decoder outputs per sample: two per numeric column, one per category."""
        return sum(2 if c == 0 else c for c in self.cardinalities)

    def build(self, out: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> Mixed:
        """out: decoder output (*batch, output_size) in model space -> Mixed over (*batch, D)."""
        numeric = [j for j, c in enumerate(self.cardinalities) if c == 0]
        n = len(numeric)
        loc, logvar, logits = out[..., :n], out[..., n : 2 * n], out[..., 2 * n :]
        shift, scale = shift[numeric], scale[numeric]
        logvar = logvar.clamp(self.min_logvar, self.max_logvar)
        return Mixed(loc * scale + shift, logvar + 2 * torch.log(scale), logits, self.cardinalities)


def _allowed(logits: torch.Tensor, length: int, start: int = 0) -> torch.Tensor:
    """Logits (N, T, V) for the tokens at positions start+1 ... start+T of a row of ``length`` ids, restricted to
    what a sequence can hold there: never <pad>, <bos> or <unk> (ids 0, 1, 3); not <eos> first (an empty
    sequence is no molecule); the last position only <eos> (2). ``log_prob`` and the samplers use the same
    restriction, so ``sample`` draws from the distribution that ``log_prob`` scores, whose probabilities sum to one
    over all non-empty sequences that fit."""
    logits = logits.clone()
    logits[..., [PAD_ID, BOS_ID, UNK_ID]] = -math.inf
    if start == 0:
        logits[:, 0, EOS_ID] = -math.inf
    last = length - 2 - start  # index along T of the row's last position, if it is in range
    if 0 <= last < logits.shape[1]:
        only_eos = torch.full_like(logits[:, last], -math.inf)
        only_eos[:, EOS_ID] = logits[:, last, EOS_ID]
        logits[:, last] = only_eos
    return logits


class CategoricalSequence:
    """p(tokens | z) of an autoregressive decoder: a categorical distribution over the next token given the ones
    before and z. x holds token ids ``<bos> t1 ... tn <eos> <pad> ...`` (N, L); ``log_prob`` sums the log
    probabilities of t1 ... <eos> (teacher forcing), ``sample`` and ``mean`` (greedy: the most probable token at
    each step) generate id rows of the same layout. z may carry sample dimensions: (*batch, D).

    The decoder runs when the distribution is scored or sampled, not when it is made; it runs under the autocast
    in effect when it was made (e.g. bf16 in training), so the caller's precision reaches the GRU that does the
    work. Log-probabilities are summed in float32 either way."""

    def __init__(self, decoder, z: torch.Tensor, length: int, temperature: float = 1.0):
        self.decoder, self.z, self.length, self.temperature = decoder, z, length, temperature
        self.inputs: torch.Tensor | None = None  # what teacher forcing reads instead of the scored x (word dropout)
        device = z.device.type
        self.autocast_dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else None

    def reading(self, inputs: torch.Tensor) -> CategoricalSequence:
        """This distribution with teacher forcing reading ``inputs`` (N, L) in place of the sequences it scores
        (the same rows with some tokens hidden: word dropout). Scores still count the true next tokens."""
        other = copy.copy(self)
        other.inputs = inputs
        return other

    def _precision(self):
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.z.device.type, dtype=self.autocast_dtype)

    def log_prob(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Sum over the tokens after <bos>, up to and including <eos>; ``mask`` (N, L), 0 = leave the token out.
        x (N, L) broadcasts over the sample dimensions of z. (*batch,)"""
        d = self.z.shape[-1]
        shape = torch.broadcast_shapes(self.z.shape[:-1], x.shape[:-1])
        ids = x.long().expand(*shape, x.shape[-1]).reshape(-1, x.shape[-1])
        lengths = lengths_of(ids)
        ids = ids[:, : int(lengths.max())]  # no step past the longest sequence: the GRU never reads padding
        reads = ids
        if self.inputs is not None:
            reads = self.inputs.long().expand(*shape, x.shape[-1]).reshape(-1, x.shape[-1])[:, : ids.shape[1]]
        with self._precision():
            logits = self.decoder.logits(self.z.expand(*shape, d).reshape(-1, d), reads)
        logits = _allowed(logits.float(), self.length)
        target = ids[:, 1:]
        per_token = torch.log_softmax(logits, -1).gather(-1, target[..., None])[..., 0]
        keep = torch.arange(target.shape[1], device=x.device) < (lengths - 1)[:, None]
        if mask is not None:
            keep = keep & (mask.expand(*shape, mask.shape[-1]).reshape(-1, mask.shape[-1])[:, 1 : ids.shape[1]] != 0)
        return torch.where(keep, per_token, torch.zeros((), device=x.device)).sum(-1).view(shape)

    @torch.no_grad()
    def _generate(self, generator: torch.Generator | None, greedy: bool) -> torch.Tensor:
        d = self.z.shape[-1]
        z = self.z.reshape(-1, d)
        n = len(z)
        ids = torch.full((n, self.length), PAD_ID, dtype=torch.int64, device=z.device)
        ids[:, 0] = BOS_ID
        with self._precision():
            h = self.decoder.initial_state(z).float()
        done = torch.zeros(n, dtype=torch.bool, device=z.device)
        for i in range(1, self.length):
            with self._precision():
                logits, h = self.decoder.step(z, ids[:, i - 1], h)
            logits = _allowed(logits.float()[:, None], self.length, start=i - 1)[:, 0]
            if greedy:
                token = logits.argmax(-1)
            else:
                probs = torch.softmax(logits / self.temperature, -1)
                token = torch.multinomial(probs, 1, generator=generator)[:, 0]
            ids[:, i] = torch.where(done, torch.full_like(token, PAD_ID), token)
            done = done | (token == EOS_ID)
            if bool(done.all()):
                break
        return ids.view(*self.z.shape[:-1], self.length)

    @property
    def mean(self) -> torch.Tensor:
        """Greedy decoding: the most probable token at every step. (*batch, L) int64"""
        return self._generate(None, greedy=True)

    @property
    def mode(self) -> torch.Tensor:
        """Greedy decoding, as ``mean`` (an approximation of the most probable sequence). (*batch, L) int64"""
        return self.mean

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """Ancestral sampling, token by token (softmax at ``temperature``). (*batch, L) int64"""
        return self._generate(generator, greedy=False)


@dataclass(frozen=True)
class SequenceLikelihoodConfig:
    """Token sequences from an autoregressive decoder (``CategoricalSequence``); built by the model from its
    decoder and z, not from decoder outputs."""

    kind: Literal["categorical_sequence"] = "categorical_sequence"

    params_per_value = 1


LikelihoodConfig = BernoulliConfig | GaussianConfig | StudentTConfig | MixedConfig | SequenceLikelihoodConfig
LIKELIHOODS: dict[str, type] = {
    "bernoulli": BernoulliConfig,
    "gaussian": GaussianConfig,
    "studentt": StudentTConfig,
    "mixed": MixedConfig,
    "categorical_sequence": SequenceLikelihoodConfig,
}


def bits_per_dim(nats: float, dims: int) -> float:
    return nats / (dims * math.log(2))
