"""A sequence VAE conditioned on molecular properties (``--condition logp`` for molecules): the properties are
computed with RDKit per molecule, enter the model as its condition, and every molecule command reads them."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import vaekit
from vaekit.cli.app import app
from vaekit.errors import DataError, VaekitError
from vaekit.molecules import load_moses
from vaekit.molecules.properties import property_table
from vaekit.workflows import molecules as tasks

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def mols(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cmols")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VAEKIT_CACHE", str(folder / "cache"))
        smiles = load_moses("test", subset=300, seed=2).smiles
        (folder / "train.smi").write_text("\n".join(smiles) + "\n")
        yield folder, smiles


@pytest.fixture(scope="module")
def run(mols):
    folder, _ = mols
    out = folder / "run"
    model = vaekit.train(
        folder / "train.smi", preset="sequence", out=out, epochs=2, hidden=(32, 64), latent_dim=8,
        properties="none", condition="logp",
    )  # fmt: skip
    return out, model


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def error_line(*args: object) -> str:
    result = invoke(*args)
    assert result.exit_code == 2, f"{args}: exit {result.exit_code}\n{result.output}\n{result.exception!r}"
    lines = [line for line in ANSI.sub("", result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.output, lines
    return lines[0]


def test_the_condition_is_each_molecules_own_property(run, mols):
    path, model = run
    assert model.condition.names == ("logp",) and model.condition.types == ("numeric",)
    loaded = vaekit.load(path)
    assert loaded.condition.names == ("logp",)
    logp = property_table(mols[1], ["logp"])[:, 0]
    # the standardization fitted on the training molecules' own logP (90 % of them; the rest validate)
    assert float(loaded.condition_shift[0]) == pytest.approx(logp.mean(), abs=0.35)
    assert float(loaded.condition_scale[0]) == pytest.approx(logp.std(), rel=0.2)


def test_the_decoder_reads_the_condition(run):
    _, model = run
    z = torch.randn(40, model.config.latent_dim, generator=torch.Generator().manual_seed(0))
    low = tasks.decode_greedy(model, z, condition=torch.tensor([[-1.0]]))
    high = tasks.decode_greedy(model, z, condition=torch.tensor([[5.0]]))
    assert low != high  # the same codes decode to other molecules when asked for another logP
    a = tasks.sample_with_validity(model, 30, seed=1, condition=torch.tensor([[0.0]]))[0]
    b = tasks.sample_with_validity(model, 30, seed=1, condition=torch.tensor([[0.0]]))[0]
    assert a == b and a != tasks.sample_with_validity(model, 30, seed=1, condition=torch.tensor([[4.0]]))[0]


def test_encoding_uses_each_molecules_own_properties(run, mols):
    _, model = run
    enc = tasks.encode_smiles(model, mols[1][:20])
    own = tasks.own_condition(model, enc.smiles)
    assert torch.allclose(own[:, 0].double(), torch.from_numpy(property_table(enc.smiles, ["logp"])[:, 0]))
    z_own = model.latent_codes(enc.ids, condition=own)
    assert not torch.allclose(z_own, model.latent_codes(enc.ids, condition=own + 3.0))
    rec = tasks.reconstruct_molecules(model, mols[1][:20])
    assert len(rec.table) == 20 and 0 <= rec.accuracy <= 1
    other = tasks.reconstruct_molecules(model, mols[1][:20], condition=torch.tensor([[6.0]]))
    assert other.table["reconstruction"].tolist() != rec.table["reconstruction"].tolist()


def test_cli_samples_for_a_requested_property(run, tmp_path):
    path, _ = run
    out = tmp_path / "s.smi"
    result = invoke("sample", path, "--condition", "logp=2.5", "--n", "12", "--tolerance", "logp=1", "--out", out)
    assert result.exit_code == 0, result.output
    assert len(out.read_text().splitlines()) == 12 and "have RDKit logp 2.5 ± 1" in ANSI.sub("", result.stdout)
    logp = property_table(out.read_text().splitlines(), ["logp"])[:, 0]
    assert np.abs(logp - 2.5).max() <= 1
    assert tasks.default_tolerance(run[1])["logp"] == pytest.approx(0.25 * float(run[1].condition_scale[0]))
    unchecked = invoke("sample", path, "--condition", "logp=2.5", "--n", "12", "--tolerance", "off", "--out", out,
                       "--overwrite")  # fmt: skip
    assert unchecked.exit_code == 0 and "valid" in ANSI.sub("", unchecked.stdout)
    assert "pass --condition logp=..." in error_line("sample", path, "--n", "5", "--out", tmp_path / "t.smi")
    assert "qed" in error_line("sample", path, "--condition", "qed=0.5", "--n", "5", "--out", tmp_path / "u.smi")
    recon = tmp_path / "r.csv"
    assert invoke("reconstruct", path, "--condition", "logp=1", "--n", "5", "--out", recon).exit_code == 0
    assert len(recon.read_text().splitlines()) == 6


def test_an_unknown_property_is_refused_in_one_line(mols, tmp_path):
    folder, _ = mols
    line = error_line("train", folder / "train.smi", "--model", "sequence", "--condition", "colour", "--epochs", "1",
                      "--out", tmp_path / "x")  # fmt: skip
    assert "unknown property 'colour'" in line and "qed" in line
    with pytest.raises(VaekitError):
        vaekit.train(folder / "train.smi", preset="sequence", out=tmp_path / "y", epochs=1, condition="colour")


def test_a_condition_trained_longer_moves_the_samples_property(mols, tmp_path):
    """Samples asked for a low logP have a lower logP than samples asked for a high one (a model that ignores the
    condition fails this)."""
    folder, _ = mols
    model = vaekit.train(
        folder / "train.smi", preset="sequence", out=tmp_path / "long", epochs=60, hidden=(64, 128), latent_dim=8,
        properties="none", condition="logp", seed=0,
    )  # fmt: skip
    means = []
    for value in (0.5, 4.5):
        smiles, valid = tasks.sample_with_validity(model, 200, seed=0, condition=torch.tensor([[value]]))
        good = [s for s, v in zip(smiles, valid, strict=True) if v and s]
        means.append(float(np.nanmean(property_table(good, ["logp"])[:, 0])))
    assert means[1] - means[0] > 1.0, means


def test_a_property_condition_needs_a_sequence_model_value(run):
    _, model = run
    with pytest.raises(DataError):
        model.condition_values({"logp": "high"}, 1)


def test_checked_samples_have_the_requested_property_within_the_tolerance(run):
    """The model proposes, RDKit checks: every molecule returned lies in the window, drawn until n are found; the
    same seed gives the same molecules; a window nothing reaches says so instead of returning n."""
    _, model = run
    y = torch.tensor([[2.0]])
    found = tasks.sample_within(model, 20, y, {"logp": 0.8}, seed=3)
    assert len(found.smiles) == 20 and found.drawn >= 20 and found.names == ("logp",)
    logp = property_table(found.smiles, ["logp"])[:, 0]
    assert np.abs(logp - 2.0).max() <= 0.8 and np.allclose(logp, found.values[:, 0])
    assert found.smiles == tasks.sample_within(model, 20, y, {"logp": 0.8}, seed=3).smiles
    assert np.abs(logp - 2.0).mean() < np.abs(_unchecked_logp(model, 2.0) - 2.0).mean()
    none = tasks.sample_within(model, 5, torch.tensor([[40.0]]), {"logp": 0.1}, max_draws=4)
    assert none.smiles == [] and none.drawn == 20 and "only 0 of the 5 asked for" in none.summary()
    with pytest.raises(DataError, match="not 'qed'"):
        tasks.sample_within(model, 5, y, {"qed": 0.1})
    with pytest.raises(DataError, match="above 0"):
        tasks.sample_within(model, 5, y, {"logp": 0.0})


def _unchecked_logp(model, value: float) -> np.ndarray:
    smiles, valid = tasks.sample_with_validity(model, 100, seed=3, condition=torch.tensor([[value]]))
    return property_table([s for s, v in zip(smiles, valid, strict=True) if v and s], ["logp"])[:, 0]


def test_cli_tolerance_is_checked_in_one_line(run, tmp_path):
    path, _ = run
    out = tmp_path / "t.smi"
    far = error_line("sample", path, "--condition", "logp=40", "--tolerance", "logp=0.01", "--n", "2", "--out", out)
    assert "widen --tolerance" in far and not out.exists()
    assert "expected a number" in error_line("sample", path, "--condition", "logp=2", "--tolerance", "logp=x",
                                             "--n", "2", "--out", out)  # fmt: skip
    assert "not 'sa'" in error_line("sample", path, "--condition", "logp=2", "--tolerance", "sa=1", "--n", "2",
                                    "--out", out)  # fmt: skip
