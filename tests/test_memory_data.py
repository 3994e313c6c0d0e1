"""Data held in Python (numpy arrays, torch tensors, DataFrames, lists of SMILES) trains the same model, into the same
bundle, as the file holding it: vaekit.train(X) and vaekit.data.memory."""

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

import vaekit
from vaekit.data.memory import dataset_from_memory, is_smiles
from vaekit.errors import DataError, VaekitError

TINY = {"epochs": 1, "hidden": (16,), "latent_dim": 2, "progress": False, "seed": 3}


def _weights(run):
    return load_file(str(run / "model.safetensors"))


def _same_weights(a, b):
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


@pytest.mark.parametrize(
    ("shape", "layout"),
    [((40, 6), "vector"), ((40, 8, 8), "image"), ((40, 8, 8, 3), "image"), ((40, 3, 8, 8), "image")],
)
def test_an_array_trains_the_model_its_npy_file_trains(tmp_path, shape, layout):
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    from_file = vaekit.train(str(tmp_path / "x.npy"), out=tmp_path / "file", **TINY)
    from_memory = vaekit.train(x, out=tmp_path / "memory", **TINY)
    assert from_memory.schema.kind == from_file.schema.kind == layout
    assert from_memory.schema.shape == from_file.schema.shape
    _same_weights(tmp_path / "file", tmp_path / "memory")
    assert vaekit.load(tmp_path / "memory").run_config["training"]["data"] == "<in-memory>"


def test_a_tensor_and_a_list_read_as_the_array(tmp_path):
    x = np.random.default_rng(1).random((30, 5)).astype(np.float32)
    for name, data in (("array", x), ("tensor", torch.from_numpy(x)), ("list", x.tolist())):
        vaekit.train(data, out=tmp_path / name, **TINY)
    _same_weights(tmp_path / "array", tmp_path / "tensor")
    _same_weights(tmp_path / "array", tmp_path / "list")


def test_a_dataframe_trains_the_model_its_csv_trains(tmp_path):
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60), "kind": rng.choice(["x", "y"], 60)})
    frame.loc[3, "a"] = np.nan
    frame["label"] = rng.choice(["good", "bad"], 60)
    frame.to_csv(tmp_path / "t.csv", index=False)
    from_file = vaekit.train(str(tmp_path / "t.csv"), out=tmp_path / "file", label_column="label", **TINY)
    from_memory = vaekit.train(frame, out=tmp_path / "memory", label_column="label", **TINY)
    assert from_memory.schema.column_types == from_file.schema.column_types == ("numeric", "numeric", "categorical")
    assert from_memory.schema.label_names == from_file.schema.label_names
    _same_weights(tmp_path / "file", tmp_path / "memory")


def test_labels_by_keyword_condition_the_model(tmp_path):
    x = np.random.default_rng(3).random((40, 6, 6), dtype=np.float32)
    y = np.array(["cat", "dog"] * 20)
    model = vaekit.train(x, labels=y, condition="label", **TINY)
    assert model.condition.names == ("label",) and model.condition.categories["label"] == ("cat", "dog")
    assert model.sample(4, seed=0, condition={"label": "dog"}).shape == (4, 1, 6, 6)


def test_a_list_of_smiles_trains_a_molecule_model_like_its_file(tmp_path):
    pytest.importorskip("rdkit")
    smiles = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CCN(CC)CC", "OCC(O)CO", "CC(C)Cc1ccc(C)cc1"] * 5
    (tmp_path / "m.smi").write_text("\n".join(smiles) + "\n")
    options = {**TINY, "hidden": (16, 16), "latent_dim": 4, "properties": "none"}
    vaekit.train(str(tmp_path / "m.smi"), out=tmp_path / "file", preset="sequence", **options)
    model = vaekit.train(smiles, out=tmp_path / "memory", **options)  # preset "sequence" inferred
    assert model.schema.kind == "sequence"
    _same_weights(tmp_path / "file", tmp_path / "memory")
    assert is_smiles(pd.Series(smiles)) and is_smiles(np.array(smiles)) and not is_smiles(np.zeros(3))


@pytest.mark.parametrize(
    ("data", "options", "message"),
    [
        ([[1.0, 2.0], [3.0]], {}, "the array has rows of different lengths"),
        (np.zeros((5, 2, 3, 7, 2)), {}, "the array has shape (5, 2, 3, 7, 2): expected (N, D) features"),
        (np.zeros((0, 4)), {}, "empty array"),
        (np.zeros((6, 4)), {"labels": [0, 1]}, "the data has labels of shape (2,) for 6 samples"),
        (np.zeros((6, 4)), {"label_column": "y"}, "label_column, categorical and numeric apply to a DataFrame"),
        (torch.full((4, 3), float("nan")), {}, "the tensor"),
        (
            pd.DataFrame({"a": [1.0, 2.0], "y": [0, 1]}),
            {"labels": [0, 1], "label_column": "y"},
            "labels are given twice",
        ),
    ],
)
def test_bad_in_memory_data_is_one_clear_error(data, options, message):
    with pytest.raises(VaekitError) as e:
        vaekit.train(data, **{**TINY, **options})
    assert message in str(e.value) and "\n" not in str(e.value)


def test_labels_need_in_memory_data(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((4, 2), dtype=np.float32))
    with pytest.raises(VaekitError, match="labels= applies to data passed in memory"):
        vaekit.train(str(tmp_path / "x.npy"), labels=[0, 1, 0, 1], **TINY)


def test_a_model_reads_in_memory_data_with_its_schema():
    frame = pd.DataFrame({"b": [1.0, 2.0], "a": ["x", "y"]})
    model_schema = dataset_from_memory(pd.DataFrame({"a": ["y", "x"], "b": [0.0, 1.0]})).schema
    data = dataset_from_memory(frame, schema=model_schema)
    assert data.schema.columns == ("a", "b") and data.splits["all"][:, 1].tolist() == [1.0, 2.0]
    with pytest.raises(DataError, match="missing"):
        dataset_from_memory(frame[["b"]], schema=model_schema)
