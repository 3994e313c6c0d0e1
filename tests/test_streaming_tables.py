"""Tables larger than memory (vaekit.data.stream_tables): a CSV/TSV/Parquet read in chunks into a cached float32 .npy
gives the in-memory loader's schema, rows and labels, trains the in-memory run's weights, reuses its cache only
while the file is unchanged, and says what is wrong in one line."""

import os

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

import vaekit
from vaekit.cli import app
from vaekit.data import ReadOptions, load_dataset, stream_tables
from vaekit.data.streaming import is_streamed
from vaekit.errors import DataError
from vaekit.training.loop import Callback

STREAM = ReadOptions(stream=True)
TINY = {"epochs": 2, "hidden": (16,), "latent_dim": 3, "progress": False, "seed": 3, "batch_size": 32}


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """A cache folder of the test's own."""
    monkeypatch.setenv("VAEKIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "tables"


def _frame(n=300, seed=0):
    """Numeric and categorical columns, missing cells, a label."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "age": rng.normal(40, 12, n).round(2),
            "city": rng.choice(["Berlin", "Paris", "Rome", "Oslo"], n),
            "smoker": rng.choice([True, False], n).astype(object),
            "visits": rng.integers(0, 6, n),
            "income": rng.lognormal(10, 1, n),
            "diagnosis": rng.choice(["flu", "cold", "none"], n),
        }
    )
    frame.loc[rng.random(n) < 0.1, "age"] = np.nan
    frame.loc[rng.random(n) < 0.1, "city"] = None
    frame.loc[rng.random(n) < 0.05, "smoker"] = None
    return frame


@pytest.fixture
def tables(tmp_path):
    frame = _frame()
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_csv(tmp_path / "t.tsv", index=False, sep="\t")
    frame.to_parquet(tmp_path / "t.parquet")
    return tmp_path


def _same_data(a, b):
    assert a.schema == b.schema
    assert is_streamed(b.splits["all"]) and not is_streamed(a.splits["all"])
    x, y = a.splits["all"], b.splits["all"][0 : len(b.splits["all"])]
    assert x.shape == y.shape and torch.equal(x.isnan(), y.isnan())
    assert torch.equal(x.nan_to_num(-7.0), y.nan_to_num(-7.0))  # bit for bit
    assert a.labels.keys() == b.labels.keys() and all(torch.equal(a.labels[k], b.labels[k]) for k in a.labels)


@pytest.mark.parametrize("name", ["t.csv", "t.tsv", "t.parquet"])
@pytest.mark.parametrize(
    "options",
    [{}, {"label_column": "diagnosis", "categorical": ["visits"]}, {"numeric": ["smoker"]}],
    ids=["inferred", "label+categorical", "numeric"],
)
def test_a_streamed_table_has_the_schema_rows_and_labels_of_the_table_in_memory(tables, name, options):
    _same_data(load_dataset(tables / name, **options), load_dataset(tables / name, read=STREAM, **options))


def test_small_chunks_read_the_table_as_a_whole(tmp_path, monkeypatch):
    """A column whose chunks differ reads as the whole table does: numbers in one chunk and text in another are text
    (sorted as text); booleans with missing cells; an integer label beside a float one."""
    n = 40
    frame = pd.DataFrame(
        {
            "code": [str(10 - i % 3) for i in range(n - 2)] + ["a", "9.0"],  # "10", "9", "8"... then text: all text
            "ok": [True, False] * 10 + [None] * 10 + [False, True] * 5,  # a whole chunk missing
            "x": np.arange(n, dtype=float) / 3,
            "late": [None] * 30 + list(range(10)),  # missing, then integers
            "y": [1, 2] * 15 + [1.5] * 10,  # integers, then floats: float labels "1.0", "1.5", "2.0"
        }
    )
    frame.to_csv(tmp_path / "m.csv", index=False)
    whole = load_dataset(tmp_path / "m.csv", label_column="y")
    assert whole.schema.categories["code"] == ("10", "8", "9", "9.0", "a")
    assert whole.schema.label_names == ("1.0", "1.5", "2.0")
    for rows in (1, 7, 16, 1000):  # the chunk size is honoured, and does not change what is read
        monkeypatch.setattr(stream_tables, "CHUNK_VALUES", rows * 4)
        sizes = [len(c) for c in stream_tables._chunks(tmp_path / "m.csv", rows)]
        assert max(sizes) == min(rows, n) and sum(sizes) == n
        _same_data(whole, stream_tables.stream_table(tmp_path / "m.csv", label_column="y", chunk_rows=rows))


def _same_weights(a, b):
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


@pytest.mark.parametrize("name", ["t.csv", "t.parquet"])
def test_a_streamed_table_trains_the_model_the_table_in_memory_trains(tmp_path, tables, name, monkeypatch):
    monkeypatch.setattr("vaekit.data.streaming.CHUNK_BYTES", 6 * 4 * 37)  # statistics merged over chunks of 37 rows
    data = str(tables / name)
    memory = vaekit.train(data, out=tmp_path / "memory", label_column="diagnosis", **TINY)
    streamed = vaekit.train(data, out=tmp_path / "stream", label_column="diagnosis", stream=True, workers=0, **TINY)
    assert streamed.schema == memory.schema
    torch.testing.assert_close(streamed.shift, memory.shift, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(streamed.scale, memory.scale, rtol=1e-6, atol=1e-6)
    _same_weights(tmp_path / "memory", tmp_path / "stream")
    assert [r["val_elbo"] for r in memory.history] == [r["val_elbo"] for r in streamed.history]


def test_the_cache_is_reused_and_a_changed_table_is_read_again(tmp_path, cache, monkeypatch):
    path = tmp_path / "c.csv"
    _frame(100, seed=1).to_csv(path, index=False)
    first = load_dataset(path, read=STREAM)
    made = sorted(p.name for p in cache.iterdir())
    assert len(made) == 2 and any(p.endswith(".json") for p in made)  # the rows and the schema
    with monkeypatch.context() as m:
        m.setattr(stream_tables, "_build", lambda *a: pytest.fail("encoded again"))
        again = load_dataset(path, read=STREAM)
    assert torch.equal(again.splits["all"][0:100].nan_to_num(), first.splits["all"][0:100].nan_to_num())
    st = path.stat()
    _frame(100, seed=2).to_csv(path, index=False)  # another table, same size and time
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    changed = load_dataset(path, read=STREAM)
    _same_data(load_dataset(path), changed)
    assert len(list(cache.iterdir())) == 2  # the old version's entry was removed
    (cache / next(p for p in made if p.endswith(".npy"))).write_bytes(b"")  # a damaged entry is made again
    for p in cache.iterdir():
        if p.suffix == ".npy":
            p.write_bytes(b"\x93NUMPY damaged")
    _same_data(load_dataset(path), load_dataset(path, read=STREAM))


def test_a_large_table_streams_without_being_asked(tmp_path, tables, monkeypatch):
    said = []

    class Listen(Callback):
        def on_message(self, text):
            said.append(text)

    size = (tables / "t.csv").stat().st_size
    monkeypatch.setattr("vaekit.training.run.available_memory", lambda: 4 * size - 1)
    model = vaekit.train(str(tables / "t.csv"), callbacks=[Listen()], **{**TINY, "epochs": 1})
    assert any("table" in s and "batch by batch (--stream)" in s for s in said)
    assert model.run_config["training"]["options"]["stream"] is None  # chosen, not recorded as asked
    said.clear()
    vaekit.train(str(tables / "t.csv"), callbacks=[Listen()], stream=False, **{**TINY, "epochs": 1})
    assert not any("--stream" in s for s in said)


def _one_line(e):
    assert "\n" not in str(e.value) and "Traceback" not in str(e.value)


def test_what_cannot_be_streamed_is_one_line(tmp_path, tables, cache):
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("a,b\n")
    (tmp_path / "text.csv").write_text("a,b\n1,2\n3,x\n")
    (tmp_path / "x.txt").write_text("1 2\n")
    cases = [
        (tmp_path / "bad.parquet", {}, "cannot read table"),
        (tmp_path / "empty.csv", {}, "is empty"),
        (tmp_path / "header.csv", {}, "is empty"),
        (tmp_path / "text.csv", {"numeric": ["b"]}, r"numeric but holds 'x' \(row 2\)"),
        (tmp_path / "x.txt", {}, "--stream reads a .npy array"),
        (tables / "t.csv", {"label_column": "nope"}, "label column 'nope' not found"),
        (tables / "t.csv", {"categorical": ["nope"]}, "--categorical names column"),
        (tables / "t.csv", {"image_size": 8}, "--image-size applies to images"),
    ]
    for path, options, message in cases:
        with pytest.raises(DataError, match=message) as e:
            load_dataset(path, read=STREAM, **options)
        _one_line(e)
        with pytest.raises(DataError, match=message):  # the same refusal as in memory
            if "--stream" not in message:
                load_dataset(path, **options)
            else:
                raise DataError(message.replace("\\", ""))
    with pytest.raises(DataError, match="cannot be conditioned") as e:
        vaekit.train(str(tables / "t.csv"), stream=True, condition="diagnosis", **TINY)
    _one_line(e)
    result = CliRunner().invoke(
        app, ["train", str(tmp_path / "bad.parquet"), "--out", str(tmp_path / "r"), "--stream", "--quiet"]
    )
    assert result.exit_code == 2 and "cannot read table" in result.output and "Traceback" not in result.output


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_table_or_cache_is_one_line(tmp_path, tables, monkeypatch):
    locked = tmp_path / "locked.csv"
    locked.write_text("a\n1\n")
    locked.chmod(0)
    with pytest.raises(DataError, match="cannot read table") as e:
        load_dataset(locked, read=STREAM)
    _one_line(e)
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o500)
    monkeypatch.setenv("VAEKIT_CACHE", str(tmp_path / "ro"))
    with pytest.raises(DataError, match="cannot write the table cache") as e:
        load_dataset(tables / "t.csv", read=STREAM)
    _one_line(e)
