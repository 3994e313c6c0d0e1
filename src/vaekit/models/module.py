"""The VAE module: encode(x) -> posterior q(z|x), decode(z) -> likelihood p(x|z). No loss in forward.

Inputs and outputs are in data units (images in [0, 1], tables in their original units): standardization is a
pair of buffers inside the model, so it is saved with the weights and re-applied at inference. A plain
autoencoder is the same model with a point-mass posterior (``ModelConfig.autoencoder``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from ..config import from_dict, to_dict
from ..core.distributions import LOG_2PI, DiagonalGaussian, PointMass, float32
from ..core.likelihoods import (
    LIKELIHOODS,
    BernoulliConfig,
    CategoricalSequence,
    GaussianConfig,
    LikelihoodConfig,
    MixedConfig,
    SequenceLikelihoodConfig,
    StudentTConfig,
)
from ..data.convert import as_batch
from ..data.schema import Schema
from ..errors import DataError
from ..nn import (
    ConvConfig,
    ConvDecoder,
    ConvEncoder,
    FrameDecoder,
    FrameDynamics,
    FrameEncoder,
    FrameNets,
    FramesConfig,
    MLPConfig,
    MLPDecoder,
    MLPEncoder,
    ResConvConfig,
    ResConvDecoder,
    ResConvEncoder,
    SequenceConfig,
    SequenceDecoder,
    SequenceEncoder,
)
from ..nn import frames as frame_nets
from .presets import PRESET_TABLE
from .presets import PRESET_TRAINING as PRESET_TRAINING  # re-exported

ARCHITECTURES: dict[str, type] = {
    "mlp": MLPConfig,
    "conv": ConvConfig,
    "resconv": ResConvConfig,
    "sequence": SequenceConfig,
    "frames": FramesConfig,
}
ENCODERS: dict[type, type[nn.Module]] = {MLPConfig: MLPEncoder, ConvConfig: ConvEncoder, ResConvConfig: ResConvEncoder}
DECODERS: dict[type, type[nn.Module]] = {MLPConfig: MLPDecoder, ConvConfig: ConvDecoder, ResConvConfig: ResConvDecoder}


@dataclass(frozen=True)
class ModelConfig:
    latent_dim: int = 20  # size of z
    architecture: MLPConfig | ConvConfig | ResConvConfig | SequenceConfig | FramesConfig = field(
        default_factory=MLPConfig
    )
    likelihood: LikelihoodConfig = field(default_factory=BernoulliConfig)  # p(x|z)
    autoencoder: bool = False  # deterministic encoder, no KL: the plain autoencoder baseline
    top_latent_dim: int | None = None  # a second, top latent level z2 -> z1 -> x (ladder-style); None: one level
    mask_input: bool = False  # the encoder reads which values are observed, too (tables with missing values)
    # a head on z predicting these properties of the input (molecules: qed, logp, sa), trained jointly
    properties: tuple[str, ...] = ()
    # where ``sample`` draws new codes: "standard", N(0, I); "fitted", a full-covariance Gaussian fitted to the
    # training codes after training (ex-post density estimation, Ghosh et al., 2020), for a model whose codes do
    # not fill N(0, I), e.g. one trained with a small KL weight. Conditional models always fit (per group)
    code_prior: Literal["standard", "fitted"] = "standard"

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        return from_dict(cls, d, {"architecture": ARCHITECTURES, "likelihood": LIKELIHOODS})


MAX_CODE_GROUPS = 256  # a conditional model fits a code Gaussian per combination of categories, up to this many

# the presets table (models/presets.py) as ModelConfigs: the same names, in the same order
PRESETS: dict[str, ModelConfig] = {name: ModelConfig.from_dict(p.model) for name, p in PRESET_TABLE.items()}


@dataclass
class Latents:
    """A draw z ~ q(z|x) of every latent level, with the terms the bounds need (float32).

    ``z`` is what the decoder reads, (*S, N, D); ``log_ratio`` is log p(z) - log q(z|x) summed over levels,
    (*S, N); ``kl_terms`` the KL of each level to its prior in closed form given the sampled parents, summed."""

    z: torch.Tensor
    log_ratio: torch.Tensor
    kl_terms: torch.Tensor
    kl_dims: torch.Tensor | None = None  # (N, D) KL per latent dimension (one level; for free bits)
    posterior: DiagonalGaussian | None = None  # q(z|x) the draw came from (one level; for the beta-TCVAE terms)

    def kl(self) -> torch.Tensor:
        """Closed-form KL per input (averaged over the sample dimensions, if any). (N,)"""
        kl = self.kl_terms
        return kl.mean(dim=tuple(range(kl.dim() - 1))) if kl.dim() > 1 else kl


class VAEModule(nn.Module):
    """The generative model as tensors: encoder, decoder, priors and standardization buffers. The user-facing
    :class:`vaekit.VAE` adds input conversion and what users do with a model on top of it."""

    @staticmethod
    def _check_arguments(config: ModelConfig, schema: Schema) -> None:
        """ValueError naming the first thing the model cannot be built from: a size that is not a positive
        integer, or an architecture, likelihood and data that do not go together."""
        arch, lik, top = config.architecture, config.likelihood, config.top_latent_dim
        named = ("channels", "hidden", "embedding", "encoder_hidden", "decoder_hidden")  # the widths of each kind
        named += ("features", "rnn", "predictor_layers")
        widths = arch.hidden if isinstance(arch, MLPConfig) else [getattr(arch, k) for k in named if hasattr(arch, k)]
        latents = [config.latent_dim] + ([top] if top is not None else [])
        for what, sizes in (("latent sizes", latents), ("layer widths", widths), ("shape", schema.shape)):
            if any(isinstance(n, bool) or not hasattr(n, "__index__") or n < 1 for n in sizes):  # numpy ints too
                raise ValueError(f"{what} must be positive integers, got {list(sizes)}")
        sequence = isinstance(arch, SequenceConfig)
        table = len(schema.shape) == 1 and schema.kind != "sequence"
        rules = [
            (not schema.shape, "the schema's shape is empty: expected (C, H, W) for images or (D,) for tables"),
            (
                isinstance(lik, MixedConfig) and (not table or tuple(lik.cardinalities) != schema.cardinalities),
                "the mixed likelihood's cardinalities must match the table's columns",
            ),
            (
                isinstance(arch, ConvConfig | ResConvConfig) and schema.kind != "image",
                "the conv architecture needs image data; use the MLP (preset seed) for tables",
            ),
            (
                top is not None and config.autoencoder,
                "a top latent level needs top_latent_dim >= 1 and a VAE (not an autoencoder)",
            ),
            (
                config.mask_input and (not isinstance(arch, MLPConfig) or len(schema.shape) != 1),
                "mask_input needs the MLP architecture and (N, D) data (tables)",
            ),
            (
                sequence != (schema.kind == "sequence") or sequence != isinstance(lik, SequenceLikelihoodConfig),
                "the sequence architecture, likelihood and data (molecules) go together",
            ),
            (sequence and top is not None, "the sequence model has one latent level"),
        ]
        for broken, message in rules:
            if broken:
                raise ValueError(message)
        problem = _frames_problem(config, schema)
        if problem is not None:
            raise ValueError(problem)

    def __init__(self, config: ModelConfig, schema: Schema):
        super().__init__()
        self._check_arguments(config, schema)
        self.is_sequence = isinstance(config.architecture, SequenceConfig)
        top = config.top_latent_dim
        self.config, self.schema = config, schema
        d, arch = config.latent_dim, config.architecture
        out = d if config.autoencoder else 2 * d + 2 * (top or 0)
        self.cardinalities = schema.cardinalities if len(schema.shape) == 1 and not self.is_sequence else ()
        # a conditional model, p(x|z, y): the decoder reads [z, features of y]; the encoder's output is corrected
        # by a head reading [encoder output, features of y], so q(z|x, y) can leave to y what y tells
        self.condition = schema.condition
        width = self.condition.width if self.condition is not None else 0
        if self.is_sequence:
            vocab = len((schema.vocabulary or {}).get("tokens", ()))
            if vocab < 5:
                raise ValueError("a sequence model needs the schema's vocabulary")
            self.encoder = SequenceEncoder(arch, vocab, out)
            self.decoder = SequenceDecoder(arch, d + width, vocab)
        elif self.is_frames:  # per-frame latents z_t (d each) with a learned prior; no condition (refused above)
            self.encoder, self.decoder, self.dynamics = _frame_networks(config, schema)
        else:
            self.encoder = ENCODERS[type(arch)](arch, self._encoder_shape(), out)
            lik = config.likelihood
            out_shape = (lik.output_size,) if isinstance(lik, MixedConfig) else schema.shape
            self.decoder = DECODERS[type(arch)](arch, d + width, out_shape, lik.params_per_value)
            if self.condition is not None:  # y also sets a bias on every output value: a template per class
                self.condition_bias = nn.Linear(width, lik.params_per_value * math.prod(out_shape))
                nn.init.zeros_(self.condition_bias.weight)
                nn.init.zeros_(self.condition_bias.bias)
        if self.condition is not None:
            k = len(self.condition.names)
            self.condition_head = nn.Sequential(nn.Linear(out + width, 256), nn.SiLU(), nn.Linear(256, out))
            # a critic guessing y from z: training keeps z from telling y (TrainConfig.independence), so that y, not
            # z, decides what a sample is (Lample et al., 2017, "Fader networks")
            self.condition_critic = nn.Sequential(
                nn.Linear(d, 256), nn.SiLU(), nn.Linear(256, 256), nn.SiLU(), nn.Linear(256, width)
            )
            self.register_buffer("condition_shift", torch.zeros(k))  # standardization of numeric conditions
            self.register_buffer("condition_scale", torch.ones(k))
        if self.fitted_codes:
            # where new codes are drawn: a Gaussian per combination of a conditional model's categorical
            # conditions (one for all otherwise), fitted to the training codes (fit_code_stats); N(0, I) until fitted
            groups = self.code_groups()
            self.register_buffer("group_mean", torch.zeros(groups, d))
            self.register_buffer("group_chol", torch.eye(d).repeat(groups, 1, 1))
        if top is not None:  # p(z1|z2): the top-down path of the ladder
            self.top_down = nn.Sequential(nn.Linear(top, 256), nn.SiLU(), nn.Linear(256, 2 * d))
        if config.properties:  # predicts the (standardized) properties from z
            p = len(config.properties)
            self.property_head = nn.Sequential(nn.Linear(d, 128), nn.SiLU(), nn.Linear(128, p))
            self.register_buffer("property_shift", torch.zeros(p))
            self.register_buffer("property_scale", torch.ones(p))
        # standardization of inputs (and of the Gaussian likelihood's outputs), in data units
        self.register_buffer("shift", torch.zeros(schema.shape))
        self.register_buffer("scale", torch.ones(schema.shape))
        # where new codes are drawn from: N(0, I) for the VAE, fitted to the training codes for the autoencoder
        self.register_buffer("code_mean", torch.zeros(d))
        self.register_buffer("code_std", torch.ones(d))
        if not isinstance(arch, MLPConfig):  # NHWC: 1.7x decoding, 1.13x training on CPU (conv_layout)
            self.to(memory_format=torch.channels_last)

    @property
    def is_frames(self) -> bool:
        """Whether this is the sequential model of video clips and time series (``vaekit.nn.frames``)."""
        return isinstance(self.config.architecture, FramesConfig)

    @property
    def fitted_codes(self) -> bool:
        """Whether new codes are drawn from Gaussians fitted to the training codes (``sample_codes``): conditional
        models and ``code_prior="fitted"``."""
        return self.condition is not None or self.config.code_prior == "fitted"

    @classmethod
    def from_config(cls, cfg: dict[str, Any]):
        """The model a bundle's config.json describes (its "model", "likelihood" and "schema" entries); a ValueError
        when one is missing. Under ``with torch.device("meta")`` nothing is allocated (``vaekit.bundle`` compares
        such a model with the weights' header before building the real one)."""
        missing = [k for k in ("model", "likelihood", "schema") if not isinstance(cfg.get(k), dict)]
        if missing:
            raise ValueError(f"the config has no {missing[0]} section")
        config = ModelConfig.from_dict({**cfg["model"], "likelihood": cfg["likelihood"]})
        return cls(config, Schema.from_dict(cfg["schema"]))

    @property
    def total_latent_dim(self) -> int:
        """Latent dimensions over all levels (z1 and, with two levels, z2)."""
        return self.config.latent_dim + (self.config.top_latent_dim or 0)

    # -- the model -------------------------------------------------------------------------------------
    def encode(self, x: Any, mask: torch.Tensor | None = None, condition: Any = None) -> DiagonalGaussian:
        """q(z|x) for a batch x (N, *shape) in data units (numpy, uint8 images and one sample accepted): the
        code the decoder reads. With two levels, q(z1|x, z2) at the mean of q(z2|x). ``mask``: see
        ``encode_levels``; ``condition``: a conditional model's y for each input (see ``condition_features``)."""
        levels = self.encode_levels(x, mask, condition)
        return levels[0] if len(levels) == 1 else self._mean_path(levels)[1]

    def encode_levels(
        self, x: Any, mask: torch.Tensor | None = None, condition: Any = None
    ) -> tuple[DiagonalGaussian, ...]:
        """The encoder's Gaussians, top level first: (q(z|x),) with one level; (q(z2|x), bottom-up estimate of
        z1) with two, the latter still to be combined with p(z1|z2) (Sønderby et al., 2016).

        ``mask`` (N, *shape) bool, True where observed: x holds fill-in values elsewhere. Only an encoder that
        reads the mask uses it; others see x as it is. A table model (``mask_input``) reads the standardized values
        with missing ones set to 0 (categorical columns one-hot, all zeros when missing) and the mask; mask None:
        observed = not NaN."""
        if self.is_frames:  # q(z_t|x_<=t) of every step, (N, T * D)
            return (self._frame_gaussians(x)[0],)
        x = self._batch(x)
        if self.is_sequence:
            h = self.encoder(x)
        else:
            h = self.encoder(self._encoder_input(x, mask) if self.config.mask_input else (x - self.shift) / self.scale)
        c = self.condition_features(condition, len(x))
        if c is not None:
            h = h + self.condition_head(torch.cat([h, c.to(h.dtype)], -1))
        if self.config.autoencoder:
            return (PointMass(h),)
        d = 2 * self.config.latent_dim
        heads = [h[..., :d]] if self.config.top_latent_dim is None else [h[..., d:], h[..., :d]]
        return tuple(DiagonalGaussian(m, lv.clamp(-30.0, 20.0)) for m, lv in (t.chunk(2, dim=-1) for t in heads))

    def _encoder_shape(self) -> tuple[int, ...]:
        """Per-sample shape of what the encoder reads."""
        if not self.config.mask_input:
            return tuple(self.schema.shape)
        return (sum(max(c, 1) for c in self.cardinalities) + self.schema.size,)

    def _encoder_input(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """[standardized values, 0 where missing; one-hot categories] + [mask] for a table batch (N, D)."""
        observed = ~torch.isnan(x)
        if mask is not None:
            observed = observed & (torch.as_tensor(mask, device=x.device) != 0)
        zero = torch.zeros((), dtype=x.dtype, device=x.device)
        safe = torch.where(observed, x, zero)
        values = torch.where(observed, (safe - self.shift) / self.scale, zero)
        parts = [values[:, [j for j, c in enumerate(self.cardinalities) if c == 0]]] if self.cardinalities else [values]
        for j, c in enumerate(self.cardinalities):
            if c:
                code = safe[:, j].long().clamp(0, c - 1)
                parts.append(torch.nn.functional.one_hot(code, c).to(x.dtype) * observed[:, j : j + 1])
        return torch.cat([*parts, observed.to(x.dtype)], -1)

    def latent_stats(self, x: Any, condition: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior means and KL to the prior per dimension, every level (top first; z1 given z2 at its mean).
        (N, total latent dims) each."""
        if self.is_frames:  # the KL of each step is to its learned prior
            q, p = self._frame_gaussians(x)
            return q.mean, q.kl_per_dim_to(p)
        levels = self.encode_levels(x, condition=condition)
        if len(levels) == 1:
            return levels[0].mean, levels[0].kl_per_dim()
        prior, q1 = self._mean_path(levels)
        q2 = levels[0]
        return torch.cat([q2.mean, q1.mean], -1), torch.cat([q2.kl_per_dim(), q1.kl_per_dim_to(prior)], -1)

    def _mean_path(self, levels: tuple[DiagonalGaussian, ...]) -> tuple[DiagonalGaussian, DiagonalGaussian]:
        """Two levels, z2 at the mean of q(z2|x): (p(z1|z2), q(z1|x, z2))."""
        q2, bottom_up = levels
        prior = self.prior_z1(q2.mean)
        return prior, _merge(bottom_up, prior)

    def prior_z1(self, z2: torch.Tensor) -> DiagonalGaussian:
        """p(z1|z2) of the two-level model."""
        mean, logvar = self.top_down(z2).float().chunk(2, dim=-1)
        return DiagonalGaussian(mean, logvar.clamp(-30.0, 20.0))

    def sample_latents(
        self,
        levels: tuple[DiagonalGaussian, ...],
        sample_shape: tuple[int, ...] = (),
        generator=None,
        eps: torch.Tensor | None = None,
    ) -> Latents:
        """Reparameterized draws from the posterior ``encode_levels`` returned, top level first. ``eps``: the top
        level's standard-normal draws (see ``DiagonalGaussian.rsample``); one latent level only."""
        if self.is_frames:
            raise ValueError(FRAMES_IMPORTANCE)
        top = float32(levels[0])
        if eps is not None and len(levels) > 1:
            raise ValueError("given noise applies to models with one latent level")
        z = top.rsample(generator, sample_shape, eps)
        if isinstance(top, PointMass):
            return Latents(z, torch.zeros(z.shape[:-1], device=z.device), top.kl())
        log_ratio = -0.5 * (LOG_2PI + z**2).sum(-1) - top.log_prob(z)  # log N(z; 0, I) - log q(z|x)
        if len(levels) == 1:
            kl_dims = top.kl_per_dim()
            return Latents(z, log_ratio, kl_dims.sum(-1), kl_dims, top)
        kl = top.kl()
        prior = self.prior_z1(z)  # (*S, N, D1)
        q1 = _merge(float32(levels[1]), prior)
        z1 = q1.rsample(generator)
        return Latents(z1, log_ratio + prior.log_prob(z1) - q1.log_prob(z1), kl + q1.kl_to(prior))

    def decode(self, z: Any, condition: Any = None) -> Any:
        """p(x|z) for latents z (N, D) or (*batch, D): a likelihood over (*batch, *shape) with ``.mean``,
        ``.sample()``, ``.log_prob(x)`` (x broadcasts, e.g. (N, *shape) against K samples each: (K, N, D)).
        A conditional model decodes p(x|z, y): ``condition`` holds y for the last batch dimension (N, K)."""
        z = torch.as_tensor(z, dtype=torch.float32, device=self.shift.device) if not torch.is_tensor(z) else z
        if z.dim() == 1:
            z = z.unsqueeze(0)
        if self.is_frames:
            return self._frames_decode(z)
        if z.shape[-1] != self.config.latent_dim:
            raise DataError(f"latents have {z.shape[-1]} dimensions, the model has {self.config.latent_dim}")
        z = self.with_condition(z, condition)
        if self.is_sequence:
            return CategoricalSequence(self.decoder, z, self.schema.shape[0])
        flat = z.reshape(-1, z.shape[-1])
        return self.likelihood_from(self.add_condition_bias(self.decoder(flat), flat), z.shape[:-1])

    def add_condition_bias(self, out: torch.Tensor, zc: torch.Tensor) -> torch.Tensor:
        """The decoder's raw output (B, ...) plus a conditional model's per-condition bias, read from the condition
        features at the end of what the decoder read, zc (B, D + width); ``out`` itself otherwise."""
        if self.condition is None or self.is_sequence:
            return out
        bias = self.condition_bias(zc[:, self.config.latent_dim :].to(self.condition_bias.weight.dtype))
        return out + bias.view_as(out).to(out.dtype)

    def condition_features(self, condition: Any, n: int) -> torch.Tensor | None:
        """What the networks read of a condition y: one-hot categories and standardized numbers, (n, width); None
        for an unconditional model. ``condition``: values (n, K) (category indices, numbers) as
        ``vaekit.data.condition.condition_values`` makes them; one row (K,) is repeated n times."""
        if self.condition is None:
            if condition is not None:
                raise DataError("this model is not conditional: leave out the condition (train with --condition)")
            return None
        if condition is None:
            raise DataError(f"this model is conditional on {', '.join(self.condition.names)}: pass a condition")
        y = torch.as_tensor(condition, dtype=torch.float32, device=self.shift.device)
        y = y.expand(n, -1) if y.dim() == 1 or len(y) == 1 else y
        if y.shape != (n, len(self.condition.names)):
            raise DataError(f"the condition has shape {tuple(y.shape)}, expected ({n}, {len(self.condition.names)})")
        parts = []
        for j, (name, kind) in enumerate(zip(self.condition.names, self.condition.types, strict=True)):
            col = y[:, j]
            if kind == "categorical":
                k = len(self.condition.categories[name])
                if bool(((col < 0) | (col >= k)).any()):
                    raise DataError(f"{name} values must be category indices 0..{k - 1}")
                parts.append(torch.nn.functional.one_hot(col.long(), k).float())
            else:
                parts.append(((col - self.condition_shift[j]) / self.condition_scale[j])[:, None])
        return torch.cat(parts, -1)

    def condition_blocks(self) -> list[tuple[int, int, bool]]:
        """Where each condition attribute sits in ``condition_features``: (start, size, categorical)."""
        blocks, start = [], 0
        for name, kind in zip(self.condition.names, self.condition.types, strict=True):
            size = len(self.condition.categories[name]) if kind == "categorical" else 1
            blocks.append((start, size, kind == "categorical"))
            start += size
        return blocks

    def standardized_condition(self, y: torch.Tensor) -> torch.Tensor:
        """Condition values with the numeric ones standardized (category indices kept). (N, K)"""
        return (y - self.condition_shift) / self.condition_scale

    def with_condition(self, z: torch.Tensor, condition: Any) -> torch.Tensor:
        """[z, features of y] for latents (*batch, N, D): what a conditional model's decoder reads (z itself for an
        unconditional model)."""
        c = self.condition_features(condition, z.shape[-2])
        if c is None:
            return z
        return torch.cat([z, c.to(z.dtype).expand(*z.shape[:-1], c.shape[-1])], -1)

    @torch.no_grad()
    def fit_condition_stats(self, y: torch.Tensor) -> None:
        """Standardization of numeric conditions from the training values (N, K); categorical ones keep 0 and 1."""
        if self.condition is None:
            return
        numeric = torch.tensor([t == "numeric" for t in self.condition.types], device=y.device)
        y = y.double()
        mean, std = y.mean(0), y.std(0) if len(y) > 1 else torch.ones_like(y[0])
        self.condition_shift.copy_(torch.where(numeric, mean, 0.0).float())
        self.condition_scale.copy_(torch.where(numeric & (std > 1e-6), std, 1.0).float())

    def likelihood_from(self, out: torch.Tensor, batch_shape: tuple[int, ...]) -> Any:
        """p(x|z) from the decoder's raw output for prod(batch_shape) latents (not for sequence models)."""
        return self.config.likelihood.build(out.view(*batch_shape, *out.shape[1:]), self.shift, self.scale)

    def forward(
        self,
        x: torch.Tensor,
        generator: torch.Generator | None = None,
        sample_shape: tuple[int, ...] = (),
        condition: Any = None,
    ):
        """(latents, likelihood) for a batch: ``Latents`` drawn from q(z|x) (K per input with sample_shape=(K,))
        and p(x|z) over (*sample_shape, N, *shape); a conditional model reads y (``condition``, (N, K)) in both.
        The loss is computed by ``vaekit.core.losses``, not here. A frames model (video, series) reads the true
        previous frames (teacher forcing): z (N, T * D) and p(x|z) over (N, T, *frame) (see ``_frames_forward``)."""
        if self.is_frames:
            self.condition_features(condition, len(x))  # one line: the frames model has no condition
            return self._frames_forward(x, generator, sample_shape)
        latents = self.sample_latents(self.encode_levels(x, condition=condition), sample_shape, generator)
        return latents, self.decode(latents.z, condition)

    def predict_properties(self, z: torch.Tensor) -> torch.Tensor:
        """The property head at latents z (*batch, D): the properties named in ``config.properties``, in their
        units. (*batch, P)"""
        if not self.config.properties:
            raise DataError("this model has no property head (train it with properties)")
        return self.property_head(z) * self.property_scale + self.property_shift

    @torch.no_grad()
    def fit_property_stats(self, y: torch.Tensor) -> None:
        """Standardization of the property head's targets from training values (N, P)."""
        self.property_shift.copy_(y.mean(0))
        self.property_scale.copy_(y.std(0).clamp_min(1e-6))

    @torch.no_grad()
    def fit_data_stats(self, x: torch.Tensor) -> None:
        """Set standardization from training data (Gaussian likelihood only; Bernoulli data stays in [0, 1]). Missing
        values (NaN) are left out of the statistics; categorical columns keep shift 0 and scale 1. Data read from
        disk (``vaekit.data.streaming.Rows``) is read once, a chunk at a time (statistics merged exactly as Chan et
        al.'s parallel variance)."""
        if not isinstance(self.config.likelihood, GaussianConfig | StudentTConfig | MixedConfig):
            return
        # per feature, per image channel, per video channel or per series channel (over all steps)
        dims = {"image": [0, 2, 3], "video": [0, 1, 3, 4], "series": [0, 1]}.get(self.schema.kind, [0])
        count = mean = sq = None
        for chunk in x.chunks() if hasattr(x, "chunks") else [x]:
            observed = ~torch.isnan(chunk)
            n = observed.sum(dim=dims, keepdim=True)[0].double()
            m = chunk.double().nan_to_num().sum(dim=dims, keepdim=True)[0] / n.clamp_min(1)
            q = torch.where(observed, chunk.double() - m, 0.0).square().sum(dim=dims, keepdim=True)[0]
            if count is None:
                count, mean, sq = n, m, q
                continue
            total = count + n
            delta = m - mean
            mean = mean + delta * n / total.clamp_min(1)
            sq = sq + q + delta.square() * count * n / total.clamp_min(1)
            count = total
        std = (sq / (count - 1).clamp_min(1)).sqrt()
        numeric = count > 0
        if self.cardinalities:
            numeric = numeric & torch.tensor([c == 0 for c in self.cardinalities], device=count.device)
        mean = torch.where(numeric, mean, 0.0).float()
        std = torch.where(numeric & (count > 1) & (std > 1e-6), std, 1.0).float()
        self.shift.copy_(mean.expand(self.schema.shape))
        self.scale.copy_(std.expand(self.schema.shape))

    @torch.no_grad()
    def fit_code_stats(
        self, x: torch.Tensor, batch_size: int = 1024, condition: torch.Tensor | None = None, limit: int = 50_000
    ) -> None:
        """For the autoencoder, the two-level model's traversals and models with ``fitted_codes``: fit the Gaussian
        of the training codes; ``sample`` draws the autoencoder's codes from it. A model with ``fitted_codes`` also
        fits a full-covariance Gaussian to the codes of each combination of its categorical conditions
        (``condition``: y per row; one for all without), which ``sample`` draws from (``sample_codes``). At most
        ``limit`` rows are read (evenly spaced): enough for the Gaussians of any latent size we train, and cheap
        for a sequence encoder after every epoch."""
        if not (self.config.autoencoder or self.config.top_latent_dim or self.fitted_codes):
            return
        if len(x) > limit:
            rows = torch.linspace(0, len(x) - 1, limit).long()
            x, condition = x[rows.to(x.device)], None if condition is None else condition[rows.to(condition.device)]
        parts = range(0, len(x), batch_size)
        y = [None if condition is None else condition[i : i + batch_size] for i in parts]
        codes = torch.cat([self.encode(x[i : i + batch_size], condition=c).mean for i, c in zip(parts, y, strict=True)])
        self.code_mean.copy_(codes.mean(0))
        self.code_std.copy_(codes.std(0).clamp_min(1e-6))
        if not self.fitted_codes:
            return
        if self.condition is None:
            self._fit_groups(codes.double(), torch.zeros(len(codes), dtype=torch.long, device=codes.device))
        elif condition is not None:
            self._fit_groups(codes.double(), self.group_of(condition))

    def _fit_groups(self, codes: torch.Tensor, group: torch.Tensor) -> None:
        """Mean and Cholesky factor of the codes (N, D) of each group; a group with fewer than 2 D codes gets the
        Gaussian of all of them."""
        d = codes.shape[1]
        ridge = 1e-4 * torch.eye(d, dtype=codes.dtype, device=codes.device)

        def gaussian(c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return c.mean(0), torch.linalg.cholesky(torch.cov(c.T).reshape(d, d) + ridge)

        pooled = gaussian(codes)
        for g in range(len(self.group_mean)):
            rows = codes[group == g]
            mean, chol = gaussian(rows) if len(rows) >= 2 * d else pooled
            self.group_mean[g].copy_(mean)
            self.group_chol[g].copy_(chol)

    def code_groups(self) -> int:
        """How many Gaussians a conditional model draws its codes from: one per combination of its categorical
        conditions (at most 256 combinations; more, or no categorical condition: one for all)."""
        if self.condition is None:
            return 1
        sizes = [
            len(self.condition.categories[n])
            for n, t in zip(self.condition.names, self.condition.types, strict=True)
            if t == "categorical"
        ]
        count = math.prod(sizes) if sizes else 1
        return count if count <= MAX_CODE_GROUPS else 1

    def group_of(self, condition: torch.Tensor) -> torch.Tensor:
        """The code group of each row of condition values (N, K): the mixed-radix number of its categories. (N,)"""
        y = torch.as_tensor(condition, device=self.group_mean.device)
        index = torch.zeros(len(y), dtype=torch.long, device=y.device)
        if len(self.group_mean) == 1:
            return index
        for j, (name, kind) in enumerate(zip(self.condition.names, self.condition.types, strict=True)):
            if kind == "categorical":
                index = index * len(self.condition.categories[name]) + y[:, j].long()
        return index

    def sample_codes(
        self,
        condition: torch.Tensor | None,
        generator: torch.Generator | None = None,
        eps: torch.Tensor | None = None,
        n: int | None = None,
    ) -> torch.Tensor:
        """New codes for a model with ``fitted_codes``, one per row of condition values (N, K) (a model without a
        condition: ``n`` codes, or one per row of ``eps``): drawn from the Gaussian fitted to the training codes of
        that condition's group (ex-post density estimation, Ghosh et al., 2020). A conditional model's codes drawn
        from the prior land where no training code of that class lies, and decode to ambiguous samples. ``eps``
        (N, D): the standard normal draws to use, instead of drawing them with ``generator``. (N, D)"""
        if condition is None:
            count = len(eps) if eps is not None else n
            if count is None:
                raise ValueError("sample_codes needs a condition, eps or n")
            group = torch.zeros(count, dtype=torch.long, device=self.group_mean.device)
        else:
            group = self.group_of(condition)
        if eps is None:
            eps = torch.randn(len(group), self.config.latent_dim, generator=generator)
        eps = eps.to(self.group_mean)
        return self.group_mean[group] + (self.group_chol[group] @ eps[..., None])[..., 0]

    def _batch(self, x: Any) -> torch.Tensor:
        return as_batch(x, self.schema, self.shift.device)

    # -- frames: video clips (T, C, H, W) and time series (T, D), the sequential model of vaekit.nn.frames --------
    # Standardization is per channel over all steps (fit_data_stats), so a clip of any length reads self.shift[0].

    @property
    def frame_shape(self) -> tuple[int, ...]:
        """One frame of a frames model: (C, H, W) for video, (D,) for a series step."""
        return tuple(self.schema.shape[1:])

    def _frame_nets(self) -> FrameNets:
        return FrameNets(self.encoder, self.decoder, self.dynamics)

    def _frames_batch(self, x: Any) -> torch.Tensor:
        """Clips as float32 (N, T, *frame) in data units, any number of steps T >= 1 (one clip (T, *frame) is a
        batch of one); uint8 video is scaled to [0, 1]; NaN (missing) is allowed in series only."""
        if not self.is_frames:
            raise DataError(f"this {self.schema.kind} model has no frames: that needs a video or series model")
        t = x if torch.is_tensor(x) else torch.as_tensor(x)
        if t.dtype == torch.uint8 and self.schema.kind == "video":
            t = t.float() / 255.0
        t = t.to(device=self.shift.device, dtype=torch.float32)
        frame = self.frame_shape
        if t.dim() == len(frame) + 1:
            t = t.unsqueeze(0)
        if t.dim() != len(frame) + 2 or tuple(t.shape[2:]) != frame or t.shape[1] < 1:
            raise DataError(f"input has shape {tuple(t.shape)}, expected clips (N, T, {', '.join(map(str, frame))})")
        if bool(torch.isinf(t).any()) or (self.schema.kind != "series" and bool(torch.isnan(t).any())):
            raise DataError("input contains infinite values" + ("" if self.schema.kind == "series" else " or NaN"))
        return t

    def _frames_input(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(what the encoder reads of clips x (N, T, *frame): standardized frames, and for a series [values, 0 where
        missing; observed mask]; the steps with an observed value (N, T), None for video)."""
        shift, scale = self.shift[0], self.scale[0]
        if len(self.frame_shape) > 1:
            return (x - shift) / scale, None
        observed = ~torch.isnan(x)
        values = torch.where(observed, (x.nan_to_num() - shift) / scale, 0.0)
        return torch.cat([values, observed.to(x.dtype)], -1), observed.any(-1)

    def _to_frame(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Decoder output (B, k*C, H, W) or (B, k*D) -> (the frame fed back: the likelihood's mean, in data units;
        what the encoder reads of it)."""
        frame = self.config.likelihood.build(raw.float(), self.shift[0], self.scale[0]).mean
        reads = (frame - self.shift[0]) / self.scale[0]
        return frame, reads if len(self.frame_shape) > 1 else torch.cat([reads, torch.ones_like(reads)], -1)

    def _clip_likelihood(self, raw: torch.Tensor, batch: tuple[int, ...]) -> Any:
        """p(x|z) over clips (*batch, T, *frame) from the decoder output of every frame (B, T, k*C, ...): the
        repo's likelihood over the clip, its parameters laid out parameter-major, (B, k*T, C, ...)."""
        n, t, k, c = raw.shape[0], raw.shape[1], self.config.likelihood.params_per_value, self.frame_shape[0]
        rest = self.frame_shape[1:]
        out = raw.reshape(n, t, k, c, *rest).transpose(1, 2).reshape(*batch, k * t, c, *rest)
        shape = (t, *self.frame_shape)
        return self.config.likelihood.build(out, self.shift[0].expand(shape), self.scale[0].expand(shape))

    def _frame_gaussians(self, x: Any) -> tuple[DiagonalGaussian, DiagonalGaussian]:
        """(q(z_t|x_<=t), p(z_t|x_<t)) of every step of clips x, flattened to (N, T * D)."""
        x = self._frames_batch(x)
        q, p, *_ = frame_nets.gaussians(self._frame_nets(), *self._frames_input(x))
        return DiagonalGaussian(*(a.flatten(1) for a in q)), DiagonalGaussian(*(a.flatten(1) for a in p))

    def _frames_forward(self, x: Any, generator, sample_shape: tuple[int, ...]) -> tuple[Latents, Any]:
        """Teacher-forced (Latents, p(x|z)) of clips x (N, T, *frame): z (N, T * D) drawn from the posteriors,
        kl_terms the sum over steps of KL(q_t || p_t) in closed form, log_ratio the sum of log p_t(z_t) - log
        q_t(z_t), kl_dims (N, T * D) (free bits count each step's dimension); p(x|z) over (N, T, *frame)."""
        if sample_shape:
            raise ValueError(FRAMES_IMPORTANCE)
        x = self._frames_batch(x)
        run = frame_nets.teacher_forced(self._frame_nets(), *self._frames_input(x), generator)
        q, p = DiagonalGaussian(*run.q), DiagonalGaussian(*run.p)
        kl_dims = q.kl_per_dim_to(p)  # (N, T, D)
        n = len(x)
        log_ratio = (p.log_prob(run.z) - q.log_prob(run.z)).sum(-1)
        latents = Latents(run.z.reshape(n, -1), log_ratio, kl_dims.sum((1, 2)), kl_dims.reshape(n, -1))
        return latents, self._clip_likelihood(run.raw, (n,))

    def _frames_decode(self, z: torch.Tensor) -> Any:
        """p(x|z) for latents z (*batch, T * D) of a frames model: the clip generated with these z_t, each frame
        (the likelihood's mean) fed back; a likelihood over (*batch, T, *frame)."""
        d = self.config.latent_dim
        if z.shape[-1] % d:
            raise DataError(f"latents have {z.shape[-1]} values, expected T * {d} (the model's latents per frame)")
        flat = z.reshape(-1, z.shape[-1] // d, d).to(self.shift)
        carry = frame_nets.Carry(self.dynamics.start.expand(len(flat), -1))
        _, raws = frame_nets.rollout(self._frame_nets(), carry, flat.shape[1], self._to_frame, z=flat)
        return self._clip_likelihood(torch.stack(raws, 1), tuple(z.shape[:-1]))

    def _roll(self, carry, n: int, frames: int, generator, temperature: float) -> torch.Tensor:
        """``frames`` frames after ``carry`` for n clips, z_t from the learned prior at ``temperature``.
        (n, frames, *frame)"""
        if isinstance(frames, bool) or not hasattr(frames, "__index__") or frames < 1:
            raise DataError(f"frames must be a positive number of frames, got {frames!r}")
        if not temperature > 0:
            raise DataError(f"temperature must be above 0, got {temperature}")
        d, device = self.config.latent_dim, self.shift.device

        def noise(_: int) -> torch.Tensor:
            return temperature * torch.randn(n, d, generator=generator, device=device)

        out, _ = frame_nets.rollout(self._frame_nets(), carry, frames, self._to_frame, noise)
        return torch.stack(out, 1)

    @torch.no_grad()
    def sample_frames(
        self, n: int, frames: int, generator: torch.Generator | None = None, temperature: float = 1.0
    ) -> torch.Tensor:
        """n new clips of ``frames`` frames (any number, also beyond the trained length), generated frame by frame
        from nothing: z_t from the learned prior (its spread scaled by ``temperature``), each frame the
        likelihood's mean (pixel probabilities for video, the Gaussian's mean for a series), encoded and fed back.
        Deterministic given ``generator``. (n, frames, *frame)"""
        self._frames_batch(torch.zeros(1, 1, *self.frame_shape))  # one line for a model that is no frames model
        if isinstance(n, bool) or not hasattr(n, "__index__") or n < 1:
            raise DataError(f"n must be a positive number of clips, got {n!r}")
        carry = frame_nets.Carry(self.dynamics.start.expand(n, -1))
        return self._roll(carry, n, frames, generator, temperature)

    @torch.no_grad()
    def predict_frames(
        self,
        context: Any,
        frames: int,
        samples: int = 1,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
    ) -> torch.Tensor:
        """``samples`` continuations of each clip of ``context`` (N, k, *frame), its first k frames: the model reads
        them (teacher forcing, z_t drawn from the posteriors), then generates ``frames`` more as ``sample_frames``
        does. Deterministic given ``generator``. (samples, N, frames, *frame)"""
        x = self._frames_batch(context)
        if isinstance(samples, bool) or not hasattr(samples, "__index__") or samples < 1:
            raise DataError(f"samples must be a positive number, got {samples!r}")
        n = len(x)
        x = x.repeat(samples, *([1] * (x.dim() - 1)))  # sample-major: row s * N + i continues clip i
        run = frame_nets.teacher_forced(self._frame_nets(), *self._frames_input(x), generator, decode=False)
        out = self._roll(run.carry, len(x), frames, generator, temperature)
        return out.view(samples, n, *out.shape[1:])

    @torch.no_grad()
    def frame_elbo(self, x: Any, generator: torch.Generator | None = None) -> torch.Tensor:
        """The ELBO of every frame of clips x (N, T, *frame), teacher-forced: log p(x_t | z_<=t, x_<t) -
        KL(q(z_t|x_<=t) || p(z_t|x_<t)), one posterior draw per step; the sum over t is the clip's ELBO. A series
        step with no observed value scores 0. (N, T) float32"""
        x = self._frames_batch(x)
        run = frame_nets.teacher_forced(self._frame_nets(), *self._frames_input(x), generator)
        kl = DiagonalGaussian(*run.q).kl_to(DiagonalGaussian(*run.p))
        reconstruction = self.config.likelihood.build(run.raw.float(), self.shift[0], self.scale[0]).log_prob(x)
        return reconstruction - kl


FRAMES_IMPORTANCE = (
    "the frames model (video, series) trains with the ELBO: importance sampling (IWAE) and data-parallel training "
    "are not supported for it"
)


def _frame_networks(config: ModelConfig, schema: Schema) -> FrameNets:
    """The frame encoder, decoder and dynamics (posterior, prior, predictor) of a frames model."""
    arch, frame = config.architecture, tuple(schema.shape[1:])
    decoder = FrameDecoder(arch, frame, config.likelihood.params_per_value)
    return FrameNets(FrameEncoder(arch, frame), decoder, FrameDynamics(arch, config.latent_dim))


def _frames_problem(config: ModelConfig, schema: Schema) -> str | None:
    """Why a frames model cannot be built from ``config`` and ``schema`` (one line), or None."""
    if not isinstance(config.architecture, FramesConfig):
        return None
    if {"video": 4, "series": 2}.get(schema.kind) != len(schema.shape):
        return "the frames architecture needs video (T, C, H, W) or series (T, D) data"
    refused = [
        (config.autoencoder, "a plain autoencoder"),
        (config.top_latent_dim is not None, "a second latent level"),
        (bool(config.properties), "a property head"),
        (schema.condition is not None, "a condition"),
        (config.code_prior != "standard", "a fitted code prior (its prior is learned)"),
        (isinstance(config.likelihood, MixedConfig), "the mixed likelihood"),
    ]
    for broken, what in refused:
        if broken:
            return f"the frames model (video, series) does not support {what}"
    return None


def _merge(bottom_up: DiagonalGaussian, prior: DiagonalGaussian) -> DiagonalGaussian:
    """The ladder's precision-weighted combination of a bottom-up estimate and the top-down prior (LVAE)."""
    precision_b, precision_p = torch.exp(-bottom_up.logvar), torch.exp(-prior.logvar)
    logvar = -torch.logaddexp(-bottom_up.logvar, -prior.logvar)
    mean = (bottom_up.mean * precision_b + prior.mean * precision_p) * torch.exp(logvar)
    return DiagonalGaussian(mean, logvar)


def slerp_path(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between vectors a and b (D,) at fractions t (S, 1). (S, D)"""
    cos = torch.dot(a, b) / (a.norm() * b.norm()).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    if omega.abs() < 1e-4:
        return (1 - t) * a + t * b
    so = math.sin(float(omega))
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b
