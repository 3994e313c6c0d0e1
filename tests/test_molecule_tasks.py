"""vaekit.workflows.molecules and the molecule side of the CLI (sample, reconstruct, interpolate, evaluate, molecules
metrics) on a tiny sequence VAE trained once per module on 300 MOSES test molecules."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import vaekit
from vaekit.cli.app import app
from vaekit.errors import DataError
from vaekit.molecules import canonical_smiles, load_moses
from vaekit.molecules.dataset import vocabulary_of
from vaekit.workflows import molecules as tasks

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
METRIC_KEYS = {"valid", "unique@1000", "FCD/Test", "SNN/Test", "Frag/Test", "Scaf/Test", "IntDiv", "IntDiv2",
               "logP", "SA", "QED", "weight", "Novelty"}  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny GRUs gain nothing from a second thread, and on a busy 2-core machine its spin-waits made training
    ten times slower (the same 80 steps: 5 s on one thread, 50 s on two)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VAEKIT_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def mols(tmp_path_factory, cache):
    """300 MOSES test molecules in a .smi file."""
    folder = tmp_path_factory.mktemp("mols")
    smiles = load_moses("test", subset=300, seed=1).smiles
    (folder / "train.smi").write_text("\n".join(smiles) + "\n")
    return folder, smiles


@pytest.fixture(scope="module")
def run(mols):
    """A tiny SELFIES model trained briefly (a run folder), and the model itself."""
    folder, _ = mols
    out = folder / "run"
    model = vaekit.train(
        folder / "train.smi", preset="sequence", out=out, epochs=1, hidden=(32, 64), latent_dim=8, properties="none"
    )
    return out, model


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def ok(*args: object) -> str:
    result = invoke(*args)
    assert result.exit_code == 0, f"{args}: exit {result.exit_code}\n{result.output}\n{result.exception!r}"
    assert "Traceback" not in result.output
    return ANSI.sub("", result.stdout)


def refused(*args: object, match: str | None = None) -> str:
    """A command that must fail: exit 2, exactly one ``error: ...`` line on stderr, no traceback."""
    result = invoke(*args)
    assert result.exit_code == 2, f"{args}: exit {result.exit_code}\n{result.output}\n{result.exception!r}"
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    lines = [line for line in ANSI.sub("", result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert "Traceback" not in result.output
    if match is not None:
        assert re.search(match, lines[0]), f"{match!r} not in {lines[0]!r}"
    return lines[0]


# -- the task layer ------------------------------------------------------------------------------------------------
def test_sampling_is_seeded_and_selfies_samples_are_valid(run):
    _, model = run
    a = tasks.sample_molecules(model, 25, seed=3, batch_size=10)
    assert len(a) == 25 and a == tasks.sample_molecules(model, 25, seed=3, batch_size=10)
    assert a != tasks.sample_molecules(model, 25, seed=4, batch_size=10)
    assert all(s and canonical_smiles(s) == s for s in a)  # every sample a molecule, none empty
    cold = tasks.sample_molecules(model, 25, temperature=0.01, seed=3)
    assert len(set(cold)) < len(set(a))  # near-greedy decoding: little variety left
    with pytest.raises(DataError, match="temperature"):
        tasks.sample_molecules(model, 5, temperature=0)


def test_samples_that_write_no_molecule_are_drawn_again(run):
    """SELFIES made only of branch and ring tokens decode to an empty string: such draws are drawn again from the
    same code, so no sample is empty; a decoder that can write nothing else keeps them empty and invalid."""
    import copy

    _, model = run
    tokens = vocabulary_of(model.schema).tokens
    branch, carbon, eos = tokens.index("[Branch1]"), tokens.index("[C]"), tokens.index("<eos>")
    for favoured, empty_share in (([branch, carbon, eos], 0.0), ([branch, eos], 1.0)):
        rigged = copy.deepcopy(model)
        with torch.no_grad():
            rigged.decoder.out.weight.zero_()
            rigged.decoder.out.bias.fill_(-30.0)
            rigged.decoder.out.bias[favoured] = 0.0
        smiles, valid = tasks.sample_with_validity(rigged, 200, seed=0)
        assert np.mean([not s for s in smiles]) == empty_share
        assert all(v == bool(s) for s, v in zip(smiles, valid, strict=True))


def test_encode_counts_invalid_and_unknown_tokens(run, mols):
    _, model = run
    enc = tasks.encode_smiles(model, [mols[1][0], "C1CC", "C[Si](C)(C)C", "not a molecule", "CCO"])
    assert enc.smiles == [mols[1][0], "CCO"] and enc.ids.shape == (2, model.schema.shape[0])
    assert enc.n_invalid == 2 and enc.skipped == {"unknown tokens": 1} and enc.n_skipped == 3
    assert "'[Si]'" in enc.summary() and "2 of 5 molecules encoded" in enc.summary()
    long = tasks.encode_smiles(model, ["C" * 300, "CCO"])
    assert long.skipped == {"too long": 1} and f"1 longer than the model's {model.schema.shape[0] - 2} tokens" in (
        long.summary()
    )
    with pytest.raises(DataError, match=r"no molecule left to encode.*'C1CC'"):
        tasks.encode_smiles(model, ["C1CC"])


def test_reconstruct_returns_table_and_accuracy(run, mols):
    _, model = run
    rec = tasks.reconstruct_molecules(model, mols[1][:40] + ["C1CC"])
    assert list(rec.table.columns) == ["input", "reconstruction", "match"] and len(rec.table) == 40
    assert rec.table["input"].tolist() == mols[1][:40] and 0 <= rec.accuracy <= 1
    assert rec.accuracy == rec.table["match"].mean() and rec.encoded.n_invalid == 1


def test_interpolation_path_and_drawing(run, mols, tmp_path):
    _, model = run
    a, b = mols[1][:2]
    path = tasks.interpolate_molecules(model, a, b, steps=6)
    assert len(path) == 6 and all(isinstance(s, str) for s in path)
    assert len(tasks.interpolate_molecules(model, a, b, steps=3, slerp=True)) == 3
    out = tasks.draw_molecules(path, tmp_path / "path.png", per_row=3)
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size == (750, 500)
    with pytest.raises(DataError, match="cannot interpolate"):
        tasks.interpolate_molecules(model, a, "C1CC")


def test_smiles_model_keeps_invalid_strings(mols):
    folder, smiles = mols
    model = vaekit.train(
        folder / "train.smi", preset="sequence", representation="smiles", epochs=1, hidden=(16, 32), latent_dim=4,
        properties="none",
    )  # fmt: skip
    out = tasks.sample_molecules(model, 30, seed=0)
    assert len(out) == 30 and any(canonical_smiles(s) is None for s in out)  # barely trained: some are invalid


def test_reconstructs_training_molecules_after_training(tmp_path, cache):
    """The check that can fail: a model that has fit 16 molecules (80 steps) reconstructs most of them (measured:
    16/16 and 15/16 for two seeds; an untrained one: none)."""
    smiles = load_moses("test", subset=16, seed=2).smiles
    (tmp_path / "few.smi").write_text("\n".join(smiles) + "\n")
    model = vaekit.train(
        tmp_path / "few.smi", preset="sequence", epochs=80, hidden=(64, 128), latent_dim=16, batch_size=16, lr=1e-2,
        val_fraction=0.0, beta=0.1, kl_warmup=0, properties="none",
    )  # fmt: skip
    assert tasks.reconstruct_molecules(model, smiles).accuracy >= 0.75


def test_load_molecules_defaults_to_a_moses_test_sample(run, mols):
    _, model = run
    assert len(tasks.load_molecules(model, "moses:test", n=50)) == 50
    own = tasks.load_molecules(model, None)  # a run trained on a file: that file by default
    assert own.smiles[:5] == mols[1][:5]
    trained_on_moses = {**model.run_config, "training": {**model.run_config["training"], "data": "moses"}}
    model.run_config, saved = trained_on_moses, model.run_config
    try:
        mols_ = tasks.load_molecules(model, None, n=20)
    finally:
        model.run_config = saved
    assert len(mols_) == 20 and mols_.source == "MOSES test (subset 20)"
    assert tasks.load_molecules(model, str(mols[0] / "train.smi"), n=7).smiles == mols[1][:7]


# -- the CLI -------------------------------------------------------------------------------------------------------
def test_cli_sample_reconstruct_interpolate(run, mols, tmp_path):
    path, _ = run
    folder, smiles = mols
    line = ok("sample", path, "--n", 40, "--temperature", 0.9, "--out", tmp_path / "s.smi")
    assert "wrote 40 molecules" in line and "valid" in line
    assert len((tmp_path / "s.smi").read_text().split("\n")) == 41  # one line per molecule, empty ones included
    line = ok("reconstruct", path, "--data", folder / "train.smi", "--n", 20, "--out", tmp_path / "r.csv")
    assert re.search(r"reconstructed \d+\.\d% of 20 molecules exactly", line)
    assert (tmp_path / "r.csv").read_text().startswith("input,reconstruction,match\n")
    (tmp_path / "mixed.smi").write_text("\n".join(smiles[:5]) + "\nC1CC\nC[Si](C)(C)C\n")
    line = ok("reconstruct", path, "--data", tmp_path / "mixed.smi", "--out", tmp_path / "r.csv", "--overwrite")
    assert "of 5 molecules exactly" in line and "5 of 7 molecules encoded" in line
    assert "1 invalid SMILES (e.g. 'C1CC')" in line and "1 with tokens outside the model's vocabulary ('[Si]')" in line
    line = ok("interpolate", path, "--smiles", smiles[0], smiles[1], "--steps", 4, "--out", tmp_path / "p.png")
    assert "wrote 4 molecules" in line and (tmp_path / "p.png").is_file()


def test_cli_encode_decode_traverse(run, mols, tmp_path):
    path, model = run
    _, smiles = mols
    (tmp_path / "m.smi").write_text("\n".join(smiles[:6]) + "\nC1CC\n")
    line = ok("encode", path, "--data", tmp_path / "m.smi", "--out", tmp_path / "codes.csv")
    assert "wrote 6 codes" in line and "1 invalid SMILES" in line
    table = pd.read_csv(tmp_path / "codes.csv")
    assert list(table.columns) == ["smiles"] + [f"z{i}" for i in range(8)]
    assert table["smiles"].tolist() == [canonical_smiles(s) for s in smiles[:6]]
    ok("encode", path, "--data", tmp_path / "m.smi", "--out", tmp_path / "codes.npy")
    codes = np.load(tmp_path / "codes.npy")
    np.testing.assert_allclose(codes, table.iloc[:, 1:].to_numpy(), rtol=1e-5, atol=1e-6)
    # decode reads the encode CSV's z columns; greedy decoding of the means is reconstruct's answer
    line = ok("decode", path, tmp_path / "codes.csv", "--out", tmp_path / "d.smi")
    decoded = (tmp_path / "d.smi").read_text().splitlines()
    assert (
        "wrote 6 molecules" in line
        and decoded == tasks.reconstruct_molecules(model, smiles[:6]).table["reconstruction"].tolist()
    )
    line = ok("traverse", path, "--dims", "0,3", "--steps", 5, "--out", tmp_path / "t.csv")
    t = pd.read_csv(tmp_path / "t.csv")
    assert "wrote 2 rows" in line and t["dim"].tolist() == [0] * 5 + [3] * 5 and len(t) == 10
    assert t["value"].tolist()[:5] == pytest.approx([-3, -1.5, 0, 1.5, 3])
    ok("traverse", path, "--dims", "1", "--steps", 3, "--out", tmp_path / "t.png")
    with Image.open(tmp_path / "t.png") as image:
        assert image.size[0] == 3 * 250  # one row of three molecules
    refused("traverse", path, "--dims", "8", "--out", tmp_path / "x.png", match="out of range")
    refused("decode", path, tmp_path / "codes.npy", "--out", tmp_path / "x.npy", match=r"\.smi")
    np.save(tmp_path / "wrong.npy", np.zeros((2, 3), dtype=np.float32))
    refused("decode", path, tmp_path / "wrong.npy", "--out", tmp_path / "x.smi", match=r"expected \(N, 8\)")
    assert not any(tmp_path.glob("x.*"))


def test_cli_evaluate_sequence_run(run, mols, tmp_path):
    path, _ = run
    folder, _ = mols
    (tmp_path / "held_out.smi").write_text("\n".join(mols[1][:30]) + "\nC1CC\n")
    out = ok("evaluate", path, "--data", tmp_path / "held_out.smi", "--iw-samples", 4)
    assert "reconstruction accuracy" in out and "bits/dim" not in out and "1 invalid SMILES" in out
    assert not (path / "eval.json").exists(), "evaluating other data never replaces the run's own eval.json"
    r = json.loads((path / "eval-held_out-auto.json").read_text())
    assert r["n"] == 30 and r["iw_samples"] == 4 and r["nll"] > 0 and 0 <= r["reconstruction_accuracy"] <= 1
    assert len(r["kl_per_dim"]) == 8 and "bits_per_dim" not in r
    ok("evaluate", path, "--iw-samples", 0)  # trained on a file: by default the part of it training held out
    own = json.loads((path / "eval.json").read_text())
    assert own["data"].endswith("train.smi") and own["split"].endswith("(val)") and 0 < own["n"] < 50
    ok("evaluate", path, "--split", "train", "--iw-samples", 0)  # the molecules it trained on
    rest = json.loads((path / "eval-train.json").read_text())
    assert rest["split"].endswith("(train)") and rest["n"] > 200 and rest["n"] + own["n"] <= 300


def test_cli_report_on_a_sequence_run(run, mols, tmp_path):
    path, _ = run
    out = ok("report", path, "--data", mols[0] / "train.smi", "--out", tmp_path / "r.html")
    assert "wrote" in out
    page = (tmp_path / "r.html").read_text()
    for title in ("Samples", "Reconstructions", "Interpolation", "Latent space", "KL per latent dimension"):
        assert f"<h2>{title}</h2>" in page
    assert page.count("data:image/png;base64,") == 6 and "GRU encoder 32 · decoder 64" in page


def test_cli_anomaly_scores_molecules(run, mols, tmp_path):
    """Molecules score like any other input: one row per molecule read (its SMILES first), unreadable ones
    counted and skipped; calibration on clean molecules adds conformal p-values and flags."""
    path, _ = run
    clean = [s for s in load_moses("test", subset=80, seed=2).smiles if s not in set(mols[1])][:40]
    (tmp_path / "clean.smi").write_text("\n".join(clean) + "\n")
    (tmp_path / "probe.smi").write_text(f"{clean[0]}\nC1CC\nCCO\n")
    ok("anomaly", "calibrate", path, "--data", tmp_path / "clean.smi", "--fpr", 0.1)
    out = ok("anomaly", "score", path, "--data", tmp_path / "probe.smi", "--out", tmp_path / "s.csv",
             "--score", "elbo,recon")  # fmt: skip
    assert "1 invalid SMILES" in out and "2 rows" in out
    rows = list(csv.DictReader((tmp_path / "s.csv").read_text().splitlines()))
    assert [r["smiles"] for r in rows] == [clean[0], "CCO"]
    assert set(rows[0]) == {"smiles", "score_elbo", "score_recon", "p_value", "anomaly"}
    assert all(0 < float(r["p_value"]) <= 1 and float(r["score_elbo"]) > 0 for r in rows)
    refused("anomaly", "calibrate", path, "--split", "all", match="its training rows: use --split val")
    refused("anomaly", "calibrate", path, match=r"at least 99 clean rows .* \(got 6\)")  # its held-out part is small
    refused("anomaly", "score", path, "--data", tmp_path / "probe.smi", "--split", "val", "--out",
            tmp_path / "t.csv", match="needs the run.s own training data")  # fmt: skip
    refused("anomaly", "score", path, "--data", tmp_path / "probe.smi", "--score", "relative", "--out",
            tmp_path / "t.csv", match="Bernoulli")  # fmt: skip
    assert not (tmp_path / "t.csv").exists()


def test_cli_refuses_bad_molecule_input(run, tmp_path):
    path, _ = run
    (tmp_path / "empty.smi").write_text("")
    (tmp_path / "bad.smi").write_text("C1CC\nnot_a_smiles\n")
    (tmp_path / "si.smi").write_text("C[Si](C)(C)C\n")
    (tmp_path / "nocol.csv").write_text("name,value\na,1\n")
    recon = ("reconstruct", path, "--out", tmp_path / "r.csv", "--data")
    refused(*recon, tmp_path / "empty.smi", match="contains no SMILES")
    refused(*recon, tmp_path / "bad.smi", match=r"2 invalid SMILES \(e\.g\. 'C1CC'")
    refused(*recon, tmp_path / "si.smi", match=r"tokens outside the model's vocabulary \('\[Si\]'\)")
    refused(*recon, tmp_path / "nocol.csv", match="no SMILES column")
    refused(*recon, tmp_path / "missing.smi", match="no such file")
    refused("sample", path, "--out", tmp_path / "s.png", match=r"expected a file ending in \.smi, \.txt")
    refused("reconstruct", path, "--data", tmp_path / "bad.smi", "--out", tmp_path / "r.png", match=r"\.csv")
    refused("interpolate", path, "--smiles", "CCO", "CCN", "--out", tmp_path / "p.gif", match=r"\.png")
    refused("interpolate", path, "--out", tmp_path / "p.png", match="--smiles A B")
    refused("interpolate", path, "--smiles", "CCO", "C1CC", "--out", tmp_path / "p.png", match="cannot interpolate")
    refused("sample", path, "--temperature", -1, "--out", tmp_path / "s.smi", match="temperature")
    refused("sample", path, "--temperature", 1e-300, "--out", tmp_path / "s.smi", match="at least 0.01")
    assert not any(tmp_path.glob("[rsp].*"))  # nothing written


def test_cli_molecules_metrics(mols, tmp_path, cache):
    _, smiles = mols
    (tmp_path / "gen.smi").write_text("\n".join(smiles[:40]) + "\n\nC1CC\n" + "\n".join(smiles[:5]) + "\n")
    (tmp_path / "ref.smi").write_text("\n".join(smiles[100:160]) + "\n")
    out = ok("molecules", "metrics", tmp_path / "gen.smi", "--ref", tmp_path / "ref.smi", "--train",
             tmp_path / "gen.smi", "--out", tmp_path / "m.json")  # fmt: skip
    assert "45 of 47 valid" in out and "FCD/Test" in out
    m = json.loads((tmp_path / "m.json").read_text())
    assert METRIC_KEYS <= set(m) and m["n_generated"] == 47 and m["valid"] == pytest.approx(45 / 47)
    assert m["Novelty"] == 0.0 and m["unique@1000"] == pytest.approx(40 / 45)
    (tmp_path / "empty.smi").write_text("\n")
    (tmp_path / "nocol.csv").write_text("a,b\n1,2\n")
    metrics = ("molecules", "metrics", "--ref", tmp_path / "ref.smi", "--out", tmp_path / "x.json")
    refused(*metrics, tmp_path / "empty.smi", match="contains no SMILES")
    refused(*metrics, tmp_path / "nocol.csv", match="no SMILES column")
    refused(*metrics, tmp_path / "missing.smi", match="no such file")
    refused("molecules", "metrics", tmp_path / "gen.smi", "--ref", tmp_path / "empty.smi", "--out",
            tmp_path / "x.json", match="contains no SMILES")  # fmt: skip
    refused("molecules", "metrics", tmp_path / "gen.smi", "--out", tmp_path / "m.txt", match=r"\.json")
    assert not (tmp_path / "x.json").exists()


def test_image_runs_refuse_molecule_options(tmp_path):
    """--temperature and --smiles are molecule options: an image run refuses them (and keeps working without)."""
    x = torch.rand(64, 1, 8, 8).round().numpy()
    np.save(tmp_path / "img.npy", x)
    vaekit.train(tmp_path / "img.npy", out=tmp_path / "img_run", epochs=1, hidden=(16,), latent_dim=2)
    refused("sample", tmp_path / "img_run", "--temperature", 0.5, "--out", tmp_path / "s.png", match="temperature")
    refused("interpolate", tmp_path / "img_run", "--smiles", "C", "CC", "--out", tmp_path / "p.png", match="--smiles")
    assert "wrote" in ok("sample", tmp_path / "img_run", "--n", 4, "--out", tmp_path / "s.png")
