"""The user-facing VAE: the module of ``vaekit.models`` plus what users do with a trained model — sample,
reconstruct, interpolate, traverse, impute, inpaint, denoise, score anomalies, save and load.

Inputs are accepted as tensors, numpy arrays, uint8 images or DataFrames (converted by the module against its
schema); results are tensors in data units.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from . import bundle
from .data.condition import condition_rows
from .data.convert import as_batch
from .defaults import IW_SAMPLES
from .errors import DataError
from .inference import anomaly as _anomaly
from .inference import inpaint as _inpaint
from .inference.imputation import Imputation, impute
from .models.module import VAEModule, slerp_path
from .record import RunRecord


class VAE(VAEModule):
    """A VAE (or plain autoencoder) with its schema: ``VAE(ModelConfig(...), schema)``, ``vaekit.train(...)`` or
    ``vaekit.load(run)``."""

    calibration: Any = None  # a vaekit.core.conformal.Calibration once calibrated on clean data, else None

    run_config: dict[str, Any] = {}  # config.json of the bundle it was loaded from or saved to (set by load/train)

    @property
    def record(self) -> RunRecord:
        """What the bundle says about the data and the training, as typed fields."""
        return RunRecord.from_config(self.run_config)

    def condition_values(self, condition: Any, n: int | None = None) -> torch.Tensor | None:
        """A conditional model's y from what a user passes: ``{"label": 7}`` (repeated ``n`` times), ``{"city":
        ["Berlin", "Paris"], "age": [40, 30]}``, a DataFrame with those columns or an array of values (N, K).
        None stays None (the model then says it needs a condition); an unconditional model refuses one."""
        if condition is None or self.condition is None:
            self.condition_features(condition, n or 1)  # the one-line errors: needed, or not conditional
            return None
        from .data.condition import condition_values

        return condition_values(condition, self.condition, n).to(self.shift.device)

    @torch.no_grad()
    def latent_codes(
        self, x: Any, sample: bool = False, seed: int = 0, batch_size: int = 1000, condition: Any = None
    ) -> torch.Tensor:
        """Posterior means of the rows of x (or, with ``sample``, one seeded draw from each q(z|x)),
        ``batch_size`` rows at a time; a conditional model reads each row's ``condition``. (N, D)"""
        x = self._batch(x)
        y = self.condition_values(condition, len(x))
        g = torch.Generator(x.device).manual_seed(seed)
        posteriors = (
            self.encode(x[i : i + batch_size], condition=condition_rows(y, i, batch_size))
            for i in range(0, len(x), batch_size)
        )
        return torch.cat([q.sample(g) if sample else q.mean for q in posteriors])

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> VAE:
        """Rebuild a saved model from its run folder (config.json + model.safetensors; never executes code)."""
        return bundle.load_model(path, device, cls=cls)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        seed: int | None = None,
        mean: bool | None = None,
        condition: Any = None,
        prior: bool = False,
        temperature: float = 1.0,
    ) -> torch.Tensor:
        """n new samples (n, *shape): z from the prior, decoded. ``mean`` True: the likelihood's mean (the most
        probable category of a categorical column); False: a draw from p(x|z). Default (None): the mean for images
        (clean pictures), a draw for tables (rows spread like the data: a column that is 40 % "Berlin" gives
        about 40 % Berlin; the mean would give the most probable city every time). A conditional model samples
        p(x|z, y) for ``condition`` y: ``{"label": 7}`` for n sevens, or one value per sample (``condition_values``),
        with z from the Gaussian fitted to the training codes of that condition (``sample_codes``), as a model
        trained with ``code_prior="fitted"`` does; ``prior``: z from N(0, I) instead. ``temperature`` scales the
        spread of z around the centre of its distribution (below 1: more typical samples; 1: the model's own)."""
        if not temperature > 0:
            raise DataError(f"temperature must be above 0, got {temperature}")
        y = self.condition_values(condition, n)
        if self.is_frames:  # clips of the trained length, frame by frame from the learned prior (frames: their means)
            return self.sample_frames(n, self.schema.shape[0], _generator(seed), temperature)
        if mean is None:
            mean = self.schema.kind == "image"
        g = _generator(seed)
        t = temperature
        if self.config.top_latent_dim:  # ancestral: z2 ~ N(0, I), z1 ~ p(z1|z2)
            z2 = t * torch.randn(n, self.config.top_latent_dim, generator=g).to(self.shift)
            prior = self.prior_z1(z2)
            z = prior.mean + t * prior.stddev * torch.randn(prior.mean.shape, generator=g).to(z2)
        elif self.fitted_codes and not prior and (y is not None or self.condition is None):
            eps = torch.randn(n if y is None else len(y), self.config.latent_dim, generator=g)
            z = self.sample_codes(y, eps=t * eps).to(self.shift)
        else:  # the prior N(0, I); the autoencoder's: the Gaussian of its training codes
            eps = t * torch.randn(n, self.config.latent_dim, generator=g).to(self.shift)
            z = self.code_mean + self.code_std * eps if self.config.autoencoder else eps
        p = self.decode(z, y)
        return p.mean if mean else p.sample(g)

    def sample_frame(self, n: int, seed: int | None = None, mode: bool = False, condition: Any = None) -> Any:
        """Table models: n new rows as a pandas DataFrame with the table's column names and category names (drawn
        from p(x|z); ``mode``: the most probable values instead). A conditional model's rows carry their
        condition columns too."""
        if len(self.schema.shape) != 1 or self.schema.kind == "sequence":
            raise DataError(f"sample_frame needs a table model; this one is a {self.schema.kind} model (use sample)")
        from .data.tables import frame_with_condition

        y = self.condition_values(condition, n)
        x = self.sample(n, seed=seed, mean=mode, condition=y)
        return frame_with_condition(x.double().cpu().numpy(), self.schema, None if y is None else y.cpu().numpy())

    @torch.no_grad()
    def reconstruct(self, x: Any, condition: Any = None, given: Any = None) -> torch.Tensor:
        """Decoded mean of the posterior mean: the model's reconstruction of x. (N, *shape)

        A conditional model encodes x with its own condition ``given`` and decodes with ``condition`` (default:
        ``given``; either one alone serves both). A ``condition`` other than the input's own is a counterfactual:
        ``model.reconstruct(digits, {"label": 3}, given=labels)`` writes the same handwriting as threes."""
        x = self._batch(x)
        y = self.condition_values(condition if condition is not None else given, len(x))
        y0 = self.condition_values(given, len(x)) if given is not None else y
        return self.decode(self.encode(x, condition=y0).mean, y).mean

    @torch.no_grad()
    def interpolate(self, a: Any, b: Any, steps: int = 10, slerp: bool = False, condition: Any = None) -> torch.Tensor:
        """Decode ``steps`` points on the path between the codes of samples a and b (a conditional model:
        encoded and decoded with ``condition``). (steps, *shape)"""
        y = self.condition_values(condition, 1)
        za, zb = self.encode(a, condition=y).mean[0], self.encode(b, condition=y).mean[0]
        t = torch.linspace(0, 1, steps, device=za.device)[:, None]
        return self.decode(slerp_path(za, zb, t) if slerp else (1 - t) * za + t * zb, y).mean

    @torch.no_grad()
    def traverse(
        self, dims: list[int] | None = None, span: float = 3.0, steps: int = 9, base: Any = None, condition: Any = None
    ) -> torch.Tensor:
        """Vary one latent dimension at a time over [-span, span] around ``base`` (a sample's code, or the
        prior mean); a conditional model decodes with ``condition``. (len(dims), steps, *shape)"""
        y = self.condition_values(condition, 1)
        d = self.config.latent_dim
        dims = list(range(min(d, 10))) if dims is None else dims
        bad = [i for i in dims if not 0 <= i < d]
        if bad:
            raise DataError(f"latent dimension(s) {bad} out of range: the model has dimensions 0..{d - 1}")
        z0 = self.code_mean.clone() if base is None else self.encode(base, condition=y).mean[0]
        values = torch.linspace(-span, span, steps, device=z0.device)
        z = z0.repeat(len(dims), steps, 1)
        for row, i in enumerate(dims):
            z[row, :, i] = self.code_mean[i] + values * self.code_std[i]
        out = self.decode(z.flatten(0, 1), y).mean
        return out.view(len(dims), steps, *out.shape[1:])

    def save(self, path: str | Path, **extra: Any) -> None:
        bundle.save_model(self, path, **extra)

    @torch.no_grad()
    def impute(
        self,
        x: Any,
        mask: Any = None,
        *,
        k: int = IW_SAMPLES,
        draws: int = 0,
        refine: int = 0,
        noise: bool = True,
        seed: int = 0,
    ) -> Imputation:
        """Fill the missing entries of x (NaN, or where ``mask`` is 0/False) with the importance-weighted
        conditional mean given the observed ones; ``draws`` > 0 adds that many multiple imputations. Returns a
        ``vaekit.inference.imputation.Imputation`` (``.mean``, ``.draws``, ``.mask``, ``.ess``)."""
        x = as_batch(x, self.schema, self.shift.device, allow_missing=True)
        g = torch.Generator(x.device).manual_seed(seed)
        return impute(self, x, mask, k=k, draws=draws, refine=refine, noise=noise, generator=g)

    def inpaint(
        self, x: Any, holes: Any = None, *, draws: int = 0, k: int = IW_SAMPLES, refine: int = 100, seed: int = 0
    ) -> Any:
        """Fill the pixels of images x where ``holes`` is True/nonzero (and NaN pixels) given the rest: note the
        convention, True = fill, the reverse of ``impute``'s mask. ``holes`` is (H, W) for every image, (N, H, W)
        or (N, C, H, W). Returns an ``Imputation``: ``.mean`` (conditional mean), ``.draws`` (draws alternative
        completions, (M, N, C, H, W)), ``.mask`` (True where observed), ``.ess``. See ``vaekit.inference.inpaint``."""
        return _inpaint.inpaint(self, x, holes, draws=draws, k=k, refine=refine, seed=seed)

    def denoise(self, x: Any, samples: int = 0, seed: int = 0) -> torch.Tensor:
        """The reconstruction of noisy images x: decoded posterior mean (or the mean over ``samples`` draws of
        q(z|x)); a learned denoiser for a model trained with ``corrupt=``. (N, C, H, W)"""
        return _inpaint.denoise(self, x, samples=samples, seed=seed)

    # -- anomaly detection (vaekit.inference.anomaly; the calibration is saved as RUN/anomaly.json) -------

    def anomaly_score(
        self, x: Any, method: str | None = None, iw_samples: int | None = None, seed: int | None = None
    ) -> torch.Tensor:
        """Anomaly score per input, higher = more anomalous: "excess" log E(x) - a log(1 + H(x)), E the
        reconstruction cost beyond the input's own entropy H(x), a fitted by ``calibrate`` (Bernoulli likelihood);
        "relative" -log p(x|z) at the posterior mean divided by 1 + H(x) (Bernoulli likelihood), "elbo" -ELBO
        (fixed-seed noise), "iwae" -log p(x) (K=100 importance samples), "recon" -log p(x|z) at the posterior mean.
        Default: the calibrated score, else relative for a Bernoulli likelihood, else elbo (recon for a plain
        autoencoder). (N,) float64"""
        return _anomaly.anomaly_scores(self, x, method, iw_samples=iw_samples, seed=seed)

    def calibrate(
        self, x_clean: Any, fpr: float = 0.01, method: str | None = None, iw_samples: int | None = None, seed: int = 0
    ) -> Any:
        """Calibrate anomaly scores on clean data the model was not trained on (>= ceil(1/fpr) - 1 rows): sets
        and returns ``self.calibration``; ``save`` stores it with the model. Default score: excess for a
        Bernoulli likelihood (its exponent fitted on this data), else as ``anomaly_score``."""
        return _anomaly.calibrate(self, x_clean, fpr, method, iw_samples=iw_samples, seed=seed)

    def p_values(self, x: Any) -> torch.Tensor:
        """Conformal p-values (N,) in (0, 1]: the rank of each score among the clean calibration scores."""
        return _anomaly.p_values(self, x)

    def is_anomaly(self, x: Any) -> torch.Tensor:
        """(N,) bool: p-value <= the calibrated false-positive rate (the score is above the threshold)."""
        return _anomaly.is_anomaly(self, x)

    # -- attribute vectors (vaekit.inference.attributes; `vaekit attributes` stores them as RUN/attributes.json) -----

    run_path: Path | None = None  # the run folder the model was loaded from: where attribute_vectors are read
    _attribute_vectors: dict[str, torch.Tensor] | None = None  # read on first use, or set by fit_attributes

    @property
    def attribute_vectors(self) -> dict[str, torch.Tensor]:
        """Name -> attribute vector (D,): the direction from the mean code of inputs without an attribute to the
        mean code of inputs with it (``vaekit attributes``, ``fit_attributes``); {} when there are none."""
        if self._attribute_vectors is None:
            from .bundle.attributes import read_attributes

            stored = read_attributes(self.run_path, self.config.latent_dim) if self.run_path is not None else {}
            self._attribute_vectors = {name: entry["vector"] for name, entry in stored.items()}
        return self._attribute_vectors

    def attribute_vector(self, name: str) -> torch.Tensor:
        """The vector ``name`` (D,), or one DataError line naming the known ones (or how to compute some)."""
        vectors = self.attribute_vectors
        if name in vectors:
            return vectors[name].to(self.shift.device)
        if not vectors:
            raise DataError(
                f"no attribute vector {name!r}: none stored, run `vaekit attributes RUN --data D --columns ...`"
            )
        known = sorted(vectors)
        shown = ", ".join(known[:30]) + (f" and {len(known) - 30} more" if len(known) > 30 else "")
        raise DataError(f"unknown attribute {name!r}: the model has vectors for {shown}")

    def fit_attributes(self, x: Any, values: Any, info: Any, condition: Any = None) -> dict[str, dict[str, Any]]:
        """Attribute vectors from inputs x, their attribute ``values`` (N, K) described by ``info`` (a
        ``vaekit.data.schema.Attributes``) and, for a conditional model, each input's ``condition``: posterior
        means, then ``vaekit.inference.attributes.attribute_vectors``. Adds them to ``attribute_vectors`` (in
        memory: ``vaekit attributes`` writes RUN/attributes.json) and returns the entries with their counts."""
        from .inference.attributes import attribute_vectors

        entries = attribute_vectors(self.latent_codes(x, condition=condition), values, info)
        self._attribute_vectors = {**self.attribute_vectors, **{n: e["vector"] for n, e in entries.items()}}
        return entries

    @torch.no_grad()
    def edit(self, x: Any, attribute: str, amounts: Any, condition: Any = None) -> torch.Tensor:
        """Decode code(x) + a * v for each amount a, v the vector of ``attribute`` (a conditional model encodes
        and decodes with ``condition``, each input's own). (len(amounts), *shape) for one input, else
        (N, len(amounts), *shape); amount 0 is the reconstruction."""
        if self.is_sequence:
            raise DataError("edit decodes images and table rows; a molecule model is not supported")
        v = self.attribute_vector(attribute)
        a = torch.as_tensor(amounts, dtype=torch.float32).reshape(-1).to(v.device)
        if len(a) == 0 or not torch.isfinite(a).all():
            raise DataError("edit needs one or more finite amounts (e.g. -2, -1, 0, 1, 2)")
        one = not hasattr(x, "columns") and getattr(x, "ndim", len(self.schema.shape) + 1) <= len(self.schema.shape)
        z = self.latent_codes(x, condition=condition)
        y = self.condition_values(condition, len(z))
        out = self.decode(z[None] + a[:, None, None] * v, y).mean.transpose(0, 1)  # (N, A, *shape)
        return out[0] if one else out


def _generator(seed: int | None) -> torch.Generator:
    g = torch.Generator()
    if seed is None:
        g.seed()
    else:
        g.manual_seed(seed)
    return g


def load_model(path: str | Path, device: str | torch.device = "cpu") -> VAE:
    """``vaekit.load``: the VAE saved in a run folder."""
    return VAE.load(path, device)
