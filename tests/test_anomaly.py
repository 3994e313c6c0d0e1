"""Anomaly detection: scores rank anomalies above held-out normal data, conformal p-values keep their
false-positive rate, the calibration lives in the bundle, and the CLI refuses bad input in one line.

One tiny MLP VAE is trained (through the CLI) on the MNIST training zeros; the MNIST test zeros are the held-out
normal data, the other test digits and uniform noise the anomalies. Another, on eights, shows the complexity
failure of likelihood scores (ones look normal to it) that the relative score corrects. A small table run covers
tabular data.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from test_cli import ok, refused, snapshot

import vaekit
from vaekit.core.conformal import Calibration, rows_needed
from vaekit.data import Dataset
from vaekit.data.mnist import mnist_arrays
from vaekit.errors import BundleError, DataError, VaekitError
from vaekit.training.loop import elbo_stats

NORMAL = 0  # the digit the model learns


def auc(normal: torch.Tensor, anomalous: torch.Tensor) -> float:
    """ROC-AUC by its rank definition: P(anomalous score > normal score), ties counting one half."""
    a, n = anomalous[:, None], normal[None, :]
    return ((a > n).double() + 0.5 * (a == n).double()).mean().item()


# -- a run trained once on the zeros -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> dict[str, Any]:
    """Tensors: held-out normal (test) zeros, other test digits, uniform noise, blank (all-zero) images. Files: the
    training zeros (.npy), 2,000 test digits with their labels (.npz)."""
    train_images, train_labels = mnist_arrays()["train"]
    test_images, test_labels = mnist_arrays()["test"]
    folder = tmp_path_factory.mktemp("digits")
    np.save(folder / "zeros.npy", train_images[train_labels == NORMAL])  # (N, 28, 28) uint8
    mixed = np.random.default_rng(1).permutation(len(test_images))[:2000]
    np.savez(folder / "mixed.npz", x=test_images[mixed], y=test_labels[mixed])  # test digits with labels

    def tensor(images: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(images.astype(np.float32)[:, None] / 255)

    zeros = test_images[test_labels == NORMAL]  # 980; shuffled: MNIST's first 5,000 test images are the cleaner ones
    return {
        "normal": tensor(zeros[np.random.default_rng(0).permutation(len(zeros))]),
        "other": tensor(test_images[test_labels != NORMAL][:400]),
        "noise": torch.rand(50, 1, 28, 28, generator=torch.Generator().manual_seed(0)),
        "blank": torch.zeros(5, 1, 28, 28),
        "train_file": folder / "zeros.npy",
        "mixed_file": folder / "mixed.npz",
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory, digits) -> Path:
    run = tmp_path_factory.mktemp("zeros") / "RUN"
    args = ("--subset", 2000, "--hidden", 64, "--latent-dim", 4, "--epochs", 6, "--batch-size", 100, "--quiet")
    ok("train", digits["train_file"], "--out", run, *args)
    return run


@pytest.fixture
def model(run):
    """A fresh, uncalibrated copy of the zeros model for every test."""
    return vaekit.load(run)


@pytest.fixture
def here(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- 1. scores -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["elbo", "iwae", "recon", "relative", "excess"])
def test_other_digits_and_noise_score_higher_than_held_out_normals(model, digits, method):
    normal = model.anomaly_score(digits["normal"][:300], method)
    other = model.anomaly_score(digits["other"], method)
    noise = model.anomaly_score(digits["noise"], method)
    blank = model.anomaly_score(digits["blank"], method)
    assert normal.shape == (300,) and normal.dtype == torch.float64 and torch.isfinite(normal).all()
    assert auc(normal, other) > 0.9, method
    if method in ("relative", "excess"):
        # a blank image (H = 0: relative is recon) ranks above every held-out zero. Uniform noise has a large
        # entropy of its own and is flagged only by a decoder confident about the background, which this briefly
        # trained one is not (the benchmark's models, 30 epochs on ~5,400 images, flag it: ROC-AUC 1.0)
        assert auc(normal, blank) == 1.0
    else:
        assert auc(normal, noise) > 0.99, method


def test_score_definitions_and_determinism(model, digits):
    x = digits["normal"][:100]
    elbo = elbo_stats(model, x, seed=0, per_sample=True)["per_sample"][:, 0]
    model.eval()
    torch.testing.assert_close(model.anomaly_score(x, "elbo"), -elbo, rtol=0, atol=0)  # -ELBO, seed 0
    recon = model.decode(model.encode(x).mean).log_prob(x).double()
    torch.testing.assert_close(model.anomaly_score(x, "recon"), -recon)
    for method, k in (("elbo", None), ("iwae", 10)):  # same seed, same scores; another seed, other noise
        a = model.anomaly_score(x, method, iw_samples=k, seed=1)
        assert torch.equal(a, model.anomaly_score(x, method, iw_samples=k, seed=1))
        assert not torch.equal(a, model.anomaly_score(x, method, iw_samples=k, seed=2))
    assert torch.equal(model.anomaly_score(x, "recon", seed=1), model.anomaly_score(x, "recon", seed=2))
    # relative: recon / (1 + H(x)), H the entropy of the pixels read as Bernoulli parameters (0 log 0 = 0)
    v = x.double()
    entropy = -(torch.special.xlogy(v, v) + torch.special.xlogy(1 - v, 1 - v)).flatten(1).sum(1)
    assert 10 < entropy.mean() < 200  # the gray stroke edges of a digit
    torch.testing.assert_close(model.anomaly_score(x, "relative"), -recon / (1 + entropy))
    assert torch.equal(model.anomaly_score(x, "relative", seed=1), model.anomaly_score(x, "relative", seed=2))
    binary = (x > 0.5).float()  # no entropy of its own: relative is recon
    torch.testing.assert_close(model.anomaly_score(binary, "relative"), model.anomaly_score(binary, "recon"))
    assert model.anomaly_score(x).equal(model.anomaly_score(x, "relative"))  # the default for a Bernoulli model
    # excess, uncalibrated: log E - log(1 + H), E = recon - H the cost beyond the input's own entropy
    excess = torch.log((-recon - entropy).clamp_min(1e-6)) - torch.log1p(entropy)
    torch.testing.assert_close(model.anomaly_score(x, "excess"), excess)
    # -log p(x) by importance sampling sits below -ELBO: the bound tightens with K
    iwae = model.anomaly_score(x, "iwae")
    assert iwae.mean() < model.anomaly_score(x, "iwae", iw_samples=1).mean() - 0.5
    assert iwae.mean() < model.anomaly_score(x, "elbo").mean()
    # numpy uint8 (N, 28, 28) works as the model's other methods do; the caller's train/eval mode is kept
    u8 = (x[:5, 0].numpy() * 255).round().astype(np.uint8)
    torch.testing.assert_close(model.anomaly_score(u8, "recon"), model.anomaly_score(x[:5], "recon"))
    model.train()
    model.anomaly_score(x[:5], "elbo")
    assert model.training


def test_relative_score_corrects_for_input_complexity(digits):
    """A model of eights reconstructs ones (little ink, few edges) about as well as eights: recon and elbo rank
    them no higher than held-out eights. Per nat of the input's own entropy the ones cost much more."""
    train_images, train_labels = mnist_arrays()["train"]
    test_images, test_labels = mnist_arrays()["test"]

    def tensor(images: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(images.astype(np.float32)[:, None] / 255)

    data = Dataset({"train": tensor(train_images[train_labels == 8])}, vaekit.Schema("image", (1, 28, 28)))
    model = vaekit.train(data, subset=2000, hidden=(64,), latent_dim=4, epochs=6, batch_size=100, seed=0)
    eights, ones = tensor(test_images[test_labels == 8][:300]), tensor(test_images[test_labels == 1][:300])
    a = {m: auc(model.anomaly_score(eights, m), model.anomaly_score(ones, m)) for m in ("recon", "elbo", "relative")}
    assert a["recon"] < 0.75 and a["elbo"] < 0.75, a
    assert a["relative"] > 0.95 and a["relative"] > a["recon"] + 0.2, a
    assert torch.equal(model.anomaly_score(ones, "relative"), model.anomaly_score(ones, "relative"))
    # excess with its exponent fitted on other clean eights corrects it as well
    model.calibrate(tensor(test_images[test_labels == 8][300:600]), fpr=0.1)
    a["excess"] = auc(model.anomaly_score(eights), model.anomaly_score(ones))
    assert model.calibration.method == "excess" and a["excess"] > a["recon"] + 0.2, a


# -- 2. conformal calibration --------------------------------------------------------------------------------
def test_conformal_p_values_and_threshold_by_hand():
    cal = Calibration.fit(torch.arange(1.0, 100.0).flip(0), 0.01, "elbo", None, 0)  # n = 99, the fewest for 1 %
    assert cal.n == 99 and list(cal.scores) == sorted(cal.scores) and cal.threshold == 99.0
    p = cal.p_values(torch.tensor([0.5, 50.0, 99.0, 99.5]))
    torch.testing.assert_close(p, torch.tensor([1.0, 0.51, 0.02, 0.01], dtype=torch.float64))
    assert cal.flags(torch.tensor([0.5, 50.0, 99.0, 99.5])).tolist() == [False, False, False, True]
    assert [rows_needed(f) for f in (0.01, 0.05, 0.1, 0.3, 0.5, 0.9)] == [99, 19, 9, 3, 1, 1]
    with pytest.raises(VaekitError, match=r"at least 99 clean rows .*got 98"):
        Calibration.fit(torch.arange(98.0), 0.01, "elbo", None, 0)


@pytest.mark.parametrize("fpr", [0.01, 0.05, 0.1, 0.25, 0.3])
def test_a_new_exchangeable_clean_point_is_flagged_with_probability_at_most_fpr(fpr):
    """Exactly: with n distinct calibration scores a new clean score falls in each of the n + 1 gaps with
    probability 1 / (n + 1); count the gaps that are flagged. The flag, p <= fpr and score > threshold agree."""
    for n in range(rows_needed(fpr), 130, 7):
        cal = Calibration.fit(torch.randperm(n).double(), fpr, "elbo", None, 0)
        gaps = torch.arange(n + 1).double() - 0.5  # below all, between each pair, above all
        flags, p = cal.flags(gaps), cal.p_values(gaps)
        assert torch.equal(flags, p <= fpr + 1e-12)
        assert 1 <= flags.sum() and flags.sum() / (n + 1) <= fpr + 1e-12
        assert flags.sum() == math.floor(fpr * (n + 1) + 1e-9)  # and no more conservative than that


def test_calibration_keeps_the_false_positive_rate_on_held_out_normals(model, digits):
    normal = digits["normal"]
    cal = model.calibrate(normal[:490], fpr=0.1)
    assert model.calibration is cal and cal.method == "excess" and cal.n == 490 and cal.data is None
    p = model.p_values(normal[490:])
    flags = model.is_anomaly(normal[490:])
    assert ((p > 0) & (p <= 1)).all() and p.dtype == torch.float64
    assert torch.equal(flags, p <= 0.1 + 1e-12)
    assert 0.03 <= flags.double().mean().item() <= 0.2  # about 10 % of clean data flagged
    assert model.is_anomaly(digits["other"]).double().mean().item() > 0.5
    assert model.is_anomaly(digits["blank"]).all()
    assert model.anomaly_score(normal[:3]).equal(model.anomaly_score(normal[:3], "excess"))  # the calibrated
    model.calibrate(normal[:490], fpr=0.1, method="elbo")
    assert model.is_anomaly(digits["noise"]).all()


def test_calibration_survives_save_and_load(model, digits, run, tmp_path):
    clean, x = digits["normal"][:400], digits["other"][:50]
    cal = model.calibrate(clean, fpr=0.05, method="iwae", iw_samples=20, seed=3)
    assert (cal.method, cal.iw_samples, cal.seed) == ("iwae", 20, 3)
    model.save(tmp_path / "copy")
    stored = json.loads((tmp_path / "copy" / "anomaly.json").read_text())
    assert stored["n"] == 400 and stored["method"] == "iwae" and stored["scores"] == sorted(stored["scores"])
    loaded = vaekit.load(tmp_path / "copy")
    assert loaded.calibration == cal
    assert torch.equal(loaded.p_values(x), model.p_values(x))
    assert torch.equal(loaded.anomaly_score(x), model.anomaly_score(x, "iwae", iw_samples=20, seed=3))
    # new weights saved over it take the stale calibration away; a damaged one is a clear error
    vaekit.load(run).save(tmp_path / "copy")
    assert not (tmp_path / "copy" / "anomaly.json").exists() and vaekit.load(tmp_path / "copy").calibration is None
    (tmp_path / "copy" / "anomaly.json").write_text('{"method": "elbo"}')
    with pytest.raises(BundleError, match="anomaly.json is not a valid anomaly calibration"):
        vaekit.load(tmp_path / "copy")


def test_excess_calibration_fits_its_exponent_on_the_clean_data(model, digits, tmp_path):
    """a is the least-squares slope of log E on log(1 + H) over the clean rows; the clean scores, the stored
    calibration and every later score use that a. Stored calibrations are checked for it."""
    from vaekit.inference.anomaly import excess_parts

    clean = digits["normal"][:400]
    cal = model.calibrate(clean, fpr=0.05)
    log_e, log_h = excess_parts(model, clean)
    slope = np.polyfit(log_h.numpy(), log_e.numpy(), 1)[0]
    assert cal.method == "excess" and cal.exponent == pytest.approx(slope, abs=1e-9)
    np.testing.assert_allclose(cal.scores, np.sort((log_e - slope * log_h).numpy()), rtol=1e-9)
    x = digits["other"][:50]
    le, lh = excess_parts(model, x)
    torch.testing.assert_close(model.anomaly_score(x), le - cal.exponent * lh)
    model.save(tmp_path / "copy")
    loaded = vaekit.load(tmp_path / "copy")
    assert loaded.calibration == cal and torch.equal(loaded.p_values(x), model.p_values(x))
    stored = json.loads((tmp_path / "copy" / "anomaly.json").read_text())
    assert stored["exponent"] == cal.exponent
    for damage in ({"exponent": None}, {"exponent": "1"}, {"method": "relative"}):
        (tmp_path / "copy" / "anomaly.json").write_text(json.dumps({**stored, **damage}))
        with pytest.raises(BundleError, match="exponent must be a finite number for excess scores"):
            vaekit.load(tmp_path / "copy")
    # a calibration written before the excess score (no exponent key) still loads
    old = model.calibrate(clean, fpr=0.05, method="relative").to_dict()
    old.pop("exponent")
    (tmp_path / "copy" / "anomaly.json").write_text(json.dumps(old))
    assert vaekit.load(tmp_path / "copy").calibration == model.calibration
    model.calibration = None


def test_bad_input_is_refused_and_changes_nothing(model, digits):
    x = digits["normal"][:50]
    for call in (model.p_values, model.is_anomaly):
        with pytest.raises(VaekitError, match="not calibrated .*vaekit anomaly calibrate"):
            call(x)
    with pytest.raises(VaekitError, match=r"at least 99 clean rows .*got 50"):
        model.calibrate(x, fpr=0.01)
    for fpr in (0, 1, -0.1, 1.5, float("nan")):
        with pytest.raises(VaekitError, match="between 0 and 1"):
            model.calibrate(x, fpr=fpr)
    assert model.calibration is None
    with pytest.raises(DataError, match="shape"):
        model.anomaly_score(np.zeros((3, 10), dtype=np.float32))
    with pytest.raises(VaekitError, match="unknown anomaly score 'nll'"):
        model.anomaly_score(x, "nll")
    with pytest.raises(VaekitError, match="at least 1"):
        model.anomaly_score(x, "iwae", iw_samples=0)


def test_a_plain_autoencoder_has_only_the_deterministic_scores(digits, tmp_path):
    ae = vaekit.train(digits["train_file"], tmp_path / "AE", autoencoder=True, epochs=1, hidden=(64,), latent_dim=4)
    assert ae.anomaly_score(digits["normal"][:5]).equal(ae.anomaly_score(digits["normal"][:5], "relative"))
    assert torch.isfinite(ae.anomaly_score(digits["normal"][:5], "recon")).all()
    for method in ("elbo", "iwae"):
        with pytest.raises(VaekitError, match="plain autoencoder.*only the recon, relative and excess scores"):
            ae.anomaly_score(digits["normal"][:5], method)
    before = snapshot(tmp_path)
    refused("anomaly", "score", tmp_path / "AE", "--score", "iwae", "--out", tmp_path / "s.csv", match="recon")
    refused("anomaly", "calibrate", tmp_path / "AE", "--score", "elbo", match="plain autoencoder")
    assert snapshot(tmp_path) == before
    ok("anomaly", "calibrate", tmp_path / "AE", "--fpr", 0.05)  # its held-out part; excess by default
    assert json.loads((tmp_path / "AE" / "anomaly.json").read_text())["method"] == "excess"


# -- 3. the CLI ----------------------------------------------------------------------------------------------
def test_cli_score_then_calibrate_then_score(run, digits, here):
    shutil.copytree(run, here / "RUN")
    result = ok("anomaly", "score", "RUN", "--data", "mnist", "--out", "s.csv")
    assert "not calibrated" in result.stdout
    s = pd.read_csv(here / "s.csv")
    assert list(s.columns) == ["label", "score_relative"] and len(s) == 10000  # the MNIST test split, in order
    np.testing.assert_array_equal(s["label"].to_numpy(), mnist_arrays()["test"][1])
    zeros = s["label"] == NORMAL
    assert s.loc[zeros, "score_relative"].median() < s.loc[~zeros, "score_relative"].quantile(0.1)

    result = ok("anomaly", "calibrate", "RUN", "--fpr", 0.05)  # default: the held-out 10 % of the training zeros
    cal = json.loads((here / "RUN" / "anomaly.json").read_text())
    assert cal["n"] == 200 and cal["split"] == "val" and cal["method"] == "excess"  # 10 % of the 2,000 trained on
    assert cal["fpr"] == 0.05 and cal["data"] == str(digits["train_file"].resolve())
    assert f"{cal['threshold']:.2f}" in result.stdout and "anomaly.json" in result.stdout
    assert f"excess score (exponent a = {cal['exponent']:.2f}, fitted)" in result.stdout

    result = ok("anomaly", "score", "RUN", "--data", digits["mixed_file"], "--out", "s2.csv")
    s2 = pd.read_csv(here / "s2.csv")
    assert list(s2.columns) == ["label", "score_excess", "p_value", "anomaly"] and len(s2) == 2000
    zeros = s2["label"] == NORMAL
    assert s2["p_value"].between(0, 1, inclusive="right").all() and set(s2["anomaly"]) <= {0, 1}
    assert (s2["anomaly"] == (s2["p_value"] <= 0.05 + 1e-12)).all()
    assert s2.loc[zeros, "anomaly"].mean() < 0.12 and s2.loc[~zeros, "anomaly"].mean() > 0.5
    assert f"{int(s2['anomaly'].sum()):,} flagged" in result.stdout
    api = vaekit.load(here / "RUN").anomaly_score(np.load(digits["mixed_file"])["x"])  # the calibrated one
    np.testing.assert_allclose(s2["score_excess"].to_numpy(), api.numpy(), rtol=1e-12)

    ok("anomaly", "score", "RUN", "--data", digits["mixed_file"], "--score", "recon,elbo", "--out", "s3.csv")
    s3 = pd.read_csv(here / "s3.csv")
    assert list(s3.columns) == ["label", "score_recon", "score_elbo", "score_excess", "p_value", "anomaly"]
    assert s3["score_excess"].equals(s2["score_excess"]) and s3["anomaly"].equals(s2["anomaly"])

    # calibrating again replaces the calibration (here on other clean data, another score)
    np.save(here / "clean.npy", (digits["normal"][:200, 0].numpy() * 255).round().astype(np.uint8))
    ok("anomaly", "calibrate", "RUN", "--data", "clean.npy", "--score", "iwae", "--iw-samples", 10, "--fpr", 0.1)
    cal = json.loads((here / "RUN" / "anomaly.json").read_text())
    assert (cal["method"], cal["iw_samples"], cal["n"], cal["split"]) == ("iwae", 10, 200, "all")
    assert not list((here / "RUN").glob("*.tmp"))


def test_cli_refusals_are_one_line_and_write_nothing(run, digits, here):
    shutil.copytree(run, here / "RUN")
    np.save(here / "few.npy", np.zeros((20, 28, 28), dtype=np.uint8))
    np.save(here / "vectors.npy", np.zeros((20, 7), dtype=np.float32))
    pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]}).to_csv(here / "table.csv", index=False)
    before = snapshot(here)
    refused("anomaly", "calibrate", "RUN", "--fpr", 0, match="between 0 and 1")
    refused("anomaly", "calibrate", "RUN", "--fpr", 1.5, match="between 0 and 1")
    refused("anomaly", "calibrate", "RUN", "--data", "few.npy", "--fpr", 0.01, match=r"at least 99 .*got 20")
    refused("anomaly", "calibrate", "RUN", "--split", "train", match="not trained on")
    refused("anomaly", "calibrate", "RUN", "--score", "bogus", match="unknown anomaly score")
    refused("anomaly", "score", "RUN", "--data", "vectors.npy", "--out", "s.csv", match=r"shape")
    refused("anomaly", "score", "RUN", "--data", "table.csv", "--out", "s.csv", match="table")
    refused("anomaly", "score", "RUN", "--score", "bogus", "--out", "s.csv", match="elbo, iwae")
    refused("anomaly", "score", "RUN", "--out", "RUN/config.json", match=r"\.csv")
    refused("anomaly", "score", "no_such_run", "--out", "s.csv", match="no such run folder")
    assert snapshot(here) == before and not (here / "s.csv").exists()

    ok("anomaly", "calibrate", "RUN", "--data", digits["mixed_file"], "--fpr", 0.1, "--score", "elbo")
    before = snapshot(here)
    refused("anomaly", "score", "RUN", "--seed", 5, "--out", "s.csv", match="calibrated on")
    assert snapshot(here) == before and not (here / "s.csv").exists()


@pytest.mark.parametrize("command", [["anomaly"], ["anomaly", "score"], ["anomaly", "calibrate"]])
def test_help_has_examples(command):
    result = ok(*command, "--help")
    assert "Example" in result.stdout and "Usage" in result.stdout


# -- 4. tables -----------------------------------------------------------------------------------------------
def correlated_table(n: int, seed: int) -> pd.DataFrame:
    """Four columns on very different scales, driven by two hidden factors (a VAE with 2 latents fits them)."""
    rng = np.random.default_rng(seed)
    f = rng.normal(size=(n, 2))
    noise = rng.normal(scale=0.1, size=(n, 4))
    return pd.DataFrame(
        {
            "small": f[:, 0] + noise[:, 0],
            "medium": 50 + 10 * (f[:, 1] + noise[:, 1]),
            "large": 1000 + 200 * (f[:, 0] - f[:, 1] + noise[:, 2]),
            "negative": -20 + 3 * (f[:, 0] + f[:, 1] + noise[:, 3]),
        }
    )


def test_tables(here):
    correlated_table(400, 0).to_csv(here / "train.csv", index=False)
    args = ("--latent-dim", 2, "--hidden", 32, "--epochs", 12, "--batch-size", 32, "-q")
    ok("train", "train.csv", "--out", "TAB", *args)
    before = snapshot(here)
    refused("anomaly", "calibrate", "TAB", "--score", "relative", match="relative score .*Bernoulli.* is gaussian")
    assert snapshot(here) == before
    ok("anomaly", "calibrate", "TAB", "--fpr", 0.1)  # its 40 held-out rows; elbo by default for a table
    cal = json.loads((here / "TAB" / "anomaly.json").read_text())
    assert cal["n"] == 40 and cal["method"] == "elbo"
    refused("anomaly", "calibrate", "TAB", "--split", "all", match="not trained on")

    normal = correlated_table(200, 1)
    odd = correlated_table(200, 2)
    rng = np.random.default_rng(3)
    for i, col in enumerate(rng.choice(odd.columns, 200)):  # one value per row moved 5 standard deviations
        odd.loc[i, col] += rng.choice([-5, 5]) * normal[col].std()
    pd.concat([normal, odd]).to_csv(here / "new.csv", index=False)
    ok("anomaly", "score", "TAB", "--data", "new.csv", "--score", "elbo,recon", "--out", "s.csv")
    s = pd.read_csv(here / "s.csv")
    assert list(s.columns) == ["score_elbo", "score_recon", "p_value", "anomaly"] and len(s) == 400
    for col in ("score_elbo", "score_recon"):
        assert auc(torch.tensor(s[col].iloc[:200].to_numpy()), torch.tensor(s[col].iloc[200:].to_numpy())) > 0.8, col
    flagged_normal, flagged_odd = s["anomaly"].iloc[:200].mean(), s["anomaly"].iloc[200:].mean()
    assert flagged_normal < 0.3 and flagged_odd > flagged_normal + 0.3

    model = vaekit.load(here / "TAB")  # the Python API takes a DataFrame, columns matched by name
    flags = model.is_anomaly(pd.concat([normal, odd])[list(reversed(normal.columns))])
    assert flags.numpy().astype(int).tolist() == s["anomaly"].tolist()
