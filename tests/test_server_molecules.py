"""``vaekit serve``'s molecule endpoints (server/molecules.py): they answer as the Python workflow functions (same
seed, same SMILES), keep their limits and the optimizer's budget, and refuse bad SMILES, bad fields and models that
are not molecule models with a 4xx and one JSON message (never a 500)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import vaekit

pytest.importorskip("rdkit")
pytest.importorskip("fastapi")
pytest.importorskip("httpx2")
from fastapi.testclient import TestClient  # noqa: E402

from vaekit.molecules import load_moses  # noqa: E402
from vaekit.server import Limits, create_app  # noqa: E402
from vaekit.server.molecules import MAX_BUDGET, neighbours  # noqa: E402
from vaekit.workflows.molecules import decode_ids, encode_smiles, reconstruct_molecules, sample_with_validity  # noqa: E402
from vaekit.workflows.optimize import optimize, random_baseline, tanimoto  # noqa: E402

START = "CCOc1ccc(C(=O)N2CCCC2)cc1"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny sequence VAE with a qed/logp/sa head and one conditioned on logp (300 MOSES molecules, as
    test_optimize's), and a tiny image model."""
    folder = tmp_path_factory.mktemp("serve_molecules")
    smi = folder / "small.smi"
    smi.write_text("\n".join(load_moses("train", subset=300, seed=1).smiles) + "\n")
    small = {"preset": "sequence", "hidden": (32, 64), "latent_dim": 8, "progress": False}
    vaekit.train(str(smi), out=folder / "mol", epochs=2, **small)
    vaekit.train(str(smi), out=folder / "cmol", epochs=1, properties="none", condition="logp", **small)
    images = (np.random.default_rng(0).random((64, 8, 8)) < 0.5).astype(np.float32)
    vaekit.train(images, folder / "digits", epochs=1, hidden=(16,), latent_dim=2, progress=False)
    return folder


@pytest.fixture(scope="module")
def client(runs):
    names = {name: runs / name for name in ("mol", "cmol", "digits")}
    return TestClient(create_app(names, limits=Limits(samples=20, rows=30)))


@pytest.fixture(scope="module")
def mol(runs):
    return vaekit.load(runs / "mol")


@pytest.fixture(scope="module")
def cmol(runs):
    return vaekit.load(runs / "cmol")


def post(client: TestClient, path: str, body: dict) -> dict:
    r = client.post(path, json=body)
    assert r.status_code == 200, r.text
    return r.json()


def test_models_describe_molecule_models_and_the_schema_documents_the_fields(client):
    models = {m["name"]: m for m in client.get("/models").json()}
    m = models["mol"]
    assert m["kind"] == "sequence" and m["latent_dim"] == 8 and m["conditions"] is None
    assert m["molecules"]["properties"] == ["qed", "logp", "sa"] and m["molecules"]["max_budget"] == MAX_BUDGET
    assert {"qed", "logp", "sa", "plogp"} <= set(m["molecules"]["optimizable"])
    assert m["molecules"]["representation"] == "selfies" and m["molecules"]["condition_stats"] is None
    c = models["cmol"]
    assert [x["name"] for x in c["conditions"]] == ["logp"] and c["molecules"]["properties"] == []
    assert 0 < c["molecules"]["condition_stats"]["logp"]["std"] < 5
    assert "molecules" not in models["digits"]
    schema = client.get("/openapi.json").json()
    for op in ("sample", "reconstruct", "neighbours", "optimize"):
        assert f"/models/{{name}}/molecules/{op}" in schema["paths"]
    fields = schema["components"]["schemas"]["OptimizeRequest"]["properties"]
    assert fields["budget"]["minimum"] == 1 and "decoder calls" in fields["budget"]["description"]
    assert fields["goal"]["enum"] == ["maximize", "minimize"]
    temperature = schema["components"]["schemas"]["MoleculeSampleRequest"]["properties"]["temperature"]
    assert temperature["minimum"] == 0.01 and temperature["description"]


def test_sample_answers_as_the_python_api(client, mol, cmol):
    out = post(client, "/models/mol/molecules/sample", {"n": 12, "temperature": 0.8, "seed": 3, "draw": True})
    smiles, valid = sample_with_validity(mol, 12, 0.8, 3)
    assert out["smiles"] == smiles and out["valid"] == valid and out["seed"] == 3
    assert all((svg or "").startswith("<?xml") == ok for svg, ok in zip(out["svg"], valid, strict=True))
    assert "svg" not in post(client, "/models/mol/molecules/sample", {"n": 2, "seed": 3})
    free = post(client, "/models/mol/molecules/sample", {"n": 4})  # no seed: a random one, returned
    again = post(client, "/models/mol/molecules/sample", {"n": 4, "seed": free["seed"]})
    assert again["smiles"] == free["smiles"]
    out = post(client, "/models/cmol/molecules/sample", {"n": 6, "seed": 1, "condition": {"logp": 2.5}})
    y = cmol.condition_values({"logp": 2.5}, 1)
    assert out["smiles"] == sample_with_validity(cmol, 6, 1.0, 1, condition=y)[0]
    assert out["condition"] == {"logp": 2.5}


def test_reconstruct_answers_as_the_python_api(client, mol, cmol):
    given = ["OCC", START, "c1ccccc1"]
    out = post(client, "/models/mol/molecules/reconstruct", {"smiles": given, "draw": True})
    rec = reconstruct_molecules(mol, given)
    assert [r["input"] for r in out["rows"]] == ["CCO", START, "c1ccccc1"]  # canonical
    assert [r["given"] for r in out["rows"]] == given
    assert [r["reconstruction"] for r in out["rows"]] == rec.table["reconstruction"].tolist()
    assert [r["match"] for r in out["rows"]] == rec.table["match"].tolist() and out["accuracy"] == rec.accuracy
    assert all(r["input_svg"].startswith("<?xml") for r in out["rows"])
    out = post(client, "/models/cmol/molecules/reconstruct", {"smiles": given, "condition": {"logp": 1.0}})
    expected = reconstruct_molecules(cmol, given, condition=cmol.condition_values({"logp": 1.0}, 1)).table
    assert [r["reconstruction"] for r in out["rows"]] == expected["reconstruction"].tolist()


def test_neighbours_decode_around_the_code_with_similarity(client, mol):
    body = {"smiles": "O=C(c1ccc(OCC)cc1)N1CCCC1", "n": 10, "spread": 0.5, "seed": 2, "draw": True}
    out = post(client, "/models/mol/molecules/neighbours", body)
    assert out["smiles"] == START and out["given"] == body["smiles"] and len(out["neighbours"]) == 10
    assert out["reconstruction"] == reconstruct_molecules(mol, [START]).table["reconstruction"][0]
    assert out["match"] == (out["reconstruction"] == START)
    with torch.no_grad():
        z0 = mol.encode(encode_smiles(mol, [START]).ids).mean
        eps = torch.randn(10, 8, generator=torch.Generator().manual_seed(2))
        smiles, valid = decode_ids(mol, mol.decode(z0 + 0.5 * mol.code_std * eps).mean)
    np.testing.assert_allclose(out["z"], z0[0].numpy(), atol=1e-6)
    assert out["neighbours"] == smiles and out["valid"] == valid
    np.testing.assert_allclose(out["distance"], 0.5 * eps.norm(dim=-1).numpy(), rtol=1e-5)
    kept = [s for s, ok in zip(smiles, valid, strict=True) if ok]
    np.testing.assert_allclose([s for s in out["similarity"] if s is not None], tanimoto(kept, START))
    assert out["distinct"] == len(set(kept)) and len(out["neighbour_svg"]) == 10 and out["svg"].startswith("<?xml")
    assert post(client, "/models/mol/molecules/neighbours", body) == out  # same seed, same answer
    assert neighbours(mol, START, 10, 0.5, 2)["neighbours"] == smiles  # the Python side


def test_optimize_answers_as_the_python_api_within_its_budget(client, mol):
    out = post(client, "/models/mol/molecules/optimize", {"property": "qed", "budget": 200, "n": 5, "seed": 0})
    table = optimize(mol, "qed", 200, seed=0)
    assert out["rows"] == table.head(5).to_dict(orient="records") and out["found"] == len(table)
    assert out["decoder_calls"] == 200 and out["method"] == table.attrs["method"] and out["seconds"] > 0
    assert out["found"] + out["invalid"] + out["duplicates"] + out["below_min_sim"] == 200
    values = [r["qed"] for r in out["rows"]]
    assert values == sorted(values, reverse=True)  # best first
    assert values[0] >= random_baseline(mol, "qed", 200, seed=0)["qed"].max()  # no worse than as many prior samples
    low = post(client, "/models/mol/molecules/optimize", {"property": "SA", "goal": "minimize", "budget": 60})
    assert low["property"] == "sa" and low["decoder_calls"] == 60
    values = [r["sa"] for r in low["rows"]]
    assert values == sorted(values) and len(values) <= 10
    body = {"property": "logp", "budget": 40, "similar_to": "O=C(c1ccc(OCC)cc1)N1CCCC1", "min_sim": 0.0, "n": 30}
    near = post(client, "/models/mol/molecules/optimize", body)
    expected = optimize(mol, "logp", 40, similar_to=START, min_sim=0.0)
    assert near["rows"] == expected.head(30).to_dict(orient="records")
    assert near["start_value"] == pytest.approx(expected.attrs["start_value"])
    assert all(0 <= r["similarity"] <= 1 for r in near["rows"])


def test_optimize_a_conditional_model_at_the_condition_asked_for(client, cmol):
    out = post(client, "/models/cmol/molecules/optimize", {"property": "logp", "budget": 30, "seed": 1})
    assert out["condition"]["logp"] > cmol.condition_shift[0].item()  # pushed toward the goal by default
    asked = post(client, "/models/cmol/molecules/optimize", {"budget": 30, "seed": 1, "condition": {"logp": 1.5}})
    assert asked["condition"] == {"logp": 1.5} and asked["property"] == "qed"
    assert asked["rows"] == optimize(cmol, "qed", 30, seed=1, condition={"logp": 1.5}).head(10).to_dict("records")


@pytest.mark.parametrize(
    ("path", "body", "status", "match"),
    [
        ("/models/nope/molecules/sample", {"n": 2}, 404, "no model 'nope'"),
        ("/models/digits/molecules/sample", {"n": 2}, 422, "'digits' holds image data"),
        ("/models/digits/molecules/optimize", {}, 422, "need a model of molecules"),
        ("/models/mol/molecules/sample", {"n": 21}, 422, "21 samples: at most 20 per request"),
        ("/models/mol/molecules/sample", {"n": 0}, 422, "n: Input should be greater than or equal to 1"),
        (
            "/models/mol/molecules/sample",
            {"temperature": 1e-300},
            422,
            "temperature: Input should be greater than or equal to 0.01",
        ),
        ("/models/mol/molecules/sample", {"seed": -1}, 422, "seed: Input should be greater than or equal to 0"),
        ("/models/mol/molecules/sample", {"condition": {"logp": 2}}, 422, "this model is not conditional"),
        ("/models/cmol/molecules/sample", {"n": 2}, 422, "conditional on logp: pass a condition"),
        ("/models/cmol/molecules/sample", {"condition": {"qed": 0.5}}, 422, "unknown condition 'qed'"),
        ("/models/cmol/molecules/sample", '{"condition": {"logp": NaN}}', 422, "condition.logp"),
        ("/models/cmol/molecules/sample", {"condition": {"logp": 1e300}}, 422, "condition.logp"),
        ("/models/mol/molecules/reconstruct", {"smiles": ["CCO", "C1CC"]}, 422, "smiles[1]: 'C1CC' is not a valid"),
        ("/models/mol/molecules/reconstruct", {"smiles": ["C[Xe]"]}, 422, "vocabulary (tokens it never saw: '[Xe]')"),
        ("/models/mol/molecules/reconstruct", {"smiles": ["C"] * 31}, 422, "31 molecules: at most 30 per request"),
        ("/models/mol/molecules/reconstruct", {"smiles": []}, 422, "smiles: List should have at least 1 item"),
        ("/models/mol/molecules/reconstruct", {"smiles": [""]}, 422, "smiles.0: String should have at least 1"),
        ("/models/mol/molecules/reconstruct", {"smiles": "CCO"}, 422, "smiles: Input should be a valid list"),
        ("/models/mol/molecules/reconstruct", {"smiles": ["C" * 1001]}, 422, "at most 1000 characters"),
        ("/models/mol/molecules/neighbours", {"smiles": "xyz"}, 422, "smiles: 'xyz' is not a valid SMILES"),
        ("/models/mol/molecules/neighbours", {"smiles": "CCO", "n": 21}, 422, "21 neighbours: at most 20"),
        ("/models/mol/molecules/neighbours", {"smiles": "CCO", "spread": 0}, 422, "spread: Input should be greater"),
        ("/models/mol/molecules/neighbours", {}, 422, "smiles: Field required"),
        ("/models/mol/molecules/optimize", {"budget": MAX_BUDGET + 1}, 422, f"at most {MAX_BUDGET:,} per request"),
        ("/models/mol/molecules/optimize", {"budget": 0}, 422, "budget: Input should be greater than or equal to 1"),
        ("/models/mol/molecules/optimize", {"n": 31}, 422, "31 rows: at most 30 per request"),
        ("/models/mol/molecules/optimize", {"property": "size"}, 422, "unknown property 'size': expected one of"),
        ("/models/mol/molecules/optimize", {"goal": "up"}, 422, "goal: Input should be 'maximize' or 'minimize'"),
        ("/models/mol/molecules/optimize", {"similar_to": "C1CC"}, 422, "similar_to: 'C1CC' is not a valid SMILES"),
        ("/models/mol/molecules/optimize", {"min_sim": 2}, 422, "min_sim: Input should be less than or equal to 1"),
        ("/models/mol/molecules/optimize", {"property": "weight", "method": "gradient"}, 422, "does not predict"),
        ("/models/mol/molecules/optimize", {"condition": {"logp": 1}}, 422, "this model is not conditional"),
        ("/models/mol/molecules/optimize", None, 422, "the request body: Field required"),
    ],
)
def test_bad_requests_get_a_4xx_with_one_message(client, path, body, status, match):
    if isinstance(body, str):  # JSON the client would not write (NaN)
        r = client.post(path, content=body, headers={"content-type": "application/json"})
    else:
        r = client.post(path, json=body)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and match in detail, detail


def test_the_generic_endpoints_read_and_write_smiles(client, mol):
    """encode, decode, sample, reconstruct and interpolate of a molecule model: SMILES in, SMILES out."""
    from vaekit.workflows.optimize import decode_smiles

    smiles = ["CCOc1ccccc1", "CC(=O)Nc1ccc(O)cc1"]
    codes = client.post("/models/mol/encode", json={"inputs": smiles})
    assert codes.status_code == 200, codes.text
    expected = mol.encode(encode_smiles(mol, smiles).ids).mean.detach().numpy()
    np.testing.assert_allclose(codes.json()["mean"], expected, atol=1e-5)
    decoded = client.post("/models/mol/decode", json={"z": codes.json()["mean"]}).json()
    greedy = decode_smiles(mol, torch.tensor(codes.json()["mean"]))
    assert [s if ok else None for s, ok in zip(decoded["smiles"], decoded["valid"], strict=True)] == greedy
    for path, body in [
        ("sample", {"n": 3, "seed": 0}),
        ("reconstruct", {"inputs": smiles}),
        ("interpolate", {"a": smiles[0], "b": smiles[1], "steps": 4}),
    ]:
        out = client.post(f"/models/mol/{path}", json=body)
        assert out.status_code == 200, out.text
        assert set(out.json()) == {"smiles", "valid"} and all(isinstance(s, str) for s in out.json()["smiles"])
    bad = client.post("/models/mol/encode", json={"inputs": ["C1CC"]})
    assert bad.status_code == 422 and "'C1CC' is not a valid SMILES" in bad.json()["detail"]
