"""Layers of the sequential VAE for frames (video clips, time series): SVG-LP (Denton & Fergus, 2018, "Stochastic
Video Generation with a Learned Prior"), with per-frame latents z_t.

Networks, per frame x_t (a (C, H, W) picture, or a (D,) step of a series):

* ``FrameEncoder``: x_t -> h_t (``features``, tanh). Video: a DCGAN-like conv stack halving the frame until its
  smaller side is at most 4 px (64 -> 32 -> 16 -> 8 -> 4; odd sides are padded, so any size from 8 px works), the
  channels doubling from ``channels`` (max 256), then a linear layer; its feature maps are the decoder's skips.
  Series: an MLP reading the standardized values with missing ones set to 0 and the mask of observed values.
* ``FrameDynamics``: the posterior q(z_t | x_<=t) (an LSTM over h_t), the learned prior p(z_t | x_<t) (an LSTM over
  h_{t-1}) and the frame predictor g_t (an LSTM of ``predictor_layers`` layers over [h_{t-1}, z_t], tanh). A learned
  start embedding stands for h_{-1}, so a clip can be generated from nothing.
* ``FrameDecoder``: g_t (+ the skips of the previous frame's encoder, zero at t = 0, for video) -> the likelihood
  parameters of x_t, ``params_per_value`` per value, parameter-major (as the other decoders).

``teacher_forced`` runs a whole clip at once (training reads the true previous frames): the encoder and decoder see
all N*T frames in one batch, the LSTMs (``torch.nn.LSTM``, about 2 % of a step) run over the sequence; only
``rollout`` (generation) goes frame by frame, each generated frame (the likelihood's mean: pixel probabilities,
a series' Gaussian mean) encoded and fed back. Tensors only: the Gaussians, the KL and the likelihood are the
model's (``vaekit.models.module``).

Choices, and what they were measured against (AMD EPYC, 2 cores, torch 2.13 CPU; training step = forward, backward
and fused Adam on 16 clips of 20 frames of 64x64, Bernoulli likelihood, latent 10 per frame):

* Widths. SVG's own (64 base channels, 128 features, 256 LSTM units) cost about 16x the default's convolutions;
  channels 32 / features 128 / rnn 256 train 14 clips/s, channels 16 / 64 / 128 (the default) 47, channels 12 71,
  channels 8 116. The default sees about 70,000 clips (7 epochs of Moving MNIST's 10,000) in 25 minutes; 32x32
  frames train 4.5x faster (214 clips/s). Generation: about 2,100 frames/s (16 clips at once). A series of 150
  steps and one channel (hidden 128): about 300 series/s at batch 32. Quality after 12 minutes of the default
  (vaekit's loop, 33,000 clips of moving-mnist): test frames score about -350 nats each (teacher-forced; copying
  the previous frame scores -665, the frames' own entropy is 87), and continuations of 5 given frames beat copying
  the last one for 8 steps (MSE 0.021 against 0.047 one step ahead), blurring as they go (the preset trains 27).
* Skips come from the previous frame (SVG's ``last_frame_skip``): a generated clip has no context frame to hold
  on to; zero skips at t = 0. The decoder concatenates them with its upsampled maps, as SVG does.
* Layout: the conv weights are channels-last (as the module's other conv nets), and the shift of the skips by one
  step stays 4-D (``_previous``): through a 5-D view every skip was copied back to NCHW (16 % of a step; 40 ->
  47 clips/s).
* A step with no observed value (series: end padding, a missing step) takes its prior as posterior: it adds no KL,
  and with its reconstruction term empty (NaN is missing) a padded clip scores as the clip cut to its length.
  Noise is drawn one step at a time so that a clip and its truncation draw the same numbers.
* Objective: the ELBO, sum_t E log p(x_t | z_<=t, x_<t) - sum_t KL(q_t || p_t) in closed form, with the repo's
  likelihoods over the whole clip (Bernoulli for video in [0, 1], Gaussian for series). Free bits count every
  step's dimensions (``Latents.kl_dims`` is (N, T * D)). The model refuses (one ValueError line) importance
  sampling (IWAE; also data-parallel training, which draws codes through ``sample_latents``), a condition, the
  plain autoencoder, a second latent level, a property head and a fitted code prior; the beta-TCVAE objective is
  refused by ``vaekit.core.losses`` (no single Gaussian posterior).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
from torch import nn

from .conv import Crop


@dataclass(frozen=True)
class FramesConfig:
    kind: Literal["frames"] = "frames"
    channels: int = 16  # video: conv channels after the first halving, doubled at each further one (max 256)
    hidden: int = 128  # series: width of the per-step MLPs (encoder and decoder)
    features: int = 64  # size of a frame's encoding h_t and of the predictor's output g_t
    rnn: int = 128  # LSTM state size of the posterior, the prior and the predictor
    predictor_layers: int = 2  # LSTM layers of the frame predictor (SVG: 2)


def frame_plan(h: int, w: int, base: int) -> list[tuple[int, int, int]]:
    """(channels, height, width) after each stride-2 step of the video encoder, from the frame size."""
    if min(h, w) < 8:
        raise ValueError(f"the frames model needs frames of at least 8x8 pixels, got {h}x{w}")
    sizes, c = [], base
    while min(h, w) > 4 and len(sizes) < 5:
        h, w = (h + 1) // 2, (w + 1) // 2
        sizes.append((c, h, w))
        c = min(2 * c, 256)
    return sizes


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


class FrameEncoder(nn.Module):
    """Frames (B, C, H, W) -> (h (B, features), skips: the feature map of every conv step, largest first); a
    series step (B, 2 D) ([values, observed mask]) -> (h, [])."""

    def __init__(self, cfg: FramesConfig, frame: tuple[int, ...]):
        super().__init__()
        if len(frame) == 1:
            self.blocks = nn.ModuleList()
            self.head = nn.Sequential(_mlp([2 * frame[0], cfg.hidden, cfg.hidden, cfg.features]), nn.Tanh())
            return
        c_in, h, w = frame
        blocks = []
        for c, ho, wo in frame_plan(h, w, cfg.channels):
            # pad right/bottom by one pixel on odd sizes so the output is ceil(size / 2)
            pad = nn.ZeroPad2d((0, w % 2, 0, h % 2))
            blocks.append(nn.Sequential(pad, nn.Conv2d(c_in, c, 4, 2, 1), nn.LeakyReLU(0.2)))
            c_in, h, w = c, ho, wo
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c_in * h * w, cfg.features), nn.Tanh())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        skips = []
        for block in self.blocks:
            x = block(x)
            skips.append(x)
        return self.head(x), skips


class FrameDecoder(nn.Module):
    """g (B, features) and the previous frame's skips (None: zeros) -> decoder output (B, k*C, H, W) or (B, k*D),
    k = ``params_per_value``. Video mirrors the encoder with transposed convolutions reading [upsampled, skip]."""

    def __init__(self, cfg: FramesConfig, frame: tuple[int, ...], params_per_value: int):
        super().__init__()
        if len(frame) == 1:
            self.skip_shapes: list[tuple[int, int, int]] = []
            self.fc = _mlp([cfg.features, cfg.hidden, cfg.hidden, params_per_value * frame[0]])
            self.ups = nn.ModuleList()
            return
        c_out, h, w = frame
        plan = frame_plan(h, w, cfg.channels)
        self.skip_shapes = plan
        self.start = plan[-1]
        c0, h0, w0 = self.start
        self.fc = nn.Sequential(nn.Linear(cfg.features, c0 * h0 * w0), nn.LeakyReLU(0.2))
        sizes = [(c_out * params_per_value, h, w), *plan]  # sizes[i] is the target of up-step i
        ups = []
        for i in range(len(plan), 0, -1):
            (ci, hi, wi), (co, ho, wo) = sizes[i], sizes[i - 1]
            layers: list[nn.Module] = [nn.ConvTranspose2d(2 * ci, co, 4, 2, 1)]  # reads [upsampled, skip]
            if (2 * hi, 2 * wi) != (ho, wo):
                layers.append(Crop(ho, wo))
            if i > 1:
                layers.append(nn.LeakyReLU(0.2))
            ups.append(nn.Sequential(*layers))
        self.ups = nn.ModuleList(ups)

    def forward(self, g: torch.Tensor, skips: list[torch.Tensor] | None) -> torch.Tensor:
        out = self.fc(g)
        if not self.ups:
            return out
        if skips is None:  # no previous frame (t = 0 of a generated clip)
            skips = [g.new_zeros(len(g), *s).contiguous(memory_format=torch.channels_last) for s in self.skip_shapes]
        d = out.view(len(g), *self.start).contiguous(memory_format=torch.channels_last)
        for up, skip in zip(self.ups, reversed(skips), strict=True):
            d = up(torch.cat([d, skip], 1))
        return d


class _Recurrent(nn.Module):
    """An LSTM over (N, L, I) and a linear head on its outputs: (N, L, O) and the final state."""

    def __init__(self, inputs: int, hidden: int, layers: int, out: int):
        super().__init__()
        self.lstm = nn.LSTM(inputs, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, out)

    def forward(self, x: torch.Tensor, state: tuple | None = None) -> tuple[torch.Tensor, tuple]:
        y, state = self.lstm(x, state)
        return self.head(y), state


class FrameDynamics(nn.Module):
    """The recurrent part: posterior, learned prior, frame predictor and the start embedding h_{-1}."""

    def __init__(self, cfg: FramesConfig, latent_dim: int):
        super().__init__()
        self.start = nn.Parameter(torch.zeros(cfg.features))
        self.posterior = _Recurrent(cfg.features, cfg.rnn, 1, 2 * latent_dim)
        self.prior = _Recurrent(cfg.features, cfg.rnn, 1, 2 * latent_dim)
        self.predictor = _Recurrent(cfg.features + latent_dim, cfg.rnn, cfg.predictor_layers, cfg.features)

    def gaussian(self, net: _Recurrent, h: torch.Tensor, state: tuple | None = None):
        """((mean, logvar) (N, L, D) each, state) of the posterior or the prior reading h (N, L, features)."""
        out, state = net(h, state)
        mean, logvar = out.float().chunk(2, -1)
        return (mean, logvar.clamp(-30.0, 20.0)), state

    def predict(self, h_prev: torch.Tensor, z: torch.Tensor, state: tuple | None = None):
        """(g (N, L, features), state) from h_{t-1} and z_t (N, L, ...)."""
        g, state = self.predictor(torch.cat([h_prev, z.to(h_prev.dtype)], -1), state)
        return torch.tanh(g), state


class FrameNets(NamedTuple):
    """The model's three frame networks, as the functions below take them."""

    encoder: FrameEncoder
    decoder: FrameDecoder
    dynamics: FrameDynamics


@dataclass
class Carry:
    """Where a clip stands after its last frame: that frame's encoding (N, features) and skips, and the prior's and
    the predictor's LSTM states (None: zero). A clip not begun starts from the start embedding, no skips."""

    h: torch.Tensor
    skips: list[torch.Tensor] | None = None
    prior: tuple | None = None
    predictor: tuple | None = None


@dataclass
class Pass:
    """A teacher-forced pass over clips (N, T): the Gaussians of the posterior and the prior of every step, the
    draw z, the decoder's output per frame (N, T, k*C, H, W) or (N, T, k*D) (None when not decoded) and the carry."""

    q: tuple[torch.Tensor, torch.Tensor]  # (mean, logvar) (N, T, D) each
    p: tuple[torch.Tensor, torch.Tensor]
    z: torch.Tensor
    raw: torch.Tensor | None
    carry: Carry


def step_noise(n: int, steps: int, d: int, generator, like: torch.Tensor) -> torch.Tensor:
    """Standard normal draws (n, steps, d), drawn one step at a time: the first steps get the same numbers whatever
    the number of steps (a clip and its truncation draw alike)."""
    draws = [torch.randn(n, d, generator=generator, device=like.device) for _ in range(steps)]
    return torch.stack(draws, 1).to(like.dtype)


def _previous(t: torch.Tensor, n: int, first: torch.Tensor | None = None) -> torch.Tensor:
    """Per step, the value of the step before: (N*T, ...) rows, clip-major -> the same rows shifted by one step
    within each clip, ``first`` (zeros by default) at t = 0. Stays 4-D, so feature maps keep their channels-last
    layout (a 5-D view would be copied to NCHW)."""
    steps = len(t) // n
    begins = (torch.arange(len(t), device=t.device) % steps == 0).view(-1, *[1] * (t.dim() - 1))
    shifted = torch.cat([t[:1], t[:-1]])
    return torch.where(begins, torch.zeros((), dtype=t.dtype, device=t.device) if first is None else first, shifted)


def gaussians(nets: FrameNets, x: torch.Tensor, observed: torch.Tensor | None):
    """The posterior and the prior of every step of clips x (N, T, *frame input) in model space, reading the true
    previous frames: (q, p) as (mean, logvar) (N, T, D) each, h (N, T, features), h_{t-1} (the start embedding at
    t = 0), the encoder's skips (N*T rows each) and the prior's final LSTM state. ``observed`` (N, T) bool: False
    at a step with no observed value, whose posterior is its prior (it adds no KL); None: all observed."""
    n, t = x.shape[:2]
    h, skips = nets.encoder(x.flatten(0, 1))
    prev = _previous(h, n, nets.dynamics.start.to(h.dtype)).view(n, t, -1)
    h = h.view(n, t, -1)
    q, _ = nets.dynamics.gaussian(nets.dynamics.posterior, h)
    p, prior_state = nets.dynamics.gaussian(nets.dynamics.prior, prev)
    if observed is not None:
        keep = observed[..., None]
        q = (torch.where(keep, q[0], p[0]), torch.where(keep, q[1], p[1]))
    return q, p, h, prev, skips, prior_state


def teacher_forced(
    nets: FrameNets, x: torch.Tensor, observed: torch.Tensor | None, generator=None, decode: bool = True
) -> Pass:
    """One pass over clips x (N, T, *frame input) in model space reading the true previous frames (see
    ``gaussians``): z_t drawn from each step's posterior, then the predictor and (``decode``) the decoder."""
    n, t = x.shape[:2]
    q, p, h, prev, skips, prior_state = gaussians(nets, x, observed)
    z = q[0] + torch.exp(0.5 * q[1]) * step_noise(n, t, q[0].shape[-1], generator, q[0])
    g, predictor_state = nets.dynamics.predict(prev, z)
    raw = None
    if decode:
        out = nets.decoder(g.flatten(0, 1), [_previous(s, n) for s in skips])
        raw = out.view(n, t, *out.shape[1:])
    last = [s.view(n, t, *s.shape[1:])[:, -1] for s in skips]
    return Pass(q, p, z, raw, Carry(h[:, -1], last, prior_state, predictor_state))


def rollout(
    nets: FrameNets,
    carry: Carry,
    frames: int,
    to_frame: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    noise: Callable[[int], torch.Tensor] | None = None,
    z: torch.Tensor | None = None,
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Generate ``frames`` frames after ``carry``, each encoded and fed back: z_t from the learned prior, as
    mean + stddev * ``noise(t)`` (N, D), or given, ``z`` (N, frames, D). ``to_frame``: decoder output (N, ...) ->
    (the frame in data units, what the encoder reads of it). Returns (frames in data units, decoder outputs)."""
    h, skips, prior_state, predictor_state = carry.h, carry.skips, carry.prior, carry.predictor
    frames_out, raws = [], []
    for t in range(frames):
        (mean, logvar), prior_state = nets.dynamics.gaussian(nets.dynamics.prior, h[:, None], prior_state)
        z_t = z[:, t : t + 1] if z is not None else mean + torch.exp(0.5 * logvar) * noise(t)[:, None]
        g, predictor_state = nets.dynamics.predict(h[:, None], z_t, predictor_state)
        raw = nets.decoder(g[:, 0], skips)
        frame, reads = to_frame(raw)
        frames_out.append(frame)
        raws.append(raw)
        if t < frames - 1:
            h, skips = nets.encoder(reads)
    return frames_out, raws
