"""vaekit.sklearn: scikit-learn's own estimator checks, Pipelines and GridSearchCV, PyOD's detector attributes,
and results that do not depend on which other rows are passed along."""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

import vaekit
from vaekit.sklearn import VAE, VAEImputer, VAEOutlierDetector

SMALL = {"epochs": 2, "hidden": (8,), "latent_dim": 2, "n_importance_samples": 5}


@pytest.mark.parametrize("estimator", [VAE(**SMALL), VAEImputer(**SMALL), VAEOutlierDetector(**SMALL)], ids=repr)
def test_passes_scikit_learns_estimator_checks(estimator):
    failed = [r for r in check_estimator(estimator, on_fail=None, on_skip=None) if r["status"] == "failed"]
    assert not failed, [(r["check_name"], str(r["exception"])[:200]) for r in failed]


@pytest.fixture(scope="module")
def cancer():
    x, y = load_breast_cancer(return_X_y=True)
    return x[:300], y[:300]


def test_works_inside_a_pipeline_and_grid_search(cancer):
    x, y = cancer
    pipe = make_pipeline(StandardScaler(), VAE(epochs=3, hidden=(16,)), LogisticRegression(max_iter=500))
    search = GridSearchCV(pipe, {"vae__latent_dim": [2, 3]}, cv=2).fit(x, y)
    assert search.best_params_["vae__latent_dim"] in (2, 3)
    assert search.predict(x).shape == (300,) and search.score(x, y) > 0.6
    unsupervised = GridSearchCV(VAE(epochs=3, hidden=(16,)), {"beta": [0.5, 1.0]}, cv=2).fit(x)  # VAE.score: log p(x)
    assert np.isfinite(unsupervised.best_score_)


def test_a_rows_result_does_not_depend_on_the_rows_beside_it(cancer):
    x = cancer[0]
    vae = VAE(epochs=2, hidden=(16,), latent_dim=3, random_state=1).fit(x)
    z, logp = vae.transform(x), vae.score_samples(x)
    assert z.shape == (300, 3) and z.dtype == np.float64
    for rows in (slice(0, 1), slice(7, 8), slice(5, 280)):
        assert np.array_equal(vae.transform(x[rows]), z[rows])
        assert np.array_equal(vae.score_samples(x[rows]), logp[rows])
    shuffled = np.random.default_rng(0).permutation(300)
    assert np.array_equal(vae.score_samples(x[shuffled]), logp[shuffled])


def test_same_random_state_same_model_and_scores(cancer):
    x = cancer[0]
    a, b, c = (VAE(epochs=2, hidden=(16,), random_state=s).fit(x) for s in (4, 4, 5))
    assert np.array_equal(a.transform(x), b.transform(x)) and np.array_equal(a.sample(5), b.sample(5))
    assert not np.array_equal(a.transform(x), c.transform(x))
    assert not np.array_equal(a.sample(5, random_state=1), a.sample(5, random_state=2))


def test_transformer_decodes_samples_and_scores_like_the_model(cancer, tmp_path):
    x = cancer[0]
    vae = VAE(epochs=3, hidden=(16,), latent_dim=2).fit(x)
    back = vae.inverse_transform(vae.transform(x))
    assert back.shape == x.shape and np.isfinite(back).all()
    assert vae.sample(7).shape == (7, 30)
    assert vae.score(x) == pytest.approx(vae.score_samples(x).mean())
    with pytest.raises(ValueError, match=r"codes must have shape \(n_samples, 2\)"):
        vae.inverse_transform(np.zeros((3, 5)))
    vae.model_.save(tmp_path / "run")  # the fitted model is an ordinary vaekit bundle
    loaded = vaekit.load(tmp_path / "run").encode(x.astype(np.float32)).mean.detach().numpy()
    assert np.allclose(loaded, vae.transform(x), atol=1e-6)


def test_imputer_fills_only_the_missing_values(cancer):
    x = cancer[0]
    holes = np.random.default_rng(2).random(x.shape) < 0.2
    xm = np.where(holes, np.nan, x)
    imputer = VAEImputer(epochs=3, hidden=(16,))
    filled = imputer.fit_transform(xm)
    assert np.isfinite(filled).all() and np.array_equal(filled[~holes], x[~holes])
    drawn = VAEImputer(epochs=3, hidden=(16,), sample_posterior=True).fit(xm).transform(xm)
    assert np.array_equal(drawn[~holes], x[~holes]) and not np.array_equal(drawn[holes], filled[holes])
    assert np.array_equal(imputer.transform(x), x)  # nothing missing, nothing changed


def test_detector_follows_pyods_protocol(cancer):
    x = cancer[0]
    det = VAEOutlierDetector(epochs=3, hidden=(16,), contamination=0.1).fit(x)
    assert det.decision_scores_.shape == (300,) and det.labels_.mean() == pytest.approx(0.1, abs=0.01)
    assert np.array_equal(det.predict(x), det.labels_) and set(np.unique(det.labels_)) <= {0, 1}
    assert np.array_equal(det.fit_predict(x), det.labels_)
    proba = det.predict_proba(x)
    assert proba.shape == (300, 2) and np.allclose(proba.sum(1), 1) and ((proba >= 0) & (proba <= 1)).all()
    order = np.argsort(det.decision_scores_)
    assert (np.diff(proba[order, 1]) >= 0).all()  # a higher score is never less likely an outlier


def test_detector_ranks_far_rows_above_normal_ones_and_calibrates_its_false_positive_rate():
    rng = np.random.default_rng(3)
    cov = np.array([[1.0, 0.9, 0.0], [0.9, 1.0, 0.0], [0.0, 0.0, 1.0]])
    normal = rng.multivariate_normal(np.zeros(3), cov, size=1200)
    det = VAEOutlierDetector(epochs=15, hidden=(32,), latent_dim=2, fpr=0.05, random_state=0).fit(normal[:800])
    assert det.calibration_scores_.shape == (160,) and (np.diff(det.calibration_scores_) >= 0).all()
    clean, far = normal[800:], rng.multivariate_normal(np.zeros(3), cov, size=200) + np.array([2.5, -2.5, 0.0])
    from sklearn.metrics import roc_auc_score

    scores = np.r_[det.decision_function(clean), det.decision_function(far)]
    assert roc_auc_score(np.r_[np.zeros(400), np.ones(200)], scores) > 0.95
    assert det.predict(clean).mean() < 0.05 + 0.04  # conformal: at most fpr on clean rows, up to sampling noise
    recon = VAEOutlierDetector(epochs=15, hidden=(32,), latent_dim=2, method="recon").fit(normal[:800])
    assert np.isfinite(recon.decision_function(far)).all()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"contamination": 0.7}, "contamination must be in (0, 0.5]"),
        ({"method": "elbo"}, "method must be 'nll' or 'recon'"),
        ({"fpr": 0.001}, "held out"),
        ({"n_importance_samples": 0}, "n_importance_samples must be a positive int"),
        ({"random_state": "x"}, "random_state must be None"),
    ],
)
def test_bad_parameters_are_one_clear_value_error(cancer, params, message):
    with pytest.raises(ValueError) as e:
        VAEOutlierDetector(**{**SMALL, **params}).fit(cancer[0][:50])
    assert message in str(e.value) and "\n" not in str(e.value)


def test_early_stopping_holds_out_rows_by_default_except_for_the_imputer(cancer):
    x = cancer[0]

    def options(est):
        return est.model_.run_config["training"]["options"]

    stopped = options(VAE(epochs=3, hidden=(8,)).fit(x))
    assert stopped["val_fraction"] == 0.2 and stopped["early_stopping"] == 20
    assert options(VAEOutlierDetector(epochs=3, hidden=(8,), n_iter_no_change=5).fit(x))["early_stopping"] == 5
    assert options(VAEImputer(epochs=3, hidden=(8,)).fit(x))["val_fraction"] == 0.0
    assert options(VAE(epochs=3, hidden=(8,), early_stopping=False).fit(x))["val_fraction"] == 0.0
    assert options(VAE(epochs=3, hidden=(8,)).fit(x[:19]))["val_fraction"] == 0.0  # too few rows to hold any out
    with pytest.raises(ValueError, match="validation_fraction must be in"):
        VAE(epochs=3, validation_fraction=1.5).fit(x)


def test_imputer_intervals_are_calibrated_on_values_held_out_of_training():
    rng = np.random.default_rng(5)
    latent = rng.normal(size=(800, 2))
    x = latent @ rng.normal(size=(2, 6)) + 0.3 * rng.normal(size=(800, 6))
    holes = rng.random(x.shape) < 0.4
    xm = np.where(holes, np.nan, x)
    imputer = VAEImputer(epochs=30, hidden=(32,), latent_dim=2, n_importance_samples=200, random_state=0).fit(xm)
    assert len(imputer.interval_truth_) == int(0.05 * (~holes).sum()) and imputer.interval_draws_.shape[0] == 100
    lower, upper = imputer.predict_interval(xm, 0.9)
    assert np.array_equal(lower[~holes], x[~holes]) and np.array_equal(upper[~holes], x[~holes])
    assert (lower[holes] <= upper[holes]).all()
    covered = ((x >= lower) & (x <= upper))[holes].mean()
    assert 0.84 < covered < 0.96, covered
    assert imputer.interval_scale(0.9) > 0 and np.array_equal(imputer.transform(xm)[~holes], x[~holes])
    plain = VAEImputer(epochs=2, hidden=(8,), interval_holdout=0).fit(xm)
    assert plain.interval_draws_ is None and plain.interval_scale(0.9) == 1.0
    with pytest.raises(ValueError, match="level must be in"):
        plain.predict_interval(xm, 1.2)
    with pytest.raises(ValueError, match="interval_holdout must be in"):
        VAEImputer(interval_holdout=0.7).fit(xm)
