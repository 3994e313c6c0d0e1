"""Time series data: the .ts parser, the UCR/UEA files of the sktime wheel, wide and long CSV/Parquet tables,
NaN padding of variable lengths and a trained model's schema."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from vaekit.data.schema import Schema
from vaekit.data.series import is_series_spec, load_series, pad_series, parse_ts, ucr_names
from vaekit.errors import DataError

UNIVARIATE = """# a comment
% another comment
@problemName Tiny
@timeStamps false
@missing true
@univariate true
@equalLength false
@classLabel true up down

@data
1,2,3,4:up
5,?,7:down
8,9:up
"""

MULTIVARIATE = """@problemName Tiny2
@univariate false
@dimensions 2
@classLabel true a b c
@data
1,2,3:10,20,30:c
4,5:40,50,60,70:a
"""


def test_parse_univariate_with_missing_values_and_variable_length() -> None:
    ts = parse_ts(UNIVARIATE)
    assert ts.name == "Tiny" and ts.class_names == ("up", "down") and ts.classes == ["up", "down", "up"]
    assert [s.shape for s in ts.series] == [(4, 1), (3, 1), (2, 1)]
    assert np.isnan(ts.series[1][1, 0]) and ts.series[1][2, 0] == 7
    x = pad_series(ts.series)
    assert x.dtype == np.float32 and x.shape == (3, 4, 1)
    assert np.isnan(x[1, 3, 0]) and np.isnan(x[2, 2:, 0]).all() and x[0, :, 0].tolist() == [1, 2, 3, 4]


def test_ts_file_as_dataset(tmp_path) -> None:
    (tmp_path / "tiny.ts").write_text(MULTIVARIATE)
    data = load_series(tmp_path / "tiny.ts")
    x = data.splits["all"]
    assert x.dtype == torch.float32 and x.shape == (2, 4, 2)
    assert x[0, :3].tolist() == [[1, 10], [2, 20], [3, 30]] and torch.isnan(x[0, 3]).all()
    assert x[1, :, 1].tolist() == [40, 50, 60, 70] and torch.isnan(x[1, 2:, 0]).all()  # channels of unequal length
    assert data.schema.kind == "series" and data.schema.shape == (4, 2) and data.schema.columns is None
    assert data.schema.label_names == ("a", "b", "c") and data.labels["all"].tolist() == [2, 0]
    assert data.labels["all"].dtype == torch.int64 and data.train_split == "all"
    # a _TRAIN file with its _TEST beside it keeps the published split
    (tmp_path / "Tiny_TRAIN.ts").write_text(UNIVARIATE)
    (tmp_path / "Tiny_TEST.ts").write_text(UNIVARIATE.replace("8,9:up", "8,9,10,11,12:down"))
    pair = load_series(tmp_path / "Tiny_TEST.ts")
    assert set(pair.splits) == {"train", "test"} and pair.splits["train"].shape == (3, 5, 1)
    assert pair.labels["test"].tolist() == [0, 1, 1] and pair.schema.label_names == ("up", "down")
    assert is_series_spec(tmp_path / "tiny.ts") and is_series_spec("ucr:GunPoint") and not is_series_spec("a.csv")


def test_regression_targets_become_an_attribute(tmp_path) -> None:
    (tmp_path / "r.ts").write_text("@problemName R\n@targetLabel true\n@data\n1,2,3:0.5\n4,5,6:1.5\n")
    data = load_series(tmp_path / "r.ts")
    assert data.splits["all"].shape == (2, 3, 1) and not data.labels and data.schema.label_names is None
    assert data.attribute_info.names == ("target",) and data.attribute_info.types == ("numeric",)
    assert data.attributes["all"].tolist() == [[0.5], [1.5]]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("@problemName X\n1,2,3\n", "no @data line|expected a @tag"),
        ("@problemName X\n@data\n", "holds no series"),
        ("@classLabel true a b\n@data\n1,x,3:a\n", "line 3: 'x' is not a number"),
        ("@classLabel true a b\n@data\n1,2,3:z\n", "class 'z' is not among"),
        ("@classLabel true a b\n@data\n1,2,3\n", "line 3: expected the values"),
        ("@dimensions 2\n@classLabel false\n@data\n1,2,3\n", "1 channels, but the header declares @dimensions 2"),
        ("@classLabel false\n@data\n1,2:3,4\n5,6\n", "series with 1 and 2 channels"),
        ("@timeStamps true\n@data\n(0,1),(1,2)\n", "timestamps"),
        ("@classLabel maybe\n@data\n1:1\n", "expected true or false"),
        ("@targetLabel true\n@data\n1,2:high\n", "target 'high' is not a number"),
    ],
)
def test_bad_ts_text_is_one_line_error(text, message) -> None:
    with pytest.raises(DataError, match=message) as e:
        parse_ts(text, "bad.ts")
    assert "\n" not in str(e.value)


# --- the UCR/UEA files of sktime ------------------------------------------------------------------------------

PUBLISHED = {  # name: (train, test, length, channels, classes)
    "GunPoint": (50, 150, 150, 1, 2),
    "ArrowHead": (36, 175, 251, 1, 3),
    "BasicMotions": (40, 40, 100, 6, 4),
    "ItalyPowerDemand": (67, 1029, 24, 1, 2),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_ucr_datasets_have_the_published_sizes(name) -> None:
    if importlib.util.find_spec("sktime") is None:
        pytest.skip("sktime is not installed (pip install --no-deps sktime)")
    train, test, length, channels, classes = PUBLISHED[name]
    data = load_series(f"ucr:{name.lower()}")
    assert data.splits["train"].shape == (train, length, channels)
    assert data.splits["test"].shape == (test, length, channels)
    assert not any(torch.isnan(x).any() for x in data.splits.values())
    assert len(data.schema.label_names) == classes and data.schema.source == f"ucr:{name}"
    assert set(data.labels["train"].tolist()) == set(range(classes)) and data.labels["test"].shape == (test,)
    assert "sktime" not in sys.modules  # located, never imported


def test_ucr_names_and_errors(monkeypatch) -> None:
    if importlib.util.find_spec("sktime") is None:
        pytest.skip("sktime is not installed (pip install --no-deps sktime)")
    names = ucr_names()
    assert set(PUBLISHED) <= set(names)
    with pytest.raises(DataError, match="unknown UCR/UEA dataset 'Nope': the installed sktime ships .*GunPoint"):
        load_series("ucr:Nope")
    motions = load_series("ucr:BasicMotions")
    assert motions.schema.label_names == ("Standing", "Running", "Walking", "Badminton")  # the header's order
    with pytest.raises(DataError, match="6 channels but the model was trained on 1"):
        load_series("ucr:BasicMotions", schema=Schema("series", (100, 1)))
    with pytest.raises(DataError, match="apply to tables"):
        load_series("ucr:GunPoint", label_column="y")
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "sktime" else find_spec(n, *a))
    with pytest.raises(DataError, match=r"pip install --no-deps sktime"):
        load_series("ucr:GunPoint")


# --- tables ---------------------------------------------------------------------------------------------------


def _write(frame: pd.DataFrame, path) -> None:
    if str(path).endswith(".parquet"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_wide_tables_with_variable_lengths(tmp_path, suffix) -> None:
    frame = pd.DataFrame(
        {"t0": [1.0, 5.0, 9.0], "t1": [2.0, np.nan, 10.0], "t2": [3.0, 7.0, np.nan], "t3": [4.0, np.nan, np.nan],
         "label": ["b", "a", "b"]}
    )  # fmt: skip
    path = tmp_path / f"wide{suffix}"
    _write(frame, path)
    data = load_series(path, label_column="label")
    x = data.splits["all"]
    assert x.shape == (3, 4, 1) and data.schema.shape == (4, 1) and data.schema.kind == "series"
    assert x[0, :, 0].tolist() == [1, 2, 3, 4]
    assert torch.isnan(x[1, 1, 0]) and x[1, 2, 0] == 7 and torch.isnan(x[1, 3, 0])  # inside: missing; end: padding
    assert x[2, :2, 0].tolist() == [9, 10] and torch.isnan(x[2, 2:, 0]).all()
    assert data.schema.label_names == ("a", "b") and data.labels["all"].tolist() == [1, 0, 1]
    _write(frame.drop(columns=["label"]), path.with_name("steps" + suffix))
    unlabelled = load_series(path.with_name("steps" + suffix))
    assert torch.equal(unlabelled.splits["all"].nan_to_num(-1), x.nan_to_num(-1)) and not unlabelled.labels
    padded = load_series(path, label_column="label", schema=Schema("series", (6, 1), label_names=("b", "a")))
    assert padded.splits["all"].shape == (3, 6, 1) and torch.isnan(padded.splits["all"][:, 4:]).all()
    assert padded.labels["all"].tolist() == [0, 1, 0]  # the model's class order
    with pytest.raises(DataError, match="up to 4 steps but the model was trained on at most 3"):
        load_series(path, label_column="label", schema=Schema("series", (3, 1)))
    with pytest.raises(DataError, match="column 'label' .* must be numbers"):
        load_series(path)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_long_tables_order_by_time_and_pad(tmp_path, suffix) -> None:
    rows = [  # id, time, two channels, label; rows shuffled, series of lengths 3 and 2
        ("s2", 1, 20.0, 0.2, 1),
        ("s1", 2, 3.0, 0.03, 0),
        ("s1", 0, 1.0, 0.01, 0),
        ("s2", 0, 10.0, 0.1, 1),
        ("s1", 1, 2.0, np.nan, 0),
    ]
    frame = pd.DataFrame(rows, columns=["id", "time", "a", "b", "y"])
    path = tmp_path / f"long{suffix}"
    _write(frame, path)
    data = load_series(path, id_column="id", time_column="time", label_column="y")
    x = data.splits["all"]
    assert x.shape == (2, 3, 2) and data.schema.columns == ("a", "b") and data.schema.shape == (3, 2)
    s2, s1 = x[0], x[1]  # series in order of their id's first row
    assert s2[:2, 0].tolist() == [10, 20] and torch.isnan(s2[2]).all()
    assert s1[:, 0].tolist() == [1, 2, 3] and torch.isnan(s1[1, 1]) and np.isclose(float(s1[2, 1]), 0.03)
    assert data.labels["all"].tolist() == [1, 0] and data.schema.label_names == ("0", "1")
    by_rows = load_series(path, id_column="id")  # no time column: row order; y is a channel
    assert by_rows.schema.columns == ("time", "a", "b", "y") and by_rows.splits["all"][0, :, 1].tolist()[:2] == [20, 10]
    swapped = Schema("series", (4, 2), columns=("b", "a"))
    conformed = load_series(path, id_column="id", time_column="time", label_column="y", schema=swapped)
    assert conformed.splits["all"].shape == (2, 4, 2) and conformed.schema.columns == ("b", "a")
    assert conformed.splits["all"][1, :, 1].tolist()[:3] == [1, 2, 3]
    other = Schema("series", (4, 2), columns=("a", "c"))
    with pytest.raises(DataError, match="missing \\['c'\\]; unexpected \\['b'\\]"):
        load_series(path, id_column="id", time_column="time", label_column="y", schema=other)


def test_long_table_errors(tmp_path) -> None:
    path = tmp_path / "long.csv"
    pd.DataFrame({"id": [1, 1, 2], "time": [0, 0, 0], "v": [1.0, 2.0, 3.0], "y": ["a", "b", "a"]}).to_csv(
        path, index=False
    )
    with pytest.raises(DataError, match="two rows for id 1 at time 0"):
        load_series(path, id_column="id", time_column="time", label_column="y")
    with pytest.raises(DataError, match="holds str values: series values must be numbers"):
        load_series(path, id_column="id", time_column="time")
    with pytest.raises(DataError, match="has both 'a' and 'b' for one series"):
        load_series(path, id_column="id", label_column="y")
    with pytest.raises(DataError, match="id column 'ident' not found"):
        load_series(path, id_column="ident")
    with pytest.raises(DataError, match="name the id column"):
        load_series(path, time_column="time")
    with pytest.raises(DataError, match="trained on image"):
        load_series(path, id_column="id", label_column="y", schema=Schema("image", (1, 4, 4)))
    with pytest.raises(DataError, match="not a time series file"):
        load_series(tmp_path / "x.npy")
    with pytest.raises(DataError, match="no such file"):
        load_series(tmp_path / "missing.csv")
