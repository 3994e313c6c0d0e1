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

    @torch.no_grad()
    def latent_codes(self, x: Any, sample: bool = False, seed: int = 0, batch_size: int = 1000) -> torch.Tensor:
        """Posterior means of the rows of x (or, with ``sample``, one seeded draw from each q(z|x)),
        ``batch_size`` rows at a time. (N, D)"""
        x = self._batch(x)
        g = torch.Generator(x.device).manual_seed(seed)
        posteriors = (self.encode(x[i : i + batch_size]) for i in range(0, len(x), batch_size))
        return torch.cat([q.sample(g) if sample else q.mean for q in posteriors])

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> VAE:
        """Rebuild a saved model from its run folder (config.json + model.safetensors; never executes code)."""
        return bundle.load_model(path, device, cls=cls)

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, mean: bool | None = None) -> torch.Tensor:
        """n new samples (n, *shape): z from the prior, decoded. ``mean`` True: the likelihood's mean (the most
        probable category of a categorical column); False: a draw from p(x|z). Default (None): the mean for images
        (clean pictures), a draw for tables (rows spread like the data: a column that is 40 % "Berlin" gives
        about 40 % Berlin; the mean would give the most probable city every time)."""
        if mean is None:
            mean = self.schema.kind == "image"
        g = _generator(seed)
        if self.config.top_latent_dim:  # ancestral: z2 ~ N(0, I), z1 ~ p(z1|z2)
            z2 = torch.randn(n, self.config.top_latent_dim, generator=g).to(self.shift)
            prior = self.prior_z1(z2)
            z = prior.mean + prior.stddev * torch.randn(prior.mean.shape, generator=g).to(z2)
        else:
            z = self.code_mean + self.code_std * torch.randn(n, self.config.latent_dim, generator=g).to(self.shift)
        p = self.decode(z)
        return p.mean if mean else p.sample(g)

    def sample_frame(self, n: int, seed: int | None = None, mode: bool = False) -> Any:
        """Table models: n new rows as a pandas DataFrame with the table's column names and category names (drawn
        from p(x|z); ``mode``: the most probable values instead)."""
        if len(self.schema.shape) != 1 or self.schema.kind == "sequence":
            raise DataError(f"sample_frame needs a table model; this one is a {self.schema.kind} model (use sample)")
        from .data.tables import values_frame

        x = self.sample(n, seed=seed, mean=mode)
        return values_frame(x.double().cpu().numpy(), self.schema)

    @torch.no_grad()
    def reconstruct(self, x: Any) -> torch.Tensor:
        """Decoded mean of the posterior mean: the model's reconstruction of x. (N, *shape)"""
        return self.decode(self.encode(x).mean).mean

    @torch.no_grad()
    def interpolate(self, a: Any, b: Any, steps: int = 10, slerp: bool = False) -> torch.Tensor:
        """Decode ``steps`` points on the path between the codes of samples a and b. (steps, *shape)"""
        za, zb = self.encode(a).mean[0], self.encode(b).mean[0]
        t = torch.linspace(0, 1, steps, device=za.device)[:, None]
        return self.decode(slerp_path(za, zb, t) if slerp else (1 - t) * za + t * zb).mean

    @torch.no_grad()
    def traverse(
        self, dims: list[int] | None = None, span: float = 3.0, steps: int = 9, base: Any = None
    ) -> torch.Tensor:
        """Vary one latent dimension at a time over [-span, span] around ``base`` (a sample's code, or the
        prior mean). (len(dims), steps, *shape)"""
        d = self.config.latent_dim
        dims = list(range(min(d, 10))) if dims is None else dims
        bad = [i for i in dims if not 0 <= i < d]
        if bad:
            raise DataError(f"latent dimension(s) {bad} out of range: the model has dimensions 0..{d - 1}")
        z0 = self.code_mean.clone() if base is None else self.encode(base).mean[0]
        values = torch.linspace(-span, span, steps, device=z0.device)
        z = z0.repeat(len(dims), steps, 1)
        for row, i in enumerate(dims):
            z[row, :, i] = self.code_mean[i] + values * self.code_std[i]
        out = self.decode(z.flatten(0, 1)).mean
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
        """Anomaly score per input, higher = more anomalous: "relative" -log p(x|z) at the posterior mean divided
        by 1 + the entropy of the input's gray levels (Bernoulli likelihood), "elbo" -ELBO (fixed-seed noise),
        "iwae" -log p(x) (K=100 importance samples), "recon" -log p(x|z) at the posterior mean. Default: the
        calibrated score, else relative for a Bernoulli likelihood, else elbo (recon for a plain autoencoder).
        (N,) float64"""
        return _anomaly.anomaly_scores(self, x, method, iw_samples=iw_samples, seed=seed)

    def calibrate(
        self, x_clean: Any, fpr: float = 0.01, method: str | None = None, iw_samples: int | None = None, seed: int = 0
    ) -> Any:
        """Calibrate anomaly scores on clean data the model was not trained on (>= ceil(1/fpr) - 1 rows): sets
        and returns ``self.calibration``; ``save`` stores it with the model."""
        return _anomaly.calibrate(self, x_clean, fpr, method, iw_samples=iw_samples, seed=seed)

    def p_values(self, x: Any) -> torch.Tensor:
        """Conformal p-values (N,) in (0, 1]: the rank of each score among the clean calibration scores."""
        return _anomaly.p_values(self, x)

    def is_anomaly(self, x: Any) -> torch.Tensor:
        """(N,) bool: p-value <= the calibrated false-positive rate (the score is above the threshold)."""
        return _anomaly.is_anomaly(self, x)


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
