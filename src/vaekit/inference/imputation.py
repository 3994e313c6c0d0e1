"""Missing values from a trained model: the conditional distribution of the missing entries given the observed.

One routine serves tables (missing cells), image inpainting (masked pixels) and anything else with a mask. For
each input x with observed part x_o and missing part x_m:

1. the missing entries are filled with the model's unconditional mean and the result encoded: q(z | x_filled)
   is the proposal. With ``refine`` > 0 the code is first moved by that many Adam steps to the mode of
   p(z | x_o) ∝ p(x_o | z) p(z), the missing entries refilled from it, and the proposal centred there with the
   encoder's spread: much closer to the posterior when a large part is missing (half an image);
2. K latents z_k from the proposal are weighted by w_k ∝ p(x_o | z_k) p(z_k) / q(z_k | x_filled): the
   likelihood counts the observed entries only (Mattei & Frellsen, 2019, MIWAE);
3. single imputation: the importance-weighted conditional mean E[x_m | x_o] ≈ Σ_k w_k E[x_m | z_k]
   (for a likelihood that offers ``mixture_point`` — categorical columns — its point estimate of the
   weighted mixture instead);
4. multiple imputation: ``draws`` times, pick z_k with probability w_k and draw x_m ~ p(x_m | z_k)
   (sampling importance resampling), a new draw of x each time, also when a z_k is picked again (with few
   effective samples the same z_k is picked often, and reusing one x per z_k made the draws too alike: 90 %
   intervals covered 78 % of removed values on breast cancer); ``noise=False`` takes the decoded mean of the
   picked z_k instead, which gives clean alternative completions of an image.

Observed entries are returned exactly as given. The effective sample size of the weights, (Σw)²/Σw², is
returned per input as a diagnostic: near 1 means the proposal was poor and the estimate rests on one draw. Rows
whose ESS falls below ``ESS_FLOOR`` (and below ``ESS_SHARE`` of K) are imputed again with ``ADAPT`` times K.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from ..core.distributions import DiagonalGaussian, PointMass
from ..defaults import IW_SAMPLES
from ..errors import DataError
from .estimators import batch_starts


@dataclass
class Imputation:
    """What ``impute`` returns: every tensor in data units, observed entries as given."""

    mean: torch.Tensor  # (N, *shape): the single imputation
    draws: torch.Tensor | None  # (M, N, *shape): multiple imputations, when asked for
    mask: torch.Tensor  # (N, *shape) bool: True where the value was observed
    ess: torch.Tensor  # (N,) effective sample size of the importance weights, between 1 and the row's K
    k: torch.Tensor | None = None  # (N,) importance samples each row got (more where the weights collapsed)


def observed_mask(x: torch.Tensor, mask: Any = None) -> torch.Tensor:
    """True where x is observed: not NaN, and (when given) where ``mask`` is true/nonzero. (N, *shape) bool"""
    observed = ~torch.isnan(x)
    if mask is None:
        return observed
    m = torch.as_tensor(mask, device=x.device)
    if m.shape != x.shape:
        if m.shape == x.shape[1:] or (m.dim() == x.dim() - 1 and m.shape == x.shape[:1] + x.shape[2:]):
            m = m.unsqueeze(0 if m.shape == x.shape[1:] else 1)
        try:
            m = m.expand_as(x)
        except RuntimeError:
            raise DataError(
                f"mask has shape {tuple(m.shape)}, expected that of the input {tuple(x.shape)} "
                f"(or of one sample, {tuple(x.shape[1:])})"
            ) from None
    return observed & (m != 0)


@torch.no_grad()
def impute(  # noqa: PLR0913
    model,
    x: torch.Tensor,
    mask: Any = None,
    *,
    k: int = IW_SAMPLES,
    draws: int = 0,
    refine: int = 0,
    noise: bool = True,
    generator: torch.Generator | None = None,
    batch_size: int | None = None,
) -> Imputation:
    """Fill the missing entries of x (N, *shape), data units, NaN or ``mask`` == 0 marking them.

    ``k`` importance samples per input; ``draws`` multiple imputations; ``refine`` optimization steps towards
    the posterior mode before the importance sampling (worth it when large parts are missing, e.g. half an
    image); ``noise``: multiple imputations are draws from p(x_m | z) (True) or its mean (False)."""
    if k < 1 or draws < 0 or refine < 0:
        raise DataError("impute needs k >= 1 importance samples, draws >= 0 and refine >= 0")
    observed = observed_mask(x, mask)
    if batch_size is None:
        batch_size = max(1, (1 << 22) // (k * max(1, x[0].numel())))
    g = generator if generator is not None else torch.Generator(x.device).manual_seed(0)
    filled = torch.where(observed, x, start_fill(model).to(x))
    modes = None
    if refine:  # in large chunks: the optimization is cheap per row but has many steps
        chunks = [slice(i, i + 1024) for i in range(0, len(x), 1024)]
        modes = torch.cat(
            [
                posterior_mode(model, filled[c], observed[c], model.encode(filled[c], observed[c]).mean, refine)
                for c in chunks
            ]
        )
        filled = torch.where(observed, x, torch.cat([model.decode(modes[c]).mean.float() for c in chunks]))
    mean, many, ess = _passes(model, (x, filled, observed), modes, (k, draws, noise), g, batch_size)
    used = torch.full((len(x),), k, dtype=torch.long, device=x.device)
    low = (ess < min(ESS_FLOOR, ESS_SHARE * k)).nonzero().squeeze(1)
    if len(low):  # the weights collapsed: these rows again, with ADAPT times the samples
        rows = (x[low], filled[low], observed[low])
        again = _passes(model, rows, modes[low] if modes is not None else None, (ADAPT * k, draws, noise), g,
                        max(1, batch_size // ADAPT))  # fmt: skip
        mean[low], ess[low], used[low] = again[0], again[2], ADAPT * k
        if draws:
            many[:, low] = again[1]
    return Imputation(mean=mean, draws=many, mask=observed, ess=ess, k=used)


# rows whose importance weights have fewer effective samples than ESS_FLOOR (and than ESS_SHARE of K) are imputed
# again with ADAPT times the samples: on breast cancer with two categorical columns the mean ESS was 11 of 1,000
ESS_FLOOR, ESS_SHARE, ADAPT = 20.0, 0.1, 4


def _passes(model, rows, modes, settings, g, batch_size):
    """``_impute_batch`` over batches of ``rows`` = (x, filled, observed) with ``settings`` = (k, draws, noise):
    (mean, draws or None, ess)."""
    x, filled, observed = rows
    k, draws, noise = settings
    parts = []
    for i in batch_starts(len(x), batch_size, "imputing" if len(x) > batch_size else None):
        b = slice(i, i + batch_size)
        mode = modes[b] if modes is not None else None
        parts.append(_impute_batch(model, x[b], filled[b], observed[b], mode, k, draws, noise, g))
    many = torch.cat([p[1] for p in parts], 1) if draws else None
    return torch.cat([p[0] for p in parts]), many, torch.cat([p[2] for p in parts])


def posterior_mode(model, x, observed, z, steps: int, lr: float = 0.05) -> torch.Tensor:
    """``steps`` Adam steps from z (N, D) up log p(x_o | z) + log N(z; 0, I), the decoder's input code; the
    model's weights are left alone. (N, D)"""
    z = z.detach().float().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            loss = -(model.decode(z).log_prob(x, observed) - 0.5 * (z**2).sum(-1)).sum()
            optimizer.zero_grad()
            loss.backward(inputs=[z])
            optimizer.step()
    return z.detach()


# defensive mixture proposal (Hesterberg, 1995): the encoder's Gaussian, the same twice as wide, and the prior
MIXTURE = ((0.5, 1.0), (0.3, 2.0), (0.2, None))  # (share of the K draws, std factor; None: the prior N(0, I))


def proposal_draws(model, levels, k: int, g) -> tuple[torch.Tensor, torch.Tensor]:
    """K codes per input and log p(z) - log r(z), where r is the proposal: the encoder's posterior alone for a
    two-level model or a plain autoencoder; otherwise a defensive mixture of it, a wider copy and the prior, so
    that the weights stay bounded when the encoder (which saw fill-in values) is too sure. (K, N, D), (K, N)"""
    q = levels[-1]
    if len(levels) > 1 or isinstance(q, PointMass) or k < len(MIXTURE):
        latents = model.sample_latents(levels, (k,), g)
        return latents.z, latents.log_ratio
    q = DiagonalGaussian(q.mean.float(), q.logvar.float())
    prior = DiagonalGaussian(torch.zeros_like(q.mean), torch.zeros_like(q.logvar))
    components = [
        (share, prior if f is None else DiagonalGaussian(q.mean, q.logvar + 2 * math.log(f))) for share, f in MIXTURE
    ]
    counts = [int(share * k) for share, _ in MIXTURE]
    counts[0] += k - sum(counts)
    z = torch.cat([c.rsample(g, (n,)) for (_, c), n in zip(components, counts, strict=True)])
    log_r = torch.logsumexp(torch.stack([math.log(share) + c.log_prob(z) for share, c in components]), 0)
    return z, prior.log_prob(z) - log_r


def start_fill(model) -> torch.Tensor:
    """Where the missing entries start: the decoded mean at the centre of the code distribution. (*shape)"""
    return model.decode(model.code_mean[None]).mean[0].float()


def _impute_batch(model, x, filled, observed, mode, k, draws, noise, g):  # noqa: PLR0913
    levels = model.encode_levels(filled, observed)
    if mode is not None:  # the proposal: centred on the posterior mode, with the encoder's spread
        last = levels[-1]
        levels = (*levels[:-1], PointMass(mode) if isinstance(last, PointMass) else DiagonalGaussian(mode, last.logvar))
    z, log_ratio = proposal_draws(model, levels, k, g)
    likelihood = model.decode(z)
    log_w = likelihood.log_prob(filled, observed) + log_ratio  # (K, N): observed entries only
    w = torch.softmax(log_w.double(), 0).float()
    ess = 1.0 / (w.double() ** 2).sum(0)
    if hasattr(likelihood, "mixture_point"):
        point = likelihood.mixture_point(w)
    else:
        point = torch.einsum("kn,kn...->n...", w, likelihood.mean.float())
    mean = torch.where(observed, x, point)
    if not draws:
        return mean, None, ess
    pick = torch.multinomial(w.T, draws, replacement=True, generator=g).T  # (M, N): index of z per draw
    z_picked = z.gather(0, pick[..., None].expand(draws, *z.shape[1:]))  # (M, N, D)
    picked = model.decode(z_picked)  # a fresh x per draw, also when two draws pick the same z
    values = (picked.sample(g) if noise else picked.mean).float()
    return mean, torch.where(observed, x, values), ess
