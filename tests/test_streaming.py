"""Data larger than memory (vaekit.data.streaming): a .npy array or a folder of images read from disk batch by batch
trains exactly the model the same data trains in memory, and bad rows or options are one clear line."""

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from typer.testing import CliRunner

import vaekit
from vaekit.cli import app
from vaekit.data import ReadOptions, load_dataset, streaming
from vaekit.errors import DataError, VaekitError
from vaekit.training.loop import Callback

STREAM = ReadOptions(stream=True)
TINY = {"epochs": 2, "hidden": (32,), "latent_dim": 4, "progress": False, "seed": 3, "batch_size": 32}


def _same_weights(a, b):
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


@pytest.fixture(scope="module")
def digits(tmp_path_factory, mnist):
    """300 MNIST digits as a uint8 (N, 28, 28) .npy."""
    path = tmp_path_factory.mktemp("stream") / "digits.npy"
    np.save(path, (mnist.splits["train"][:300, 0].numpy() * 255).round().astype(np.uint8))
    return path


@pytest.mark.parametrize("workers", [0, 2])
def test_a_streamed_array_trains_the_model_the_array_in_memory_trains(tmp_path, digits, workers):
    memory = vaekit.train(str(digits), out=tmp_path / "memory", **TINY)
    streamed = vaekit.train(str(digits), out=tmp_path / "stream", stream=True, workers=workers, **TINY)
    _same_weights(tmp_path / "memory", tmp_path / "stream")
    assert [r["elbo"] for r in memory.history] == [r["elbo"] for r in streamed.history]
    assert [r["val_elbo"] for r in memory.history] == [r["val_elbo"] for r in streamed.history]


def test_a_streamed_run_resumes_as_an_uninterrupted_one(tmp_path, digits):
    vaekit.train(str(digits), out=tmp_path / "whole", **{**TINY, "epochs": 3})
    vaekit.train(str(digits), out=tmp_path / "resumed", stream=True, **{**TINY, "epochs": 1})
    vaekit.train(str(digits), out=tmp_path / "resumed", resume=True, stream=True, **{**TINY, "epochs": 3})
    _same_weights(tmp_path / "whole", tmp_path / "resumed")


def test_standardization_statistics_merge_over_chunks(tmp_path, monkeypatch):
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(500, 7)).astype(np.float32)
    x[:, 2] *= 1e3
    np.save(tmp_path / "v.npy", x)
    memory = vaekit.train(str(tmp_path / "v.npy"), epochs=1, progress=False, seed=0)
    monkeypatch.setattr(streaming, "CHUNK_BYTES", 7 * 4 * 37)  # 37 rows a chunk: 14 merges
    streamed = vaekit.train(str(tmp_path / "v.npy"), epochs=1, progress=False, seed=0, stream=True)
    assert memory.config.likelihood.__class__ is streamed.config.likelihood.__class__
    torch.testing.assert_close(streamed.shift, memory.shift, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(streamed.scale, memory.scale, rtol=1e-6, atol=1e-6)


def test_rows_read_slices_and_select_views(digits):
    data = load_dataset(digits, read=STREAM)
    rows, whole = data.splits["all"], load_dataset(digits).splits["all"]
    assert streaming.is_streamed(rows) and rows.shape == whole.shape and data.schema.shape == (1, 28, 28)
    assert torch.equal(rows[10:20], whole[10:20])
    view = rows[torch.tensor([5, 3, 5, 299])]  # a view: nothing read yet
    assert streaming.is_streamed(view) and len(view) == 4
    assert torch.equal(view[:], whole[[5, 3, 5, 299]])
    assert torch.equal(view.take([3, 0]), whole[[299, 5]])
    chunks = list(rows.chunks(64))
    assert [len(c) for c in chunks] == [64, 64, 64, 64, 44] and torch.equal(torch.cat(chunks), whole)
    order = torch.randperm(300, generator=torch.Generator().manual_seed(0))
    for workers in (0, 2):
        got = list(streaming.batches(rows, order, 128, workers=workers))
        assert [len(b) for b in got] == [128, 128, 44]
        assert torch.equal(torch.cat(got), whole[order])


def test_batches_are_read_a_group_at_a_time_ahead_of_use(digits, monkeypatch):
    rows, whole = load_dataset(digits, read=STREAM).splits["all"], load_dataset(digits).splits["all"]
    assert streaming.default_workers(rows) == 0  # a .npy: a thread of this process reads ahead
    order = streaming.block_order(300, torch.Generator().manual_seed(1))
    reads = []
    real_read = streaming.NpyReader.read
    monkeypatch.setattr(streaming.NpyReader, "read", lambda self, r: reads.append(len(r)) or real_read(self, r))
    monkeypatch.setattr(streaming, "GROUP_ROWS", 100)  # two batches of 50 per read
    got = list(streaming.batches(rows, order, 50, workers=0))
    assert [len(b) for b in got] == [50] * 6 and torch.equal(torch.cat(got), whole[order])
    assert reads == [100, 100, 100]
    feed = streaming.batches(rows, order, 50, workers=0)
    assert torch.equal(next(feed), whole[order[:50]])
    feed.close()  # stopped early (a time limit): the read-ahead thread ends, nothing hangs
    monkeypatch.setattr(streaming, "GROUP_BYTES", 4 * 784 * 60)  # at most 60 samples read at once: one batch
    reads.clear()
    assert torch.equal(torch.cat(list(streaming.batches(rows, order, 50, workers=0))), whole[order])
    assert reads == [50] * 6


def test_layouts_and_float_images_stream_as_they_load(tmp_path):
    rng = np.random.default_rng(1)
    for name, x in {
        "nhwc": rng.integers(0, 256, (20, 6, 5, 3), dtype=np.uint8),
        "nchw": rng.random((20, 3, 6, 5), dtype=np.float32),
        "vec": rng.normal(size=(20, 4)),
    }.items():
        np.save(tmp_path / f"{name}.npy", x)
        a, b = load_dataset(tmp_path / f"{name}.npy"), load_dataset(tmp_path / f"{name}.npy", read=STREAM)
        assert a.schema == b.schema
        assert torch.equal(a.splits["all"], b.splits["all"][0:20])


def test_a_folder_of_images_streams_with_its_labels(tmp_path):
    rng = np.random.default_rng(2)
    for cls in ("cat", "dog"):
        (tmp_path / "pics" / cls).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(rng.integers(0, 256, (9, 7, 3), dtype=np.uint8)).save(tmp_path / "pics" / cls / f"{i}.png")
    a = load_dataset(tmp_path / "pics", image_size=8)
    b = load_dataset(tmp_path / "pics", image_size=8, read=STREAM)
    assert a.schema == b.schema and torch.equal(a.labels["all"], b.labels["all"])
    assert torch.equal(a.splits["all"], b.splits["all"][0:12])
    m = vaekit.train(str(tmp_path / "pics"), out=tmp_path / "m", image_size=8, stream=True, condition="label", **TINY)
    assert m.schema.condition.names == ("label",)


def test_a_large_npy_streams_without_being_asked(tmp_path, digits, monkeypatch):
    said = []

    class Listen(Callback):
        def on_message(self, text):
            said.append(text)

    monkeypatch.setattr("vaekit.training.run.available_memory", lambda: 2 * 300 * 784 * 4 - 1)
    memory = vaekit.train(str(digits), **{**TINY, "epochs": 1})
    streamed = vaekit.train(str(digits), callbacks=[Listen()], **{**TINY, "epochs": 1})
    assert any("batch by batch (--stream)" in s for s in said)
    assert memory.history[0]["elbo"] == streamed.history[0]["elbo"]
    said.clear()
    vaekit.train(str(digits), callbacks=[Listen()], stream=False, **{**TINY, "epochs": 1})
    assert not any("--stream" in s for s in said)


def test_bad_streamed_data_is_one_line(tmp_path, digits):
    raw = digits.read_bytes()
    (tmp_path / "cut.npy").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="truncated"):
        load_dataset(tmp_path / "cut.npy", read=STREAM)
    np.save(tmp_path / "f.npy", np.asfortranarray(np.zeros((10, 4, 4), dtype=np.uint8)))
    with pytest.raises(DataError, match="Fortran order"):
        load_dataset(tmp_path / "f.npy", read=STREAM)
    with pytest.raises(DataError, match="held in memory"):
        load_dataset("mnist", read=STREAM)
    np.savez(tmp_path / "z.npz", x=np.zeros((10, 4)))
    with pytest.raises(DataError, match="--stream reads a .npy array"):
        load_dataset(tmp_path / "z.npz", read=STREAM)
    bad = np.random.default_rng(0).random((200, 5, 5), dtype=np.float32)
    bad[137, 2, 2] = 1.5  # an image value beyond [0, 1]: found when its batch is read
    np.save(tmp_path / "bad.npy", bad)
    with pytest.raises(DataError, match="row 137 is out of range"):
        vaekit.train(str(tmp_path / "bad.npy"), stream=True, val_fraction=0, **TINY)
    with pytest.raises(VaekitError, match="static needs the data in memory"):
        vaekit.train(str(digits), stream=True, binarize="static", **TINY)


def test_the_cli_streams(tmp_path, digits):
    result = CliRunner().invoke(
        app,
        [
            "train",
            str(digits),
            "--out",
            str(tmp_path / "r"),
            "--stream",
            "--workers",
            "1",
            "--epochs",
            "1",
            "--latent-dim",
            "2",
            "--quiet",
        ],  # fmt: skip
    )
    assert result.exit_code == 0, result.output
    assert vaekit.load(tmp_path / "r").run_config["training"]["options"]["stream"] is True
    result = CliRunner().invoke(app, ["train", "mnist", "--out", str(tmp_path / "s"), "--stream", "--quiet"])
    assert result.exit_code == 2 and "held in memory" in result.output


def test_the_block_order_is_a_permutation_of_runs(tmp_path, digits):
    order = streaming.block_order(1000, torch.Generator().manual_seed(0))
    assert sorted(order.tolist()) == list(range(1000))
    window = order[: streaming.BLOCK * streaming.WINDOW]  # the first window: whole runs of 64 rows
    assert len(set((window // streaming.BLOCK).tolist())) == streaming.WINDOW
    assert not torch.equal(window, window.sort().values)  # shuffled within the window
    a = vaekit.train(str(digits), stream=True, shuffle="blocks", **TINY)
    b = vaekit.train(str(digits), stream=True, shuffle="blocks", **TINY)
    assert a.history[-1]["elbo"] == b.history[-1]["elbo"]  # deterministic
    assert a.history[-1]["elbo"] != vaekit.train(str(digits), stream=True, **TINY).history[-1]["elbo"]
    with pytest.raises(VaekitError, match="--shuffle blocks applies to streamed data"):
        vaekit.train(str(digits), shuffle="blocks", **TINY)
