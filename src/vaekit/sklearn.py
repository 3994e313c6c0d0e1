"""scikit-learn and PyOD-style estimators over ``vaekit.train`` and the VAE, for numeric (N, D) data.

* :class:`VAE` — a transformer: ``fit``, ``transform`` (posterior means), ``inverse_transform`` (decoded means),
  ``sample``, ``score_samples`` (log p(x)).
* :class:`VAEImputer` — a drop-in for ``sklearn.impute.IterativeImputer``: missing values (NaN) filled with the
  importance-weighted conditional mean given the observed ones (MIWAE, Mattei & Frellsen, 2019).
* :class:`VAEOutlierDetector` — PyOD's detector protocol: ``decision_function`` (higher = more abnormal),
  ``predict`` (1 = outlier), ``predict_proba``, ``decision_scores_``, ``threshold_``, ``labels_``; the threshold
  from ``contamination`` or, with ``fpr``, calibrated on held-out rows (conformal: at most that false-positive rate
  on clean data).

Every estimator trains vaekit's table model (``preset="table"``: a Gaussian per column, standardized; the
encoder reads which values are missing, so rows with NaN train, embed and score on their observed values).
Unset training parameters take that preset's values: 10 latent dimensions, one tanh layer of 512, the IWAE
bound with K=20, at most 500 epochs, batches of 64. ``VAE`` and ``VAEOutlierDetector`` stop early by default
(``early_stopping``: a fifth of the rows held out, training ends 20 epochs after the held-out ELBO last improved,
and the best epoch is kept): on small tables 500 epochs overfit, and the held-out likelihood is what their scores
are (benchmarks/anomaly_sets.py). ``VAEImputer`` trains on every row, as MIWAE does. ``model_`` is the fitted
:class:`vaekit.VAE`; ``model_.save(path)`` writes a bundle every vaekit command reads.

A row's result never depends on the other rows passed with it: rows are processed in blocks of a fixed size
(``BLOCK``), and log p(x) uses the same importance-sampling noise for every row (common random numbers). The same
``random_state`` gives the same results (``None`` means 0).
"""

from __future__ import annotations

import copy
import math
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .errors import VaekitError

_FLOAT64: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()  # fitted model -> its float64 copy
# scores closer than this (relative) are ties in p-values: float32 sums a row in an order that can depend on its
# place in the batch, so a training row scored again may differ from its own reference score by ~1e-7
TIE = 1e-6
BLOCK = 256  # rows per forward pass; the last block is padded, so every row is computed in a pass of this size
MIN_ROWS_TO_STOP = 20  # fewer rows than this train on all of them, without early stopping
MIN_HELD_VALUES = 20  # fewer values held out than this: no interval calibration
INTERVAL_DRAWS = 100  # multiple imputations behind an interval


def _seed(random_state: Any) -> int:
    """An int seed from sklearn's ``random_state`` (None -> 0; a RandomState draws one)."""
    if random_state is None:
        return 0
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    if isinstance(random_state, int | np.integer):
        return int(random_state)
    raise ValueError(f"random_state must be None, an int or a numpy RandomState, got {random_state!r}")


def _spread(draws: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, lower and upper central ``level`` quantile) of multiple imputations (M, ...) over M."""
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return draws.mean(0), lo, hi


def _blocks(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """fn over fixed-size blocks of the rows of x (the last padded with copies of its first row), concatenated."""
    out = []
    with torch.no_grad():
        for i in range(0, len(x), BLOCK):
            block = x[i : i + BLOCK]
            n = len(block)
            if n < BLOCK:
                block = torch.cat([block, block[:1].expand(BLOCK - n, *block.shape[1:])])
            out.append(fn(block)[:n])
    return torch.cat(out)


class _VAEBase(BaseEstimator):
    """Training parameters and the fitted table model, shared by the estimators."""

    def __init__(
        self,
        *,
        latent_dim: int | None = None,
        hidden: tuple[int, ...] | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        learning_rate: float | None = None,
        beta: float = 1.0,
        early_stopping: bool = True,
        validation_fraction: float = 0.2,
        n_iter_no_change: int = 20,
        n_importance_samples: int = 100,
        random_state: Any = None,
        verbose: bool = False,
    ):
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.beta = beta
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.n_importance_samples = n_importance_samples
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # the table model reads missing values
        return tags

    def _check(self, X: Any, reset: bool) -> torch.Tensor:
        x = validate_data(self, X, reset=reset, ensure_all_finite="allow-nan", dtype=np.float64)
        return torch.from_numpy(x.astype(np.float32))

    def _fit_model(self, x: torch.Tensor) -> None:
        """Train the table model on x (N, D); sets ``model_`` and ``seed_``."""
        import pandas as pd

        from .training import train

        if not isinstance(self.n_importance_samples, int | np.integer) or self.n_importance_samples < 1:
            raise ValueError(f"n_importance_samples must be a positive int, got {self.n_importance_samples!r}")
        self.seed_ = _seed(self.random_state)
        options = {
            "latent_dim": self.latent_dim,
            "hidden": self.hidden,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.learning_rate,
        }
        columns = [f"x{j}" for j in range(x.shape[1])]
        frame = pd.DataFrame(x.numpy(), columns=columns)
        given = {k: v for k, v in options.items() if v is not None}
        given.update(self._stopping(len(x)))
        try:
            model = train(frame, preset="table", numeric=columns, beta=self.beta, seed=self.seed_,
                          progress=bool(self.verbose), **given)  # fmt: skip
        except VaekitError as e:
            raise ValueError(str(e)) from None
        self.model_ = model.eval()

    def _stopping(self, n: int) -> dict[str, Any]:
        """Training options of early stopping: ``validation_fraction`` of the rows held out, training stopped after
        ``n_iter_no_change`` epochs without a better validation ELBO and the best epoch kept (off below
        ``MIN_ROWS_TO_STOP`` rows)."""
        if not self.early_stopping or n < MIN_ROWS_TO_STOP:
            return {"val_fraction": 0.0}
        if not 0.0 < float(self.validation_fraction) < 1.0:
            raise ValueError(f"validation_fraction must be in (0, 1), got {self.validation_fraction!r}")
        if not isinstance(self.n_iter_no_change, int | np.integer) or self.n_iter_no_change < 1:
            raise ValueError(f"n_iter_no_change must be a positive int, got {self.n_iter_no_change!r}")
        return {"val_fraction": float(self.validation_fraction), "early_stopping": int(self.n_iter_no_change)}

    def _log_px(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) per row (IWAE, ``n_importance_samples``, the same noise for every row). (N,) float64"""
        from .inference.estimators import iwae_log_px

        k = int(self.n_importance_samples)

        def block(xb: torch.Tensor) -> torch.Tensor:
            g = torch.Generator().manual_seed(self.seed_)
            return iwae_log_px(self.model_, xb, k, generator=g, shared_noise=True)

        return _blocks(block, x)

    def _float64(self) -> Any:
        """A float64 copy of the fitted model, made on first use, for transform and inverse_transform: float32
        kernels may sum a row in another order depending on its place in the batch, so a row's code would depend
        on the other rows' order (scikit-learn checks that it does not); in float64 that noise is below 1e-15."""
        model = _FLOAT64.get(self.model_)  # kept outside the estimator: transform must not change its __dict__
        if model is None:
            model = _FLOAT64[self.model_] = copy.deepcopy(self.model_).double()
        return model


class VAE(TransformerMixin, _VAEBase):
    """A variational autoencoder as a scikit-learn transformer.

    Parameters
    ----------
    latent_dim : int, optional
        Size of the code z (default: the table preset's 10).
    hidden : tuple of int, optional
        Hidden layer sizes of encoder and decoder (default: one tanh layer of 512).
    epochs, batch_size, learning_rate : optional
        Training length, batch size and Adam's step (default: 500, 64, 1e-3).
    beta : float, default 1.0
        Weight of the KL term of the ELBO.
    early_stopping : bool, default True
        Hold out ``validation_fraction`` of the rows and stop ``n_iter_no_change`` epochs after the held-out ELBO
        last improved, keeping the best epoch (off with fewer than 20 rows).
    validation_fraction : float, default 0.2
    n_iter_no_change : int, default 20
    n_importance_samples : int, default 100
        Importance samples K of ``score_samples``' estimate of log p(x).
    random_state : int, RandomState or None
        Seed of the weights, batches and noise (None: 0).
    verbose : bool, default False
        Show training progress.

    Attributes
    ----------
    model_ : vaekit.VAE
        The fitted model.
    n_features_in_ : int
        Columns seen in ``fit``.

    Examples
    --------
    >>> from vaekit.sklearn import VAE
    >>> z = VAE(latent_dim=2, epochs=50).fit_transform(X)  # doctest: +SKIP
    """

    def fit(self, X: Any, y: Any = None) -> VAE:
        """Train on X (n_samples, n_features); NaN marks missing values. ``y`` is ignored."""
        self._fit_model(self._check(X, reset=True))
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Posterior means E[z | x], (n_samples, latent_dim)."""
        check_is_fitted(self)
        model = self._float64()
        return _blocks(lambda xb: model.encode(xb).mean, self._check(X, reset=False).double()).numpy()

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Decoded means E[x | z] of codes X (n_samples, latent_dim), (n_samples, n_features)."""
        check_is_fitted(self)
        z = torch.as_tensor(np.asarray(X, dtype=np.float64))
        if z.dim() != 2 or z.shape[1] != self.model_.config.latent_dim:
            d = self.model_.config.latent_dim
            raise ValueError(f"codes must have shape (n_samples, {d}), got {tuple(z.shape)}")
        model = self._float64()
        return _blocks(lambda zb: model.decode(zb).mean, z).numpy()

    def sample(self, n_samples: int = 1, random_state: Any = None) -> np.ndarray:
        """n_samples new rows: z from the prior, x drawn from p(x | z). (n_samples, n_features)"""
        check_is_fitted(self)
        seed = self.seed_ if random_state is None else _seed(random_state)
        return self.model_.sample(int(n_samples), seed=seed, mean=False).double().cpu().numpy()

    def score_samples(self, X: Any) -> np.ndarray:
        """log p(x) of each row in nats (importance-weighted estimate; missing values left out). (n_samples,)"""
        check_is_fitted(self)
        return self._log_px(self._check(X, reset=False)).numpy()

    def score(self, X: Any, y: Any = None) -> float:
        """Mean log p(x) of the rows of X (higher is better; what GridSearchCV maximizes)."""
        return float(np.mean(self.score_samples(X)))


class VAEImputer(TransformerMixin, _VAEBase):
    """Missing-value imputation with a VAE, a drop-in for ``sklearn.impute.IterativeImputer``.

    ``transform`` fills every NaN with the importance-weighted mean of p(x_missing | x_observed), K =
    ``n_importance_samples`` draws from the encoder (MIWAE); observed values are returned as given.

    Parameters
    ----------
    sample_posterior : bool, default False
        Fill with one draw from p(x_missing | x_observed) instead of its mean (for multiple imputation, call
        ``transform`` with different ``random_state``).
    interval_holdout : float, default 0.05
        Share of the observed values hidden from training to calibrate ``predict_interval`` (0: intervals straight
        from the draws, uncalibrated). Needs at least 20 such values.
    **params
        The training and sampling parameters of :class:`VAE`.

    Attributes
    ----------
    model_ : vaekit.VAE
        The fitted model.
    n_features_in_ : int
        Columns seen in ``fit``.
    interval_draws_ : ndarray of shape (100, n_held) or None
        Multiple imputations of the values held out of training (None without them).
    interval_truth_ : ndarray of shape (n_held,) or None
        Those values.
    """

    def __init__(
        self,
        *,
        sample_posterior: bool = False,
        interval_holdout: float = 0.05,
        latent_dim: int | None = None,
        hidden: tuple[int, ...] | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        learning_rate: float | None = None,
        beta: float = 1.0,
        early_stopping: bool = False,
        validation_fraction: float = 0.2,
        n_iter_no_change: int = 20,
        n_importance_samples: int = 100,
        random_state: Any = None,
        verbose: bool = False,
    ):
        super().__init__(latent_dim=latent_dim, hidden=hidden, epochs=epochs, batch_size=batch_size,
                         learning_rate=learning_rate, beta=beta, early_stopping=early_stopping,
                         validation_fraction=validation_fraction, n_iter_no_change=n_iter_no_change,
                         n_importance_samples=n_importance_samples, random_state=random_state,
                         verbose=verbose)  # fmt: skip
        self.sample_posterior = sample_posterior
        self.interval_holdout = interval_holdout

    def fit(self, X: Any, y: Any = None) -> VAEImputer:
        """Train on the observed values of X (n_samples, n_features), NaN where missing, less the share
        ``interval_holdout`` of them kept back to calibrate the intervals. ``y`` is ignored."""
        x = self._check(X, reset=True)
        if not 0.0 <= float(self.interval_holdout) < 0.5:
            raise ValueError(f"interval_holdout must be in [0, 0.5), got {self.interval_holdout!r}")
        seen = torch.nonzero(~torch.isnan(x).flatten()).squeeze(1)
        count = int(float(self.interval_holdout) * len(seen))
        self.interval_draws_, self.interval_truth_ = None, None
        if count < MIN_HELD_VALUES:
            self._fit_model(x)
            return self
        held = seen[torch.randperm(len(seen), generator=torch.Generator().manual_seed(_seed(self.random_state)))]
        held = held[:count]
        holed = x.flatten().clone()
        holed[held] = float("nan")
        self._fit_model(holed.view_as(x))
        result = self.model_.impute(holed.view_as(x), k=int(self.n_importance_samples), draws=INTERVAL_DRAWS,
                                    seed=self.seed_)  # fmt: skip
        self.interval_draws_ = result.draws.flatten(1)[:, held].double().numpy()  # (M, count)
        self.interval_truth_ = x.flatten()[held].double().numpy()
        return self

    def predict_interval(self, X: Any, level: float = 0.9, n_draws: int = INTERVAL_DRAWS) -> tuple[np.ndarray, ...]:
        """Central ``level`` intervals for the missing values of X: (lower, upper), each (n_samples, n_features),
        equal to the value where it is observed.

        The draws' own intervals (``n_draws`` multiple imputations) are widened around the draws' mean by the
        factor that covers ``level`` of the values held out of training in ``fit`` (the finite-sample conformal
        quantile; split conformal prediction), so they cover about ``level`` of values missing like those were.
        Without held-out values (``interval_holdout=0``) the draws' intervals are returned as they are."""
        check_is_fitted(self)
        if not 0.0 < float(level) < 1.0 or int(n_draws) < 2:
            raise ValueError(f"level must be in (0, 1) and n_draws at least 2, got {level!r}, {n_draws!r}")
        out = validate_data(self, X, reset=False, ensure_all_finite="allow-nan", dtype=np.float64, copy=True)
        missing = np.isnan(out)
        x = torch.from_numpy(out.astype(np.float32))
        draws = self.model_.impute(x, k=int(self.n_importance_samples), draws=int(n_draws), seed=self.seed_).draws
        center, lo, hi = _spread(draws.double().numpy(), level)
        scale = self.interval_scale(level)
        lower, upper = out.copy(), out.copy()
        lower[missing] = (center - scale * (center - lo))[missing]
        upper[missing] = (center + scale * (hi - center))[missing]
        return lower, upper

    def interval_scale(self, level: float = 0.9) -> float:
        """How much ``predict_interval`` widens the draws' central ``level`` intervals (1.0 without held-out
        values): the ceil((n + 1) level)-th smallest factor that reaches a held-out value."""
        check_is_fitted(self)
        if self.interval_draws_ is None:
            return 1.0
        center, lo, hi = _spread(self.interval_draws_, level)
        v = self.interval_truth_
        needed = np.maximum(
            (center - v) / np.maximum(center - lo, 1e-12), (v - center) / np.maximum(hi - center, 1e-12)
        )
        needed = np.sort(np.maximum(needed, 0.0))
        n = len(needed)
        return float(needed[min(n, math.ceil((n + 1) * float(level))) - 1])

    def transform(self, X: Any) -> np.ndarray:
        """X with every NaN filled. (n_samples, n_features) float64"""
        check_is_fitted(self)
        out = validate_data(self, X, reset=False, ensure_all_finite="allow-nan", dtype=np.float64, copy=True)
        missing = np.isnan(out)
        if not missing.any():
            return out
        draws = 1 if self.sample_posterior else 0
        x = torch.from_numpy(out.astype(np.float32))
        result = self.model_.impute(x, k=int(self.n_importance_samples), draws=draws, seed=self.seed_)
        out[missing] = (result.draws[0] if draws else result.mean).double().cpu().numpy()[missing]
        return out  # observed values exactly as given


class VAEOutlierDetector(_VAEBase):
    """Outlier detection with a VAE, following PyOD's detector protocol.

    The outlier score (``decision_function``, higher = more abnormal) is -log p(x), the importance-weighted
    estimate with ``n_importance_samples`` draws (``method="nll"``), or the reconstruction cost -log p(x | z) at
    the posterior mean (``method="recon"``).

    Parameters
    ----------
    contamination : float, default 0.1
        Share of outliers expected in the training data: ``threshold_`` is the training scores' (1 - contamination)
        quantile (PyOD's rule). Ignored when ``fpr`` is set.
    fpr : float, optional
        A calibrated false-positive rate instead: ``calibration_fraction`` of the rows are held out of training,
        scored, and ``threshold_`` placed so that at most ``fpr`` of clean rows are flagged (a conformal guarantee
        for rows exchangeable with them). Needs at least 1 / fpr - 1 held-out rows.
    calibration_fraction : float, default 0.2
        Share of the rows held out for calibration when ``fpr`` is set.
    method : {"nll", "recon"}, default "nll"
        The outlier score.
    **params
        The training and sampling parameters of :class:`VAE`.

    Attributes
    ----------
    decision_scores_ : ndarray of shape (n_samples,)
        Outlier scores of the training rows.
    threshold_ : float
        Scores above it are outliers.
    labels_ : ndarray of shape (n_samples,)
        0 (inlier) or 1 (outlier) for the training rows.
    calibration_scores_ : ndarray or None
        Sorted scores of the held-out rows (with ``fpr``).
    model_ : vaekit.VAE
        The fitted model.
    """

    def __init__(
        self,
        *,
        contamination: float = 0.1,
        fpr: float | None = None,
        calibration_fraction: float = 0.2,
        method: str = "nll",
        latent_dim: int | None = None,
        hidden: tuple[int, ...] | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        learning_rate: float | None = None,
        beta: float = 1.0,
        early_stopping: bool = True,
        validation_fraction: float = 0.2,
        n_iter_no_change: int = 20,
        n_importance_samples: int = 100,
        random_state: Any = None,
        verbose: bool = False,
    ):
        super().__init__(latent_dim=latent_dim, hidden=hidden, epochs=epochs, batch_size=batch_size,
                         learning_rate=learning_rate, beta=beta, early_stopping=early_stopping,
                         validation_fraction=validation_fraction, n_iter_no_change=n_iter_no_change,
                         n_importance_samples=n_importance_samples, random_state=random_state,
                         verbose=verbose)  # fmt: skip
        self.contamination = contamination
        self.fpr = fpr
        self.calibration_fraction = calibration_fraction
        self.method = method

    def _check_params(self) -> None:
        if self.method not in ("nll", "recon"):
            raise ValueError(f"method must be 'nll' or 'recon', got {self.method!r}")
        if not 0.0 < float(self.contamination) <= 0.5:
            raise ValueError(f"contamination must be in (0, 0.5], got {self.contamination!r}")
        if not 0.0 < float(self.calibration_fraction) < 1.0:
            raise ValueError(f"calibration_fraction must be in (0, 1), got {self.calibration_fraction!r}")

    def fit(self, X: Any, y: Any = None) -> VAEOutlierDetector:
        """Train on X (n_samples, n_features), mostly normal rows; ``y`` is ignored (unsupervised)."""
        self._check_params()
        x = self._check(X, reset=True)
        self.calibration_scores_ = None
        if self.fpr is None:
            self._fit_model(x)
            self.decision_scores_ = self._scores(x)
            self.threshold_ = float(np.quantile(self.decision_scores_, 1.0 - float(self.contamination)))
        else:
            from .core.conformal import Calibration, check_fpr, check_rows

            try:
                fpr = check_fpr(float(self.fpr))
                order = np.random.default_rng(_seed(self.random_state)).permutation(len(x))
                held = max(1, int(round(float(self.calibration_fraction) * len(x))))
                check_rows(held, fpr)
            except VaekitError as e:
                raise ValueError(f"{e} (held out: {self.calibration_fraction} of the rows)") from None
            if held >= len(x):
                raise ValueError("calibration leaves no rows to train on: pass more rows or a smaller fraction")
            self._fit_model(x[torch.from_numpy(order[held:])])
            calibration = Calibration.fit(torch.from_numpy(self._scores(x[torch.from_numpy(order[:held])])),
                                          fpr, self.method, None, self.seed_)  # fmt: skip
            self.calibration_scores_ = np.asarray(calibration.scores)
            self.threshold_ = calibration.threshold
            self.decision_scores_ = self._scores(x)
        self.labels_ = (self.decision_scores_ > self.threshold_).astype(int)
        return self

    def _scores(self, x: torch.Tensor) -> np.ndarray:
        if self.method == "nll":
            return (-self._log_px(x)).numpy()

        def recon(xb: torch.Tensor) -> torch.Tensor:
            return -self.model_.decode(self.model_.encode(xb).mean).log_prob(xb).double()

        return _blocks(recon, x).numpy()

    def decision_function(self, X: Any) -> np.ndarray:
        """Outlier score of each row, higher = more abnormal. (n_samples,)"""
        check_is_fitted(self)
        return self._scores(self._check(X, reset=False))

    def predict(self, X: Any) -> np.ndarray:
        """1 for outliers (score above ``threshold_``), 0 for inliers. (n_samples,) int"""
        return (self.decision_function(X) > self.threshold_).astype(int)

    def p_values(self, X: Any) -> np.ndarray:
        """Conformal p-value of each row against the reference scores (the held-out rows with ``fpr``, else the
        training rows): (1 + #reference scores >= its score) / (n + 1). Small = unlike the reference. Scores within
        ``TIE`` (relative) of each other count as equal. (n_samples,)"""
        scores = self.decision_function(X)
        ref = np.sort(self.calibration_scores_ if self.calibration_scores_ is not None else self.decision_scores_)
        above = len(ref) - np.searchsorted(ref, scores - TIE * np.maximum(np.abs(scores), 1.0), side="left")
        return (1.0 + above) / (len(ref) + 1.0)

    def predict_proba(self, X: Any) -> np.ndarray:
        """[P(inlier), P(outlier)] per row, read as ranks: P(outlier) = 1 - ``p_values`` (the share of reference
        scores the row's score exceeds, up to the conformal +1). (n_samples, 2)"""
        p = self.p_values(X)
        return np.column_stack([p, 1.0 - p])

    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        """Fit on X and return ``labels_``."""
        return self.fit(X).labels_


__all__ = ["BLOCK", "VAE", "VAEImputer", "VAEOutlierDetector"]
