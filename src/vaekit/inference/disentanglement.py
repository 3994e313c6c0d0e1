"""Disentanglement metrics of latent codes against known factors of variation: MIG, DCI and SAP.

The definitions follow disentanglement_lib (Locatello et al., 2019): MIG (Chen et al., 2018) from histogram-binned
codes, DCI (Eastwood & Williams, 2018) from gradient-boosted trees' feature importances, SAP (Kumar et al., 2018)
from one-dimensional predictors. Deviations: continuous factors get regressors (R^2) where the library fits
classifiers to binned values, and SAP's discrete factors a small one-dimensional decision tree instead of a
linear SVM (which cannot separate a middle class on one axis). Codes are (N, D) latent means, factors (N, K)
ground-truth values; numpy arrays or torch tensors in, JSON-friendly dicts (floats and lists) out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
from sklearn.metrics import mutual_info_score
from sklearn.tree import DecisionTreeClassifier

from ..errors import DataError

MAX_INFERRED_CLASSES = 20  # with discrete=None, an integer-valued factor with at most this many values is discrete
_TINY = 1e-12


class MetricInputError(DataError, ValueError):
    """Codes or factors a disentanglement metric cannot score (a DataError that is also a ValueError)."""


# -- inputs --------------------------------------------------------------------------------------------------
def _as_matrix(x: Any, what: str) -> np.ndarray:
    """x as a finite float64 (N, C) array with at least two rows, or MetricInputError naming ``what``."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise MetricInputError(f"{what} must be numeric, got values of type {np.asarray(x).dtype}") from None
    if a.ndim != 2 or a.shape[1] < 1:
        raise MetricInputError(f"{what} must be a 2-D array (rows, columns), got shape {a.shape}")
    if a.shape[0] < 2:
        raise MetricInputError(f"{what} needs at least 2 rows, got {a.shape[0]}")
    if not np.isfinite(a).all():
        raise MetricInputError(f"{what} has NaN or infinite values: the metrics need finite numbers")
    return a


def _pair(codes: Any, factors: Any, split: str = "") -> tuple[np.ndarray, np.ndarray]:
    c, f = _as_matrix(codes, f"codes{split}"), _as_matrix(factors, f"factors{split}")
    if len(c) != len(f):
        raise MetricInputError(f"codes{split} have {len(c)} rows but factors{split} {len(f)}: expected one per input")
    return c, f


def _splits(codes_train, factors_train, codes_test, factors_test) -> tuple[np.ndarray, ...]:
    ctr, ftr = _pair(codes_train, factors_train, "_train")
    cte, fte = _pair(codes_test, factors_test, "_test")
    if ctr.shape[1] != cte.shape[1] or ftr.shape[1] != fte.shape[1]:
        raise MetricInputError(
            f"train and test columns differ: codes {ctr.shape[1]} vs {cte.shape[1]}, "
            f"factors {ftr.shape[1]} vs {fte.shape[1]}"
        )
    return ctr, ftr, cte, fte


def _flags(discrete: Sequence[bool] | None, factors: np.ndarray) -> list[bool]:
    """One bool per factor: given, or inferred (integer values, at most MAX_INFERRED_CLASSES of them)."""
    k = factors.shape[1]
    if discrete is None:
        integral = np.all(factors == np.round(factors), axis=0)
        return [bool(integral[j]) and len(np.unique(factors[:, j])) <= MAX_INFERRED_CLASSES for j in range(k)]
    flags = list(discrete)
    if len(flags) != k or not all(isinstance(b, bool | np.bool_) for b in flags):
        raise MetricInputError(f"discrete must hold one bool per factor ({k}), got {flags!r}")
    return [bool(b) for b in flags]


def _names(names: Sequence[str], k: int) -> list[str]:
    out = list(names)
    if len(out) != k or not all(isinstance(n, str) for n in out):
        raise MetricInputError(f"names must hold one string per factor ({k}), got {out!r}")
    return out


# -- discrete mutual information -------------------------------------------------------------------------------
def _histogram_discretize(column: np.ndarray, bins: int) -> np.ndarray:
    """Bin index of each value among ``bins`` equal-width bins over its range (disentanglement_lib's)."""
    return np.digitize(column, np.histogram(column, bins)[1][:-1])


def _discretized(codes: np.ndarray, factors: np.ndarray, flags: list[bool], bins: int) -> tuple[np.ndarray, ...]:
    """Binned codes; factors kept as labels when discrete or few-valued, else binned like the codes."""
    if bins < 2:
        raise MetricInputError(f"bins must be at least 2, got {bins}")
    c = np.stack([_histogram_discretize(codes[:, d], bins) for d in range(codes.shape[1])], 1)
    cols = []
    for j, flag in enumerate(flags):
        values, labels = np.unique(factors[:, j], return_inverse=True)
        cols.append(labels if flag or len(values) <= bins else _histogram_discretize(factors[:, j], bins))
    return c, np.stack(cols, 1)


def _mutual_info(codes_d: np.ndarray, factors_d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(D, K) mutual information in nats between binned codes and factors, and (K,) factor entropies."""
    d, k = codes_d.shape[1], factors_d.shape[1]
    m = np.array([[mutual_info_score(codes_d[:, i], factors_d[:, j]) for j in range(k)] for i in range(d)])
    h = np.array([mutual_info_score(factors_d[:, j], factors_d[:, j]) for j in range(k)])
    return m.reshape(d, k), h


def _top_two_gap(scores: np.ndarray) -> float:
    """Best minus second-best value of a column (second = 0 with one code dimension)."""
    top = np.sort(scores)[::-1]
    return float(top[0] - (top[1] if len(top) > 1 else 0.0))


def _all_constant(skipped: list[int], k: int) -> None:
    if len(skipped) == k:
        raise MetricInputError("every factor is constant: there is nothing to disentangle")


def mig(codes: Any, factors: Any, *, discrete: Sequence[bool] | None = None, bins: int = 20) -> dict:
    """Mutual Information Gap: mean over factors of (top MI - second MI) / H(factor), MI with binned codes.

    Constant factors (zero entropy) are left out of the mean and listed by index under "skipped"; their
    "per_factor" entry is None."""
    c, f = _pair(codes, factors)
    m, h = _mutual_info(*_discretized(c, f, _flags(discrete, f), bins))
    skipped = [j for j in range(f.shape[1]) if h[j] < _TINY]
    _all_constant(skipped, f.shape[1])
    per_factor = [None if j in skipped else _top_two_gap(m[:, j]) / float(h[j]) for j in range(f.shape[1])]
    score = float(np.mean([v for v in per_factor if v is not None]))
    return {"mig": score, "per_factor": per_factor, "skipped": skipped}


def best_factor_per_dimension(
    codes: Any,
    factors: Any,
    names: Sequence[str],
    *,
    discrete: Sequence[bool] | None = None,
    bins: int = 20,
    min_mi: float = 0.05,
) -> list[tuple[str | None, float]]:
    """For each latent dimension, the factor it carries most about and that MI normalized by H(factor).

    The name is None for an inactive dimension: one whose normalized MI with every factor, less the plug-in
    estimator's bias (R - 1)(C - 1) / 2N (Miller-Madow; R, C occupied bins), stays below ``min_mi``. Used to label
    the rows of a traversal grid."""
    c, f = _pair(codes, factors)
    labels = _names(names, f.shape[1])
    codes_d, factors_d = _discretized(c, f, _flags(discrete, f), bins)
    m, h = _mutual_info(codes_d, factors_d)
    occupied_c = np.array([len(np.unique(codes_d[:, i])) for i in range(codes_d.shape[1])])
    occupied_f = np.array([len(np.unique(factors_d[:, j])) for j in range(factors_d.shape[1])])
    bias = np.outer(occupied_c - 1, occupied_f - 1) / (2 * len(c))
    safe_h = np.where(h < _TINY, np.inf, h)  # a constant factor has nothing to share: normalized MI 0
    normalized, corrected = m / safe_h, (m - bias) / safe_h
    out: list[tuple[str | None, float]] = []
    for i in range(c.shape[1]):
        j = int(np.argmax(normalized[i]))
        active = corrected[i].max() >= min_mi
        out.append((labels[j] if active else None, float(normalized[i, j])))
    return out


# -- DCI -------------------------------------------------------------------------------------------------------
def _subsample(n: int, max_rows: int, seed: int) -> np.ndarray:
    if n <= max_rows:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_rows, replace=False))


def _one_minus_entropy(weights: np.ndarray, base: int) -> float:
    """1 - entropy of the normalized weights in log base ``base`` (1 when there is a single outcome)."""
    if base < 2:
        return 1.0
    p = (weights + 1e-11) / (weights + 1e-11).sum()
    return float(1.0 + (p * np.log(p)).sum() / np.log(base))


def _fit_gbt(x: np.ndarray, y: np.ndarray, flag: bool, n_estimators: int, seed: int):
    model_type = GradientBoostingClassifier if flag else GradientBoostingRegressor
    return model_type(n_estimators=n_estimators, random_state=seed).fit(x, y)


def _importance(ctr, ftr, cte, fte, flags, n_estimators: int, seed: int) -> tuple[np.ndarray, list, list[int]]:
    """(D, K) importance matrix, per-factor test score (accuracy or R^2; None if skipped), skipped factors."""
    importance = np.zeros((ctr.shape[1], ftr.shape[1]))
    scores: list[float | None] = []
    skipped = []
    for j, flag in enumerate(flags):
        if np.ptp(ftr[:, j]) == 0:  # one value in training: no predictor to fit
            skipped.append(j)
            scores.append(None)
            continue
        model = _fit_gbt(ctr, ftr[:, j], flag, n_estimators, seed)
        importance[:, j] = np.abs(model.feature_importances_)
        scores.append(float(model.score(cte, fte[:, j])))  # accuracy for classifiers, R^2 for regressors
    return importance, scores, skipped


def _dci_summary(importance: np.ndarray, active: list[int]) -> tuple[float, float, list]:
    """Disentanglement (code-importance-weighted) and completeness (mean over active factors) of the matrix."""
    r = importance[:, active]
    d, k = r.shape
    per_code = np.array([_one_minus_entropy(r[i], k) for i in range(d)])
    code_weight = r.sum(1) / r.sum() if r.sum() > 0 else np.full(d, 1.0 / d)
    per_factor = [_one_minus_entropy(r[:, j], d) for j in range(k)]
    return float((per_code * code_weight).sum()), float(np.mean(per_factor)), per_factor


def dci(
    codes_train: Any,
    factors_train: Any,
    codes_test: Any,
    factors_test: Any,
    *,
    discrete: Sequence[bool] | None = None,
    n_estimators: int = 50,
    max_rows: int = 10_000,
    seed: int = 0,
) -> dict:
    """Disentanglement, completeness and informativeness from one gradient-boosted predictor per factor.

    A classifier for discrete factors, a regressor for continuous ones, fitted on at most ``max_rows`` training
    rows; "importance" (D x K) holds their feature importances. Informativeness: mean test accuracy / R^2.
    Factors constant in training are skipped (a zero column, listed under "skipped")."""
    ctr, ftr, cte, fte = _splits(codes_train, factors_train, codes_test, factors_test)
    flags = _flags(discrete, np.concatenate([ftr, fte]))
    rows = _subsample(len(ctr), max_rows, seed)
    importance, scores, skipped = _importance(ctr[rows], ftr[rows], cte, fte, flags, n_estimators, seed)
    _all_constant(skipped, ftr.shape[1])
    active = [j for j in range(ftr.shape[1]) if j not in skipped]
    disentanglement, completeness, per_factor = _dci_summary(importance, active)
    completeness_per_factor: list[float | None] = [None] * ftr.shape[1]
    for j, value in zip(active, per_factor, strict=True):
        completeness_per_factor[j] = value
    return {
        "disentanglement": disentanglement,
        "completeness": completeness,
        "informativeness": float(np.mean([s for s in scores if s is not None])),
        "importance": importance.tolist(),
        "completeness_per_factor": completeness_per_factor,
        "informativeness_per_factor": scores,
        "skipped": skipped,
    }


# -- SAP -------------------------------------------------------------------------------------------------------
def _squared_correlation(codes: np.ndarray, y: np.ndarray) -> np.ndarray:
    """R^2 of a 1-d linear regression of y on each code column (0 for a constant code). (D,)"""
    cc, yc = codes - codes.mean(0), y - y.mean()
    var_c = (cc**2).sum(0)
    cov = cc.T @ yc
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = cov**2 / (var_c * (yc**2).sum())
    return np.where(var_c > _TINY, r2, 0.0)


def _one_dim_accuracy(ctr, ytr, cte, yte, seed: int) -> np.ndarray:
    """Test accuracy of a small decision tree on each single code column (one leaf per class at most). (D,)"""
    leaves = max(2, min(len(np.unique(ytr)), 64))
    out = []
    for i in range(ctr.shape[1]):
        tree = DecisionTreeClassifier(max_leaf_nodes=leaves, min_samples_leaf=5, random_state=seed)
        out.append(tree.fit(ctr[:, i : i + 1], ytr).score(cte[:, i : i + 1], yte))
    return np.array(out)


def sap(
    codes_train: Any,
    factors_train: Any,
    codes_test: Any,
    factors_test: Any,
    *,
    discrete: Sequence[bool] | None = None,
    max_rows: int = 10_000,
    seed: int = 0,
) -> dict:
    """Separated Attribute Predictability: mean over factors of the gap between the two best code dimensions.

    "matrix" (D x K): R^2 of a 1-d linear fit on the training rows (continuous factors, as disentanglement_lib)
    or test accuracy of a 1-d decision tree (discrete factors). Factors constant in training are skipped."""
    ctr, ftr, cte, fte = _splits(codes_train, factors_train, codes_test, factors_test)
    flags = _flags(discrete, np.concatenate([ftr, fte]))
    rows = _subsample(len(ctr), max_rows, seed)
    ctr, ftr = ctr[rows], ftr[rows]
    matrix = np.zeros((ctr.shape[1], ftr.shape[1]))
    skipped = [j for j in range(ftr.shape[1]) if np.ptp(ftr[:, j]) == 0]
    _all_constant(skipped, ftr.shape[1])
    for j in (j for j in range(ftr.shape[1]) if j not in skipped):
        if flags[j]:
            matrix[:, j] = _one_dim_accuracy(ctr, ftr[:, j], cte, fte[:, j], seed)
        else:
            matrix[:, j] = _squared_correlation(ctr, ftr[:, j])
    per_factor = [None if j in skipped else _top_two_gap(matrix[:, j]) for j in range(ftr.shape[1])]
    score = float(np.mean([v for v in per_factor if v is not None]))
    return {"sap": score, "matrix": matrix.tolist(), "per_factor": per_factor, "skipped": skipped}


# -- all of them -----------------------------------------------------------------------------------------------
def disentanglement_scores(
    codes_train: Any,
    factors_train: Any,
    codes_test: Any,
    factors_test: Any,
    names: Sequence[str],
    *,
    discrete: Sequence[bool] | None,
    bins: int = 20,
    seed: int = 0,
) -> dict:
    """MIG, DCI and SAP of one set of codes, JSON-friendly: {"factors", "discrete", "mig", "dci", "sap"}.

    MIG needs no fitting, so it reads the training and test rows together; DCI and SAP fit on the training rows
    and score on the test rows. Each metric's "skipped" lists the names of the factors it left out."""
    ctr, ftr, cte, fte = _splits(codes_train, factors_train, codes_test, factors_test)
    labels = _names(names, ftr.shape[1])
    flags = _flags(discrete, np.concatenate([ftr, fte]))
    results = {
        "mig": mig(np.concatenate([ctr, cte]), np.concatenate([ftr, fte]), discrete=flags, bins=bins),
        "dci": dci(ctr, ftr, cte, fte, discrete=flags, seed=seed),
        "sap": sap(ctr, ftr, cte, fte, discrete=flags, seed=seed),
    }
    for result in results.values():
        result["skipped"] = [labels[j] for j in result["skipped"]]
    return {"factors": labels, "discrete": flags, **results}
