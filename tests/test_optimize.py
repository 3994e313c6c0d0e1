"""Property optimization in a sequence VAE's latent space: vaekit.workflows.optimize and `vaekit molecules optimize`."""

import pytest
import torch
from typer.testing import CliRunner

pytest.importorskip("rdkit")

from vaekit.cli.app import app  # noqa: E402
from vaekit.errors import DataError  # noqa: E402
from vaekit.molecules.properties import PROPERTY_FUNCTIONS  # noqa: E402
from vaekit.workflows.optimize import DEFAULT_METHOD, gradient_paths, optimize, random_baseline, tanimoto  # noqa: E402

START = "CCOc1ccc(C(=O)N2CCCC2)cc1"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny sequence VAE with a qed/logp/sa head, trained briefly on 300 MOSES molecules."""
    import vaekit
    from vaekit.molecules import load_moses

    folder = tmp_path_factory.mktemp("optimize")
    smi = folder / "small.smi"
    smi.write_text("\n".join(load_moses("train", subset=300, seed=1).smiles) + "\n")
    model = vaekit.train(str(smi), preset="sequence", out=folder / "run", epochs=2, hidden=(32, 64), latent_dim=8)
    return folder / "run", model.eval()


def _check_true_values(table, names):
    for _, row in table.iterrows():
        for name in names:
            assert row[name] == pytest.approx(PROPERTY_FUNCTIONS[name](row["smiles"]), abs=1e-9)


@pytest.mark.parametrize(("prop", "maximize"), [("qed", True), ("sa", False), ("weight", True)])
def test_rows_are_distinct_true_values_sorted_best_first(run, prop, maximize):
    table = optimize(run[1], prop, n=40, maximize=maximize, seed=1)
    a = table.attrs
    assert a["method"] == ("evolve" if prop == "weight" else DEFAULT_METHOD)  # the head predicts qed, logp and sa
    assert 0 < len(table) <= 40 and a["decoder_calls"] == 40
    assert len(table) + a["invalid"] + a["duplicates"] == 40
    assert table["smiles"].is_unique
    _check_true_values(table, [prop, *run[1].config.properties])
    values = table[prop].to_numpy()
    assert (values[:-1] >= values[1:]).all() if maximize else (values[:-1] <= values[1:]).all()
    if prop != "weight":
        assert table[f"predicted_{prop}"].notna().all()


@pytest.mark.parametrize("options", [{"method": "gradient"}, {"method": "evolve"}, {"method": "evolve", "children": 5}])
def test_same_seed_same_result(run, options):
    a, b = optimize(run[1], n=30, seed=3, **options), optimize(run[1], n=30, seed=3, **options)
    assert a.equals(b) and a.attrs == b.attrs and a.attrs["method"] == options["method"]


def test_random_baseline_is_seeded(run):
    c = random_baseline(run[1], n=30, seed=3)
    assert c.equals(random_baseline(run[1], n=30, seed=3))
    assert not c.equals(random_baseline(run[1], n=30, seed=4))


@pytest.mark.parametrize("method", ["gradient", "evolve"])
def test_similarity_constraint_excludes_and_counts(run, method):
    loose = optimize(run[1], n=40, similar_to=START, min_sim=0.0, method=method)
    assert len(loose) and loose.attrs["below_min_sim"] == 0
    assert loose["similarity"].to_numpy() == pytest.approx(tanimoto(list(loose["smiles"]), START))
    low, high = loose["similarity"].min(), loose["similarity"].max()
    assert high > low
    threshold = float(low + high) / 2  # excludes some of the same molecules, keeps others
    strict = optimize(run[1], n=40, similar_to=START, min_sim=threshold, method=method)
    assert (strict["similarity"] >= threshold).all()
    assert strict["similarity"].to_numpy() == pytest.approx(tanimoto(list(strict["smiles"]), START))
    a = strict.attrs
    assert len(strict) + a["below_min_sim"] + a["invalid"] + a["duplicates"] == a["decoder_calls"] == 40
    if method == "gradient":  # the paths do not depend on min_sim: the same molecules, some left out
        assert a["below_min_sim"] == int((loose["similarity"] < threshold).sum()) > 0
        assert set(strict["smiles"]) == set(loose["smiles"][loose["similarity"] >= threshold])
    _check_true_values(strict, ["qed"])


def test_gradient_needs_a_head_for_the_property(run):
    with pytest.raises(DataError, match="does not predict weight"):
        optimize(run[1], "weight", n=5, method="gradient")


def test_gradient_steps_raise_the_predicted_property(run):
    model = run[1]
    start = torch.randn(16, model.config.latent_dim, generator=torch.Generator().manual_seed(0))
    for sign in (1.0, -1.0):
        path = gradient_paths(model, start, 0, sign, steps=10, step_size=0.05, prior_weight=0.0)
        assert path.shape == (11, 16, model.config.latent_dim)
        with torch.no_grad():
            predicted = sign * model.predict_properties(path)[..., 0]
        assert (predicted[-1] > predicted[0]).all()
        assert (path.norm(dim=-1) <= model.config.latent_dim**0.5 + 1e-4).all()  # projected into the prior's ball


def test_cli_writes_the_table(run, tmp_path):
    out = tmp_path / "best.csv"
    result = CliRunner().invoke(app, ["molecules", "optimize", str(run[0]), "--n", "20", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "decoded" in result.output and out.is_file()
    assert out.read_text().splitlines()[0].startswith("smiles,qed,logp,sa,predicted_qed,chain,step")


def test_cli_says_how_close_the_search_came_when_nothing_is_similar_enough(run, tmp_path):
    out = tmp_path / "near.csv"
    argv = [
        "molecules",
        "optimize",
        str(run[0]),
        "--n",
        "20",
        "--similar-to",
        START,
        "--min-sim",
        "1",
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert "0 distinct molecules" in result.output and "the most similar reached" in result.output
    assert out.read_text().splitlines() == ["smiles,qed,logp,sa,predicted_qed,similarity,chain,step"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--property", "foo"], "unknown property 'foo': expected one of qed, logp, sa, weight"),
        (["--similar-to", "C1CC"], "is not a valid SMILES"),
        (["--similar-to", START, "--min-sim", "1.5"], "--min-sim must be between 0 and 1"),
        (["--n", "0"], "--n must be at least 1"),
        (["--out", "best.txt"], "expected a file ending in .csv"),
    ],
)
def test_cli_bad_input_is_one_line(run, tmp_path, args, message):
    argv = ["molecules", "optimize", str(run[0]), "--out", str(tmp_path / "b.csv"), *args]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "b.csv").exists()


def test_cli_refuses_a_model_that_is_not_a_sequence_model(tmp_path):
    from pathlib import Path

    bundle = Path(__file__).parent / "fixtures" / "bundle_v1"
    result = CliRunner().invoke(app, ["molecules", "optimize", str(bundle), "--out", str(tmp_path / "b.csv")])
    assert result.exit_code == 2 and "optimize needs a sequence model of molecules" in result.output


def test_the_default_step_is_smaller_near_a_given_molecule(run):
    """--spread defaults to SPREAD from anywhere and SPREAD_NEAR with --similar-to; a given spread is used as is."""
    from vaekit.workflows.optimize import SPREAD, SPREAD_NEAR

    model = run[1]
    assert SPREAD_NEAR < SPREAD
    free = optimize(model, "qed", n=30, seed=2, method="evolve")
    assert free.equals(optimize(model, "qed", n=30, seed=2, method="evolve", spread=SPREAD))
    assert not free.equals(optimize(model, "qed", n=30, seed=2, method="evolve", spread=3.0))
    near = optimize(model, "qed", n=30, seed=2, method="evolve", similar_to=START, min_sim=0.0)
    assert near.equals(optimize(model, "qed", n=30, seed=2, method="evolve", similar_to=START, min_sim=0.0,
                                spread=SPREAD_NEAR))  # fmt: skip


def test_cli_spread_reaches_the_search(run, tmp_path):
    out = tmp_path / "s.csv"
    argv = ["molecules", "optimize", str(run[0]), "--n", "20", "--method", "evolve", "--seed", "1"]
    wide = CliRunner().invoke(app, [*argv, "--spread", "3", "--out", str(out)])
    assert wide.exit_code == 0, wide.output
    assert out.read_text() == optimize(run[1], "qed", n=20, seed=1, method="evolve", spread=3.0).to_csv(index=False)
    bad = CliRunner().invoke(app, [*argv, "--spread", "-1", "--out", str(tmp_path / "t.csv")])
    assert bad.exit_code == 2 and not (tmp_path / "t.csv").exists()


@pytest.fixture(scope="module")
def conditional(tmp_path_factory):
    """A tiny sequence VAE conditioned on logP and QED (no head), trained briefly on 300 MOSES molecules."""
    import vaekit
    from vaekit.molecules import load_moses

    folder = tmp_path_factory.mktemp("optimize_cond")
    smi = folder / "small.smi"
    smi.write_text("\n".join(load_moses("train", subset=300, seed=1).smiles) + "\n")
    model = vaekit.train(str(smi), preset="sequence", out=folder / "run", epochs=2, hidden=(32, 64), latent_dim=8,
                         properties="none", condition="logp,qed")  # fmt: skip
    return folder / "run", model.eval()


def test_a_conditional_model_is_asked_for_the_property_beyond_its_mean(conditional):
    """By default the optimized property sits REACH training standard deviations past its mean toward the goal and
    the other condition at its mean; --condition overrides; the random baseline decodes at the same y."""
    from vaekit.workflows.optimize import REACH, search_condition

    model = conditional[1]
    (mu_logp, mu_qed), (sd_logp, sd_qed) = model.condition_shift.tolist(), model.condition_scale.tolist()
    up = search_condition(model, "qed")
    assert up[0].tolist() == pytest.approx([mu_logp, mu_qed + REACH * sd_qed], rel=1e-6)
    down = search_condition(model, "logp", maximize=False)
    assert down[0].tolist() == pytest.approx([mu_logp - REACH * sd_logp, mu_qed], rel=1e-6)
    assert search_condition(model, "sa")[0].tolist() == pytest.approx([mu_logp, mu_qed], rel=1e-6)
    given = search_condition(model, "qed", condition={"logp": "3.5"})
    assert given[0].tolist() == pytest.approx([3.5, mu_qed + REACH * sd_qed], rel=1e-6)
    near = search_condition(model, "qed", near=START)
    assert near[0, 0].item() == pytest.approx(PROPERTY_FUNCTIONS["logp"](START), abs=1e-5)

    table = optimize(model, "qed", n=30, seed=1)
    assert table.attrs["condition"] == pytest.approx({"logp": mu_logp, "qed": mu_qed + REACH * sd_qed}, rel=1e-6)
    assert table.attrs["decoder_calls"] == 30 and table.equals(optimize(model, "qed", n=30, seed=1))
    _check_true_values(table, ["qed"])
    other = optimize(model, "qed", n=30, seed=1, condition={"qed": 0.3, "logp": 0.0})
    assert other.attrs["condition"] == pytest.approx({"logp": 0.0, "qed": 0.3}, abs=1e-6)
    baseline = random_baseline(model, "qed", n=30, seed=1)
    assert baseline.equals(random_baseline(model, "qed", n=30, seed=1)) and len(baseline)


def test_the_condition_reaches_the_decoder(conditional, monkeypatch):
    """Every decoded point is decoded at the search's condition, round 0 and children alike."""
    from vaekit.workflows import optimize as opt

    seen = []
    real = opt.decode_smiles

    def spy(model, z, condition=None):
        seen.append((len(z), condition))
        return real(model, z, condition)

    monkeypatch.setattr(opt, "decode_smiles", spy)
    optimize(conditional[1], "logp", n=20, seed=0, rounds=2, condition={"qed": 0.9, "logp": 4.0})
    assert [m for m, _ in seen] == [10, 10]
    assert all(c is not None and c[0].tolist() == pytest.approx([4.0, 0.9], abs=1e-6) for _, c in seen)


@pytest.mark.parametrize(
    ("which", "args", "message"),
    [
        ("conditional", ["--condition", "qed=high"], "qed is numeric: expected a number"),
        ("conditional", ["--condition", "mw=300"], "unknown condition 'mw'"),
        ("run", ["--condition", "qed=0.9"], "this model is not conditional"),
    ],
)
def test_cli_condition_errors_are_one_line(request, which, args, message, tmp_path):
    folder = request.getfixturevalue(which)[0]
    argv = ["molecules", "optimize", str(folder), "--n", "10", "--out", str(tmp_path / "c.csv"), *args]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2 and message in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "c.csv").exists()


def test_cli_says_the_condition_it_decoded_at(conditional, tmp_path):
    argv = ["molecules", "optimize", str(conditional[0]), "--n", "10", "--condition", "logp=3", "--out",
            str(tmp_path / "c.csv")]  # fmt: skip
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert "decoded at logp=3, qed=" in result.output
