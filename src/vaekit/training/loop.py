"""The training loop: Adam on the (beta-weighted) negative ELBO, validation, early stopping, NaN guard.

The model never sees the epoch: the loop computes the KL weight from the schedule and passes it to the loss.
Everything resume needs (weights, optimizer, RNG states, schedule position, history) lives in ``TrainState``
plus the optimizer and generators, and is handed to ``on_checkpoint`` after every epoch.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import torch

from ..core.corruption import corrupt
from ..core.distributions import float32
from ..core.losses import betatc_loss, condition_nll, elbo_loss, iwae_loss, uninformative_nll
from ..data import streaming
from ..device import resolve_precision
from ..errors import TrainingError
from ..inference.estimators import elbo_stats, iwae_per_sample
from ..nn.sequence import word_dropout
from ..vae import VAE
from . import distributed
from .config import TrainConfig


@dataclass
class TrainState:
    epoch: int = 0  # last completed epoch
    history: list[dict[str, float]] = field(default_factory=list)  # one record per completed epoch
    best_val: float | None = None  # best validation score so far (ELBO, or the IWAE bound with that objective)
    best_epoch: int = 0
    bad_epochs: int = 0  # epochs since the best validation score
    lr_scale: float = 1.0  # halved at each non-finite-loss rollback
    stopped_early: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Callback(Protocol):
    def on_epoch_start(self, epoch: int, epochs: int, batches: int) -> None: ...
    def on_batch_end(self, batch: int, loss: float) -> None: ...
    def on_epoch_end(self, record: dict[str, float]) -> None: ...
    def on_message(self, text: str) -> None: ...


class _NonFinite(Exception):
    pass


@dataclass
class Generators:
    data: torch.Generator  # shuffling, dynamic binarization and --corrupt noise
    noise: torch.Generator  # reparameterization noise

    @classmethod
    def seeded(cls, seed: int, device: torch.device) -> Generators:
        return cls(torch.Generator(device).manual_seed(seed + 1), torch.Generator(device).manual_seed(seed + 2))

    def state(self) -> dict[str, torch.Tensor]:
        return {"data": self.data.get_state(), "noise": self.noise.get_state()}

    def restore(self, state: dict[str, torch.Tensor]) -> None:
        self.data.set_state(state["data"])
        self.noise.set_state(state["noise"])


def fit(  # noqa: PLR0913
    model: VAE,
    x_train: torch.Tensor,
    x_val: torch.Tensor | None,
    cfg: TrainConfig,
    *,
    dynamic_binarize: bool = False,
    device: torch.device | None = None,
    callbacks: list[Callback] = (),  # type: ignore[assignment]
    on_checkpoint: Callable[[VAE, TrainState, torch.optim.Optimizer, Generators, bool], None] | None = None,
    resume: tuple[dict[str, torch.Tensor], dict[str, Any]] | None = None,
    properties: torch.Tensor | None = None,
    conditions: tuple[torch.Tensor | None, torch.Tensor | None] = (None, None),
) -> TrainState:
    """Train ``model`` in place; returns the final state. x_*: (N, *shape) in data units.

    ``properties`` (N_train, P): targets of the model's property head, row for row with x_train; its squared
    error (standardized) joins the loss with weight ``cfg.property_weight``. ``conditions``: a conditional
    model's (y_train, y_val), row for row with x_train and x_val.

    ``on_checkpoint(model, state, optimizer, generators, improved)`` runs after every completed epoch.
    ``resume`` is (weights, saved state) from a checkpoint: training continues from the epoch after it.
    """
    device = device or torch.device("cpu")
    model.to(device)
    x_train = x_train.to(device)
    properties = properties.to(device) if properties is not None else None
    x_val = x_val.to(device) if x_val is not None and len(x_val) else None
    y_train, y_val = (y.to(device) if y is not None else None for y in conditions)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=True)  # fused: ~9x faster step on CPU
    state, gens = TrainState(), Generators.seeded(cfg.seed, device)
    if resume is not None:
        state, gens = _restore(resume, model, optimizer, cfg, device, callbacks)
    distributed.broadcast_module(model)  # data-parallel: every rank starts from rank 0's weights
    for epoch in range(state.epoch + 1, cfg.epochs + 1):
        if state.stopped_early or _out_of_time(state, cfg):
            break
        data = (x_train, properties, y_train)
        record = _epoch_with_rollback(
            model, optimizer, gens, data, cfg, state, epoch, dynamic_binarize, device, callbacks
        )
        if x_val is not None:
            val = elbo_stats(model, x_val, seed=cfg.seed, device=device, condition=y_val)
            if cfg.objective == "iwae":  # select models by the bound they are trained on
                val["iwae"] = (
                    iwae_per_sample(model, x_val, cfg.iw_samples, seed=cfg.seed, batch_size=500, condition=y_val)
                    .mean()
                    .item()
                )
            record.update({f"val_{k}": v for k, v in val.items()})
        record = distributed.from_rank0(record)  # its time and scores: every rank takes the same decisions
        improved = _update_best(state, record, epoch, cfg)
        state.epoch = epoch
        state.history.append(record)
        for cb in callbacks:
            cb.on_epoch_end(record)
        if on_checkpoint is not None:
            on_checkpoint(model, state, optimizer, gens, improved)
        if "fraction" in record:
            _say(
                callbacks,
                f"time limit of {cfg.time_limit:g} min reached {100 * record['fraction']:.0f} % into epoch {epoch}",
            )
        if state.stopped_early:
            _say(
                callbacks,
                f"early stopping: no better validation score for {cfg.early_stopping} epochs "
                f"(best {state.best_val:.2f} at epoch {state.best_epoch})",
            )
    return state


def _restore(resume, model: VAE, optimizer, cfg: TrainConfig, device: torch.device, callbacks):
    """Load a checkpoint (weights, saved state) into ``model`` and ``optimizer``; returns (TrainState, Generators)."""
    weights, saved = resume
    model.load_state_dict(weights)
    optimizer.load_state_dict(saved["optimizer"])
    _match_layouts(optimizer)
    state = TrainState(**saved["train_state"])
    gens = Generators.seeded(cfg.seed, device)
    try:
        gens.restore({k: v.to("cpu") for k, v in saved["rng"].items()})
    except (RuntimeError, ValueError):  # saved on another kind of device: its RNG states do not fit here
        if saved["rng"]["data"].numel() == gens.data.get_state().numel():  # this device's kind, yet refused
            raise TrainingError("cannot resume: the training state's random generator states are damaged") from None
        gens = Generators.seeded(cfg.seed + state.epoch, device)
        _say(callbacks, "resuming on another kind of device: random streams restarted from the seed")
    return state, gens


def _say(callbacks, text: str) -> None:
    for cb in callbacks:
        cb.on_message(text)


def _seconds_left(state: TrainState, cfg: TrainConfig) -> float:
    """Training time left under ``cfg.time_limit``, counting the epochs of this run and of the ones it resumed."""
    if cfg.time_limit is None:
        return math.inf
    return 60 * cfg.time_limit - sum(r["seconds"] for r in state.history)


def _out_of_time(state: TrainState, cfg: TrainConfig) -> bool:
    return _seconds_left(state, cfg) <= 0


def _update_best(state: TrainState, record: dict[str, float], epoch: int, cfg: TrainConfig) -> bool:
    score = record.get("val_iwae", record.get("val_elbo"))
    if score is None:  # no validation data: the latest model is the best one
        state.best_epoch = epoch
        return True
    if state.best_val is None or score > state.best_val:
        state.best_val, state.best_epoch, state.bad_epochs = score, epoch, 0
        return True
    state.bad_epochs += 1
    if cfg.early_stopping is not None and state.bad_epochs >= cfg.early_stopping:
        state.stopped_early = True
    return False


def _match_layouts(optimizer: torch.optim.Optimizer) -> None:
    """Give restored Adam moments their parameter's memory layout (checkpoints store contiguous tensors; conv
    weights are channels-last), so the fused step never pairs tensors of different strides."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            for name, t in optimizer.state.get(p, {}).items():
                if torch.is_tensor(t) and t.shape == p.shape and t.stride() != p.stride():
                    optimizer.state[p][name] = torch.empty_like(p, dtype=t.dtype).copy_(t)


def _epoch_with_rollback(model, optimizer, gens, data, cfg, state, epoch, dynamic, device, callbacks):  # noqa: PLR0913
    """Run one epoch; on a non-finite loss restore the epoch's starting point, halve the lr and retry."""
    snapshot = (copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict()), gens.state())
    for attempt in range(cfg.max_retries + 1):
        for group in optimizer.param_groups:
            group["lr"] = cfg.lr * state.lr_scale
        try:
            budget = _seconds_left(state, cfg)
            return _run_epoch(model, optimizer, gens, data, cfg, epoch, dynamic, device, callbacks, budget)
        except _NonFinite as e:
            model.load_state_dict(snapshot[0])
            optimizer.load_state_dict(snapshot[1])
            gens.restore(snapshot[2])
            if attempt == cfg.max_retries:
                raise TrainingError(
                    f"training diverged: non-finite loss in epoch {epoch} after {cfg.max_retries} rollbacks "
                    f"(learning rate now {cfg.lr * state.lr_scale:.2e}); try a lower --lr or a smaller --beta"
                ) from None
            state.lr_scale *= 0.5
            for cb in callbacks:
                cb.on_message(
                    f"non-finite {e} in epoch {epoch}: rolled back to the start of the epoch, "
                    f"learning rate halved to {cfg.lr * state.lr_scale:.2e}"
                )
    raise AssertionError("unreachable")


def _run_epoch(  # noqa: C901, PLR0912, PLR0913, PLR0915
    model, optimizer, gens, data, cfg, epoch, dynamic, device, callbacks, budget
) -> dict[str, float]:
    """One pass over the training data, or the part of it that fits in ``budget`` seconds (then the record says
    which fraction of the epoch ran, and its means are over the samples seen)."""
    x_train, properties, conditions = data
    model.train()
    n, bs = len(x_train), cfg.batch_size
    batches = math.ceil(n / bs)
    for cb in callbacks:
        cb.on_epoch_start(epoch, cfg.epochs, batches)
    if cfg.shuffle == "blocks":  # streamed data: runs of rows the disk reads at once
        perm = streaming.block_order(n, gens.data, device)
    else:
        perm = torch.randperm(n, generator=gens.data, device=device)
    base_lr = optimizer.param_groups[0]["lr"]  # the learning rate (after any halving); the schedule scales it
    sums: torch.Tensor | None = None  # running sums of ELBO, reconstruction, KL (and the IWAE bound)
    autocast = _autocast(model, cfg, device)
    start = time.perf_counter()
    property_sum = 0.0
    seen = 0
    with contextlib.closing(streaming.batches(x_train, perm, bs, workers=cfg.workers)) as feed:  # streamed: read ahead
        for b, xb in zip(range(batches), feed, strict=False):
            if b and budget < math.inf and distributed.agree(time.perf_counter() - start >= budget, device):
                break  # the time limit falls inside this epoch
            idx = perm[b * bs : (b + 1) * bs]
            if dynamic:
                xb = (torch.rand(xb.shape, generator=gens.data, device=device) < xb).to(xb.dtype)  # 2x bernoulli()
            beta = cfg.kl_weight(epoch - 1 + b / batches)
            if cfg.lr_schedule != "constant":
                for group in optimizer.param_groups:
                    group["lr"] = base_lr * cfg.lr_factor(epoch - 1 + b / batches)
            iwae = cfg.objective == "iwae"
            x_in = xb if cfg.corrupt is None else _corrupted(model, xb, cfg.corrupt, gens.data)  # denoising VAE
            yb = conditions[idx] if conditions is not None else None
            # the decoder reads the batch with some tokens hidden, and still scores all of them
            reading = word_dropout(xb, cfg.word_dropout, gens.data) if cfg.word_dropout else None
            total, rows = len(idx), distributed.shard(len(idx))  # data-parallel: this process's rows of the batch
            if rows is not None:
                idx, xb, x_in, yb, reading = (t[rows] if t is not None else None for t in (idx, xb, x_in, yb, reading))
            with autocast:
                draws = (cfg.iw_samples,) if iwae else ()
                latents, likelihood = _forward(model, x_in, gens.noise, draws, yb, rows, total)
            likelihood = float32(likelihood)
            if reading is not None:
                likelihood = likelihood.reading(reading)
            out = _loss(xb, latents, likelihood, beta, cfg, n)
            if properties is not None:  # the property head reads the sampled z (standardized squared error)
                head = model.property_head(latents.z).float()
                target = (properties[idx] - model.property_shift) / model.property_scale
                mse = (head - target).square().mean()
                out.loss = out.loss + cfg.property_weight * mse
                property_sum += mse.item() * len(idx)
            if yb is not None and cfg.independence > 0:
                out.loss = out.loss + _independence(model, latents.z, yb, cfg.independence)
            optimizer.zero_grad(set_to_none=True)
            loss = _backward(model, out.loss, len(idx) / total if rows is not None else None)
            norm = _clip_gradients(model, cfg.grad_clip)
            if not math.isfinite(loss):
                raise _NonFinite("loss")
            if norm is not None and not torch.isfinite(norm):
                raise _NonFinite("gradient")
            optimizer.step()
            terms = [out.elbo, out.reconstruction, out.kl] + ([out.iwae] if out.iwae is not None else [])
            batch_sums = torch.stack([t.detach().sum() for t in terms]).double()
            sums = batch_sums if sums is None else sums + batch_sums
            seen += len(idx)
            for cb in callbacks:
                cb.on_batch_end(b, loss)
    seconds = time.perf_counter() - start
    if distributed.active():  # every rank's rows
        *totals, property_sum, seen = distributed.sum_values(sums, property_sum, seen, like=sums)
        sums = torch.tensor(totals, dtype=torch.float64)
    means = (sums / seen).tolist()
    record = dict(zip(("elbo", "reconstruction", "kl", "iwae"), means, strict=False))
    if "iwae" in record:
        record["iw_samples"] = cfg.iw_samples  # names the bound: "iwae" is the K-sample bound trained on
    if properties is not None:
        record["property_mse"] = property_sum / seen  # standardized: 1.0 is no better than the mean
    if seen < n:
        record["fraction"] = seen / n  # stopped by the time limit part-way through
    return {
        "epoch": epoch,
        **record,
        "beta": cfg.kl_weight(epoch),
        "lr": optimizer.param_groups[0]["lr"],
        "seconds": seconds,
        "samples_per_s": seen / seconds,
    }


def _forward(model: VAE, x, generator, sample_shape, condition, rows: slice | None, total: int):
    """(latents, likelihood) of the batch; data-parallel (``rows``: this process's slice of a batch of ``total``
    rows), the noise of these rows is the one a single process would draw for the whole batch. The ladder's second
    level still draws its own noise (for this slice only): there the step matches one process's in distribution."""
    if rows is None or model.config.autoencoder or model.config.top_latent_dim is not None:
        return model(x, generator, sample_shape, condition=condition)
    levels = model.encode_levels(x, condition=condition)
    shape = (*sample_shape, total, model.config.latent_dim)
    eps = torch.randn(shape, generator=generator, dtype=torch.float32, device=x.device)[..., rows, :]
    latents = model.sample_latents(levels, sample_shape, eps=eps)
    return latents, model.decode(latents.z, condition)


def _backward(model: VAE, loss: torch.Tensor, share: float | None) -> float:
    """Backpropagate ``loss``; returns its value. Data-parallel (``share``: this process's fraction of the batch),
    the loss counts by its share and the gradients are summed over the processes: the batch mean of one process."""
    if share is None:
        loss.backward()
        return loss.item()
    (loss * share).backward()
    return distributed.sum_gradients(model, loss.detach() * share)


def _loss(xb: torch.Tensor, latents, likelihood, beta: float, cfg: TrainConfig, dataset_size: int):
    """The training objective of ``cfg.objective`` for one batch."""
    if cfg.objective == "iwae":
        return iwae_loss(xb, latents, likelihood, beta)
    if cfg.objective == "betatc":
        return betatc_loss(xb, latents, likelihood, beta=beta, dataset_size=dataset_size)
    return elbo_loss(xb, latents, likelihood, beta, free_bits=cfg.free_bits)


def _independence(model: VAE, z: torch.Tensor, y: torch.Tensor, weight: float) -> torch.Tensor:
    """The conditional model's critic learns to guess y from z (a detached z: its own loss); the encoder is pushed,
    through a frozen copy of the critic, towards codes that leave it no better than the batch's frequencies."""
    z = z[0] if z.dim() == 3 else z  # the IWAE objective's K draws: the first
    blocks, ys = model.condition_blocks(), model.standardized_condition(y)
    critic = model.condition_critic
    learn = condition_nll(critic(z.detach().float()), ys, blocks).mean()
    frozen = {k: v.detach() for k, v in critic.named_parameters()}
    guess = torch.func.functional_call(critic, frozen, (z.float(),))
    return learn + weight * uninformative_nll(guess, ys, blocks).mean()


def _autocast(model: VAE, cfg: TrainConfig, device: torch.device):
    """bf16 autocast where ``vaekit.device.resolve_precision`` says training runs in bf16 (CUDA; the sequence model
    on a CPU with native bf16 matrix units; or when asked for). The sequence likelihood runs its decoder when the
    loss scores it, under the autocast it was made in."""
    if resolve_precision(cfg.precision, device, training=True, sequence=model.is_sequence) == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def _corrupted(model: VAE, xb: torch.Tensor, spec: str, generator: torch.Generator) -> torch.Tensor:
    """What the encoder sees with ``--corrupt``: a fresh corruption of the batch; the loss still scores the
    reconstruction of the clean batch. A table model that reads missingness sees dropped values as missing: it then
    learns to predict hidden entries from the observed ones, which is what imputation asks of it."""
    image = model.schema.kind == "image"
    missing = model.config.mask_input
    return corrupt(xb, spec, generator, image=image, shift=model.shift, scale=model.scale, as_missing=missing)


def _clip_gradients(model: VAE, max_norm: float | None) -> torch.Tensor | None:
    """Scale gradients down when their global norm exceeds ``max_norm``; returns the norm (pre-clipping).

    Unlike ``clip_grad_norm_`` it leaves the gradients alone (no multiply) in the usual case of a small norm.
    """
    if max_norm is None:
        return None
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    if norm > max_norm:
        torch._foreach_mul_(grads, max_norm / (float(norm) + 1e-6))
    return norm
