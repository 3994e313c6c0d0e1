"""Estimators of log p(x) and latent-space diagnostics for a trained VAE.

``iwae_log_px`` is the importance-weighted bound of Burda et al.: log (1/K) sum_k p(x, z_k) / q(z_k | x) with
z_k ~ q(z|x). It is a lower bound on log p(x) that tightens as K grows (K = 1 is the ELBO in expectation) and
converges to log p(x). Samples are drawn in chunks and combined with a running log-sum-exp, so memory stays
bounded whatever K is.
"""

from __future__ import annotations

import copy
import math
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import torch

from .. import progress
from ..core.distributions import PointMass, float32
from ..core.losses import elbo_loss
from ..data.condition import condition_rows
from ..device import Precision, bf16_matmul_is_fast, resolve_precision  # noqa: F401 - re-exported
from ..models.module import VAEModule as VAE

# model -> (parameter versions, a bfloat16 copy of its decoder); rebuilt when training has changed the weights
_BF16_DECODERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _bf16_decoder(model: VAE) -> torch.nn.Module:
    version = tuple(p._version for p in model.decoder.parameters())
    cached = _BF16_DECODERS.get(model)
    if cached is None or cached[0] != version:
        cached = (version, copy.deepcopy(model.decoder).to(torch.bfloat16))
        _BF16_DECODERS[model] = cached
    return cached[1]


def _decoder(model: VAE, device: torch.device, precision: Precision, condition: Any = None) -> Callable:
    """z (*S, B, D) -> p(x|z) (p(x|z, y) with ``condition`` y (B, K)) with float32 parameters, decoded in the
    requested precision.

    bf16 on a CPU runs a bfloat16 copy of the decoder (cached per model, rebuilt after the weights change)
    rather than autocast, which re-casts every weight on every call. Sequence decoders keep their state in
    float32 and so use autocast."""
    precision = resolve_precision(precision, device, sequence=model.is_sequence)
    if precision == "fp32":
        return lambda z: model.decode(z, condition)
    if device.type == "cpu" and not model.is_sequence:
        decoder = _bf16_decoder(model)

        def decode(z: torch.Tensor):
            batch = z.shape[:-1]
            zc = model.with_condition(z, condition)
            flat = zc.reshape(-1, zc.shape[-1])
            out = model.add_condition_bias(decoder(flat.to(torch.bfloat16)).float(), flat)
            return model.likelihood_from(out, batch)

        return decode

    def decode_autocast(z: torch.Tensor):
        with torch.autocast(device.type, dtype=torch.bfloat16):
            return float32(model.decode(z, condition))

    return decode_autocast


@torch.no_grad()
def iwae_log_px(
    model: VAE,
    x: torch.Tensor,
    k: int,
    *,
    generator: torch.Generator | None = None,
    rows_per_chunk: int | None = None,
    precision: Precision = "fp32",
    condition: Any = None,
    shared_noise: bool = False,
) -> torch.Tensor:
    """Importance-weighted estimate of log p(x) with k samples, per input. x: (B, *shape) -> (B,) float64.
    A conditional model: log p(x|y) for the inputs' conditions y (B, K). ``shared_noise``: every input uses the
    same k standard-normal draws (common random numbers; one latent level), so an input's estimate does not depend
    on the other inputs of the batch (still k independent draws for each input).

    Decoder work is batched as (chunk * B) rows at a time, ``rows_per_chunk`` by default 2048 (small chunks stay
    in cache: fastest on a 2-core CPU) or 512 for sequence models (the GRU states of 2048 rows pass 100 MB, above
    the size glibc serves from its heap, so each chunk paid for freshly mapped memory). Under ``precision="bf16"``
    the networks run in bfloat16 and every log-density is still summed in float32.
    """
    if rows_per_chunk is None:
        rows_per_chunk = 512 if model.is_sequence else 2048
    if k < 1:
        raise ValueError("the number of importance samples must be at least 1")
    levels = model.encode_levels(x, condition=condition)
    if isinstance(levels[0], PointMass):
        raise ValueError("importance sampling needs a stochastic encoder: this run is a plain autoencoder")
    b = len(x)
    chunk = max(1, min(k, rows_per_chunk // max(b, 1)))
    total = torch.full((b,), -math.inf, dtype=torch.float64, device=x.device)
    decode = _decoder(model, x.device, precision, condition)
    eps = None
    if shared_noise:  # drawn at once: the same numbers whatever the chunking
        eps = torch.randn(k, 1, levels[0].mean.shape[-1], generator=generator, device=x.device)
    for start in range(0, k, chunk):
        c = min(chunk, k - start)
        shared = eps[start : start + c] if eps is not None else None
        latents = model.sample_latents(levels, (c,), generator, shared)  # z: (c, B, D)
        likelihood = decode(latents.z)  # over (c, B, *shape), float32 parameters
        log_px_z = likelihood.log_prob(x)  # x broadcasts over the c samples: (c, B)
        log_w = (log_px_z + latents.log_ratio).double()
        total = torch.logaddexp(total, torch.logsumexp(log_w, dim=0))
    return total - math.log(k)


def batch_starts(n: int, batch_size: int, description: str | None = None) -> Iterator[int]:
    """0, batch_size, 2 batch_size, ... below n; with ``description``, a progress bar counts the batches."""
    starts = range(0, n, batch_size)
    return iter(starts) if description is None else progress.track(starts, description)


def iwae_per_sample(
    model: VAE,
    x: torch.Tensor,
    k: int,
    *,
    seed: int = 0,
    precision: Precision = "fp32",
    batch_size: int = 100,
    description: str | None = None,
    condition: torch.Tensor | None = None,
) -> torch.Tensor:
    """K-sample importance-weighted log p(x) for every row of x, ``batch_size`` inputs at a time; with
    ``description``, a progress bar; ``condition`` (N, K): a conditional model's y per row. (N,) float64"""
    g = torch.Generator(x.device).manual_seed(seed)
    parts = [
        iwae_log_px(
            model,
            x[i : i + batch_size],
            k,
            generator=g,
            precision=precision,
            condition=condition_rows(condition, i, batch_size),
        )
        for i in batch_starts(len(x), batch_size, description)
    ]
    return torch.cat(parts)


@torch.no_grad()
def latent_diagnostics(
    model: VAE, x: torch.Tensor, batch_size: int = 2000, threshold: float = 0.01, condition: torch.Tensor | None = None
) -> dict:
    """KL per latent dimension (mean over x) and active units: dims whose posterior mean varies over the data
    with variance above ``threshold`` (Burda et al., 2016). A two-level model lists z2's dimensions, then z1's.
    ``condition``: a conditional model's y per row."""
    means, kls = [], []
    for i in range(0, len(x), batch_size):
        mean, kl = model.latent_stats(x[i : i + batch_size], condition_rows(condition, i, batch_size))
        means.append(mean.double())
        kls.append(kl.double())
    mean = torch.cat(means)
    variance = mean.var(0) if len(mean) > 1 else torch.zeros(mean.shape[1], dtype=torch.float64)
    return {
        "kl_per_dim": torch.cat(kls).mean(0).tolist(),
        "posterior_mean_variance": variance.tolist(),
        "active_units": int((variance > threshold).sum()),
    }


@torch.no_grad()
def elbo_stats(
    model: VAE,
    x: torch.Tensor,
    *,
    seed: int = 0,
    batch_size: int = 1000,
    device: torch.device | None = None,
    per_sample: bool = False,
    description: str | None = None,
    condition: torch.Tensor | None = None,
) -> dict[str, Any]:
    """Mean ELBO, reconstruction and KL (nats per sample) of x (N, *shape), with fixed-seed noise; with
    ``description``, a progress bar; ``condition`` (N, K): a conditional model's y per row."""
    was_training = model.training
    model.eval()
    device = device or next(model.parameters()).device
    g = torch.Generator(device).manual_seed(seed)
    parts: list[torch.Tensor] = []
    for i in batch_starts(len(x), batch_size, description):
        xb = x[i : i + batch_size].to(device)
        latents, likelihood = model(xb, g, condition=_on(condition_rows(condition, i, batch_size), device))
        out = elbo_loss(xb, latents, likelihood)
        parts.append(torch.stack([out.elbo, out.reconstruction, out.kl], 1).double().cpu())
    model.train(was_training)  # the caller's mode, as it was
    values = torch.cat(parts)
    stats: dict[str, Any] = dict(zip(("elbo", "reconstruction", "kl"), values.mean(0).tolist(), strict=True))
    if per_sample:
        stats["per_sample"] = values
    return stats


def _on(y: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    return None if y is None else y.to(device)
