"""vaekit.molecules: SMILES data, SELFIES/SMILES vocabularies, MOSES metrics and properties (small, hand-made sets)."""

import gzip
import json
import math

import numpy as np
import pytest
import torch

from vaekit import molecules as mol
from vaekit.errors import DataError
from vaekit.molecules import chemnet
from vaekit.molecules.metrics import cosine_similarity

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
TRICKY = [  # two-letter atoms, bracket atoms, charges, stereo, a %10 ring closure
    "ClC(Br)c1ccccc1",
    "C[C@H](N)C(=O)[O-]",
    "[NH4+].[Cl-]",
    "c1ccc2cc3ccccc3cc2c1",
    "C%10CCCCC%10",
    "O=[N+]([O-])c1ccc(Br)cc1",
]
RINGS = ["c1ccc2ccccc2c1", "c1ccc(-c2ccccc2)cc1", "C1CCC2CCCCC2C1", "c1ccc2[nH]ccc2c1", "O=C1NC(=O)c2ccccc21"]
OTHERS = ["CCO", "CCN", "CC(C)C", "CCCCCCCC", "OCCO", "NCCN", "CC(=O)O", "C=CC=C"]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VAEKIT_CACHE", str(tmp_path / "cache"))


def test_public_names():
    for name in mol.__all__:
        assert hasattr(mol, name), name


# -- tokenizers --------------------------------------------------------------------------------------------------


def test_smiles_tokenizer_keeps_multi_character_tokens():
    assert mol.tokenize_smiles("ClC(Br)[C@@H](C)c1ccccc1") == [
        "Cl", "C", "(", "Br", ")", "[C@@H]", "(", "C", ")", "c", "1", "c", "c", "c", "c", "c", "1",
    ]  # fmt: skip
    assert mol.tokenize_smiles("C%10CC%10") == ["C", "%10", "C", "C", "%10"]
    assert "".join(mol.tokenize_smiles("[NH4+].[Cl-]")) == "[NH4+].[Cl-]"
    with pytest.raises(DataError, match=r"cannot tokenize SMILES 'C&C': unexpected '&' at position 1"):
        mol.tokenize_smiles("C&C")


@pytest.mark.parametrize("representation", ["selfies", "smiles"])
def test_vocabulary_round_trip(representation):
    smiles = [mol.canonical_smiles(s) for s in TRICKY + [ASPIRIN]] + ["C%10CCCCC%10"]  # RDKit would write C1…1
    vocab = mol.Vocabulary.build(smiles, representation)
    assert vocab.tokens[:4] == mol.SPECIAL_TOKENS and len(set(vocab.tokens)) == len(vocab)
    enc = vocab.encode_batch(smiles)
    assert enc.ids.shape == (len(smiles), vocab.max_length + 2) and enc.ids.dtype == torch.int64
    assert (enc.ids[:, 0] == vocab.bos_id).all() and enc.kept == list(range(len(smiles)))
    assert enc.ids[0, enc.lengths[0] - 1] == vocab.eos_id and (enc.ids[0, enc.lengths[0] :] == vocab.pad_id).all()
    decoded = [mol.canonical_smiles(s) for s in vocab.decode_batch(enc.ids)]
    assert decoded == [mol.canonical_smiles(s) for s in smiles]
    if representation == "smiles":
        assert vocab.decode_batch(enc.ids) == smiles  # the very strings, not only the same molecules
        assert {"Cl", "Br", "%10", "[NH4+]", "[C@H]"} <= set(vocab.tokens)
    else:
        assert {"[Cl]", "[Br]", "[NH4+1]"} <= set(vocab.tokens)


def test_selfies_any_token_sequence_is_a_molecule():
    vocab = mol.Vocabulary.build(RINGS + OTHERS)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(4, len(vocab), (50, 20), generator=g)
    assert all(mol.canonical_smiles(s) is not None for s in vocab.decode_batch(ids) if s)


def test_vocabulary_json_round_trip():
    vocab = mol.Vocabulary.build(TRICKY, "smiles")
    d = json.loads(json.dumps(vocab.to_dict()))
    assert mol.Vocabulary.from_dict(d) == vocab
    assert d["representation"] == "smiles" and d["tokens"][:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    selfies_vocab = mol.Vocabulary.build(TRICKY)
    assert mol.Vocabulary.from_dict(json.loads(json.dumps(selfies_vocab.to_dict()))) == selfies_vocab
    with pytest.raises(DataError, match="must start with"):
        mol.Vocabulary.from_dict(d | {"tokens": ["C", "<pad>"]})
    with pytest.raises(DataError, match="malformed vocabulary: KeyError"):
        mol.Vocabulary.from_dict({"tokens": d["tokens"]})


def test_unknown_tokens_refused_replaced_or_skipped():
    vocab = mol.Vocabulary.build(["CCO", "CCN"], "smiles")
    batch = ["CCO", "CCCl", "CBr"]
    with pytest.raises(DataError, match=r"^2 of 3 molecules have unknown tokens .*'Cl' in 'CCCl'.*on_unknown='unk'"):
        vocab.encode_batch(batch)
    enc = vocab.encode_batch(batch, on_unknown="unk")
    assert enc.kept == [0, 1, 2] and enc.n_unknown == 2 and enc.unknown_tokens == {"Cl": 1, "Br": 1}
    assert enc.ids[1, :5].tolist() == [1, *vocab.encode("CC")[1:-1], vocab.unk_id, 2]
    assert vocab.decode(enc.ids[1]) == "CC"  # <unk> decodes to nothing
    enc = vocab.encode_batch(batch, on_unknown="skip")
    assert enc.kept == [0] and enc.skipped == {"unknown tokens": 2} and enc.ids.shape == (1, vocab.max_length + 2)


def test_too_long_molecules_refused_or_skipped():
    vocab = mol.Vocabulary.build(["CCO"], "smiles")
    with pytest.raises(DataError, match=r"1 of 2 molecules have too long .*more than max_length 3.*on_error='skip'"):
        vocab.encode_batch(["CO", "CCCO"])
    enc = vocab.encode_batch(["CO", "CCCO"], on_error="skip")
    assert enc.kept == [0] and enc.skipped == {"too long": 1}


# -- data --------------------------------------------------------------------------------------------------------


def test_moses_subset_is_seeded_canonical_and_read_by_path():
    a = mol.load_moses("test", subset=200, seed=3)
    b = mol.load_moses("test", subset=200, seed=3)
    c = mol.load_moses("test", subset=200, seed=4)
    assert a.smiles == b.smiles and a.smiles != c.smiles and len(a) == 200 and a.n_invalid == 0
    assert all(mol.canonical_smiles(s) == s for s in a.smiles)
    assert mol.moses_file("train").name == "train.csv.gz" and "moses" not in __import__("sys").modules
    with pytest.raises(DataError, match="unknown MOSES split 'valid'"):
        mol.load_moses("valid")


def test_smiles_files_invalid_counted_and_skipped(tmp_path):
    (tmp_path / "m.csv").write_text("id,SMILES\n1,c1ccccc1\n2,C1CC\n3,OCC\n4,\n5,xyz\n")
    s = mol.read_smiles_file(tmp_path / "m.csv")
    assert s.smiles == ["c1ccccc1", "CCO"] and s.n_read == 5 and s.n_invalid == 3
    assert s.invalid_examples == ("C1CC", "", "xyz")
    assert "3 of 5 invalid SMILES skipped (e.g. 'C1CC', '', 'xyz')" in s.summary()
    (tmp_path / "m.smi").write_text("smiles name\nOCC ethanol\n\nC(=O)O acid\nC1CC broken\n")
    s = mol.load_smiles(tmp_path / "m.smi")
    assert s.smiles == ["CCO", "O=CO"] and s.n_invalid == 1
    with gzip.open(tmp_path / "m.smi.gz", "wt") as f:
        f.write("OCC\nCCN\n")
    assert mol.read_smiles_file(tmp_path / "m.smi.gz").smiles == ["CCO", "CCN"]
    (tmp_path / "t.csv").write_text("mol,x\nCCO,1\nCCN,2\nCCC,3\n")
    with pytest.raises(DataError, match=r"^.*t\.csv has no SMILES column \(columns: mol, x\); name it with --smiles"):
        mol.read_smiles_file(tmp_path / "t.csv")
    assert mol.read_smiles_file(tmp_path / "t.csv", column="mol").smiles == ["CCO", "CCN", "CCC"]
    sub = mol.read_smiles_file(tmp_path / "t.csv", column="mol", subset=2, seed=1)
    assert len(sub) == 2 and sub == mol.read_smiles_file(tmp_path / "t.csv", column="mol", subset=2, seed=1)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty.csv is empty$"):
        mol.read_smiles_file(tmp_path / "empty.csv")
    (tmp_path / "empty.smi").write_text("\n\n")
    with pytest.raises(DataError, match="empty.smi contains no SMILES$"):
        mol.read_smiles_file(tmp_path / "empty.smi")


# -- metrics -----------------------------------------------------------------------------------------------------


def test_validity_uniqueness_novelty():
    gen = ["CCO", "OCC", "c1ccccc1", "C1CC", "", "xyz", "CCN", "CCO"]
    assert mol.validity(gen) == pytest.approx(5 / 8)
    valid = [c for c in map(mol.canonical_smiles, gen) if c]
    assert valid == ["CCO", "CCO", "c1ccccc1", "CCN", "CCO"]
    assert mol.unique_at_k(valid, 2) == pytest.approx(1 / 2)  # the first two are the same molecule
    assert mol.unique_at_k(valid, 1000) == pytest.approx(3 / 5)  # fewer than k: all of them
    assert mol.novelty(valid, {"CCO", "CCC"}) == pytest.approx(2 / 3)


def test_radicals_charges_and_foreign_elements_against_the_training_set():
    from vaekit.molecules.metrics import chemistry, elements, train_chemistry

    assert elements(["CC(=O)[O-]", "c1ccsc1", "[2H]C[Se]C", "Cl[C@@H](Br)[nH+]"]) == {"C", "O", "S", "H", "Se", "Cl",
                                                                                     "Br", "N"}  # fmt: skip
    generated = ["CCO", "C[CH2]", "CC(=O)[O-]", "C[Si](C)(C)C", "CC[N+](C)(C)C"]  # a radical, two charged, a Si
    m = chemistry(generated, known_elements={"C", "N", "O"})
    assert m == {"Radicals": pytest.approx(1 / 5), "Charged": pytest.approx(2 / 5),
                 "ForeignElements": pytest.approx(1 / 5)}  # fmt: skip
    known, in_train = train_chemistry({"CCO", "CCN", "C[O-]", "CC"})
    assert known == {"C", "N", "O"} and in_train == {"Radicals": 0.0, "Charged": pytest.approx(1 / 4)}
    all_m = mol.all_metrics(generated, [mol.canonical_smiles(s) for s in ("CCO", "CCN")], train={"CCO", "CCN"},
                            k=(5,))  # fmt: skip
    assert all_m["ForeignElements"] == pytest.approx(1 / 5) and all_m["train/Charged"] == 0.0
    assert math.isnan(chemistry([])["Radicals"])


def test_diversity_and_similarity_of_hand_made_sets():
    assert mol.internal_diversity(["c1ccccc1"] * 5) == pytest.approx(0, abs=1e-7)
    assert mol.internal_diversity(["c1ccccc1"] * 5, p=2) == pytest.approx(0, abs=1e-7)
    div = mol.internal_diversity(RINGS + OTHERS)
    assert 0.5 < div < 1
    assert mol.snn(RINGS, RINGS) == pytest.approx(1)
    assert mol.snn(OTHERS, RINGS) < 0.5
    assert mol.fragment_similarity(RINGS + OTHERS, RINGS + OTHERS) == pytest.approx(1)
    assert mol.scaffold_similarity(RINGS, RINGS) == pytest.approx(1)
    assert mol.scaffold_similarity(RINGS[:2], RINGS[2:]) == pytest.approx(0)
    assert math.isnan(mol.scaffold_similarity(OTHERS, RINGS))  # acyclic: no scaffold with two rings
    assert cosine_similarity({"a": 1, "b": 1}, {"a": 1}) == pytest.approx(1 / math.sqrt(2))


def test_fcd_near_zero_with_itself_and_larger_against_another_set():
    a = RINGS + OTHERS
    assert abs(mol.fcd(a, a)) < 1e-4  # rank-deficient covariances: round-off only
    far_set = ["CCCCCCCCCCCCCCCC", "ClCCl", "BrCBr", "FC(F)F", "IC", "CS(C)=O", "O=S(=O)=O"]
    act = chemnet.activations(a + far_set)  # one ChemNet pass for the three sets
    base, near_set, far = act[:9], np.concatenate([act[:5], act[9 : len(a)]]), act[len(a) :]  # RINGS shared
    stats = [(x.mean(0), np.cov(x, rowvar=False)) for x in (base, near_set, far)]
    near_fcd, far_fcd = (chemnet.frechet_distance(*stats[0], *other) for other in stats[1:])
    assert 0 < near_fcd < far_fcd


def test_chemnet_loads_weights_only(monkeypatch):
    calls = []
    load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(k) or load(*a, **k))
    chemnet.chemnet.cache_clear()
    try:
        act = chemnet.activations(["CCO", "c1ccccc1"])
    finally:
        chemnet.chemnet.cache_clear()
    assert calls and all(k.get("weights_only") is True for k in calls)
    assert act.shape == (2, 512) and np.isfinite(act).all()
    assert chemnet.frechet_distance(np.zeros(2), np.eye(2), np.ones(2), 4 * np.eye(2)) == pytest.approx(4)


def test_all_metrics_and_reference_cache(tmp_path):
    ref_smiles = [mol.canonical_smiles(s) for s in RINGS + OTHERS]
    ref = mol.reference_stats(ref_smiles, "hand-made")
    cached = list((tmp_path / "cache" / "reference").glob("*.npz"))
    assert len(cached) == 1
    again = mol.ReferenceStats.load(cached[0])
    assert (again.fingerprints == ref.fingerprints).all() and again.fragments == ref.fragments
    assert np.allclose(again.fcd_sigma, ref.fcd_sigma) and again.properties.keys() == ref.properties.keys()
    gen = ref_smiles + ["C1CC", "not a molecule"]
    m = mol.all_metrics(gen, ref, train=ref_smiles[:3], k=(5, 1000))
    assert m["n_generated"] == 15 and m["n_valid"] == 13 and m["valid"] == pytest.approx(13 / 15)
    assert m["unique@5"] == 1 and m["unique@1000"] == 1
    assert m["SNN/Test"] == pytest.approx(1) and m["Frag/Test"] == pytest.approx(1)
    assert m["Scaf/Test"] == pytest.approx(1)
    assert abs(m["FCD/Test"]) < 1e-4 and m["Novelty"] == pytest.approx(10 / 13)
    assert m["QED"] == pytest.approx(0, abs=1e-9) and m["logP"] == pytest.approx(0, abs=1e-9)
    mol.write_metrics_json(tmp_path / "m.json", m | {"Scaf/TestSF": math.nan})
    written = json.loads((tmp_path / "m.json").read_text())
    assert written["Scaf/TestSF"] is None and written["valid"] == pytest.approx(13 / 15)


def test_properties_match_known_values():
    assert mol.qed(ASPIRIN) == pytest.approx(0.550, abs=1e-3)
    assert mol.logp(ASPIRIN) == pytest.approx(1.310, abs=1e-3)
    assert mol.molecular_weight(ASPIRIN) == pytest.approx(180.159, abs=1e-3)
    assert mol.sa_score(ASPIRIN) == pytest.approx(1.580, abs=1e-3)
    assert mol.logp("c1ccccc1") == pytest.approx(1.687, abs=1e-3)
    assert mol.molecular_weight("c1ccccc1") == pytest.approx(78.114, abs=1e-3)
    assert mol.qed("c1ccccc1") == pytest.approx(0.443, abs=1e-3)
    with pytest.raises(ValueError, match="invalid SMILES"):
        mol.qed("C1CC")


def test_features_in_processes_equal_features_in_one(monkeypatch):
    from vaekit.molecules import metrics

    smiles = [mol.canonical_smiles(s) for s in RINGS + OTHERS] * 3
    monkeypatch.setattr(metrics, "PARALLEL_FROM", 10)
    monkeypatch.setattr(metrics, "_CHUNK", 7)  # several chunks, the last one short
    fps, frag, scaf, props = metrics._features(smiles, workers=2)
    one = metrics._features(smiles, workers=1)
    assert (fps == one[0]).all() and len(fps) == len(smiles) and frag == one[1] and scaf == one[2]
    assert all(np.array_equal(props[k], one[3][k]) for k in props) and len(props["QED"]) == len(smiles)
    assert (fps == metrics.fingerprints(smiles)).all()


@pytest.mark.parametrize("int8", [True, False])
def test_fingerprint_intersections_are_exact_either_way(monkeypatch, int8):
    from vaekit.molecules import metrics

    monkeypatch.setattr(metrics, "_int8_is_faster", lambda: int8)
    g = torch.Generator().manual_seed(0)
    for m, n in [(3, 5), (17, 9), (40, 64)]:  # fewer rows than int8 products take, sizes not multiples of 8
        a = (torch.rand(m, 1024, generator=g) < 0.3).to(torch.uint8)
        b = (torch.rand(n, 1024, generator=g) < 0.3).to(torch.uint8)
        expected = (a.long() @ b.long().T).float()
        assert torch.equal(metrics._intersections(a, b), expected)
    fps = metrics.fingerprints([mol.canonical_smiles(s) for s in RINGS + OTHERS])
    assert metrics.internal_diversity(fps) == pytest.approx(1 - metrics._tanimoto_agg(fps, fps, "mean").mean())


def test_two_empty_fingerprints_are_identical():
    from vaekit.molecules import metrics

    fps = np.zeros((3, 1024), dtype=np.uint8)
    fps[1, :10] = 1
    assert metrics._tanimoto_agg(fps[:2], fps[[0]], "max")[0] == 1.0  # the empty one matches the empty one
    assert metrics._tanimoto_agg(fps[1:2], fps[[0]], "max")[0] == 0.0
    assert metrics._tanimoto_agg(fps[1:2], fps[[1]], "max")[0] == 1.0
