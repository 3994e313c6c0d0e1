"""WebDataset-style tar shards (vaekit.data.shards): read as a folder of the same images reads, streamed or in memory
(the same weights bit for bit), named by a file, a folder or a brace pattern, and bad shards are one clear line."""

import gzip
import io
import pickle
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from typer.testing import CliRunner

import vaekit
from vaekit.cli import app
from vaekit.data import ReadOptions, canonical_spec, load_dataset, streaming
from vaekit.data import shards as shards_module
from vaekit.data.shards import expand_braces, is_shard_spec, write_shards
from vaekit.errors import DataError

STREAM = ReadOptions(stream=True)
TINY = {"epochs": 2, "hidden": (32,), "latent_dim": 4, "progress": False, "seed": 3, "batch_size": 32}
N = 200


@pytest.fixture(scope="module")
def digits(mnist):
    """200 MNIST digits, uint8 (N, 28, 28), and their labels."""
    x = (mnist.splits["train"][:N, 0].numpy() * 255).round().astype(np.uint8)
    return x, mnist.labels["train"][:N].numpy()


@pytest.fixture(scope="module")
def shards(tmp_path_factory, digits):
    """The digits in 4 shards of 64 (the last 8), with .cls labels."""
    folder = tmp_path_factory.mktemp("shards") / "digits"
    write_shards(*digits, folder, per_shard=64)
    return folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory, digits):
    """The same digits as an image folder with a subfolder per class."""
    root = tmp_path_factory.mktemp("folder") / "digits"
    for i, (x, y) in enumerate(zip(*digits, strict=True)):
        (root / str(y)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(x).save(root / str(y) / f"{i:06d}.png")
    return root


def _same_weights(a, b):
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def _tar(path, members):
    """A tar of (name, bytes) members."""
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _png(shape, mode=None, seed=0):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8), mode).save(buf, "PNG")
    return buf.getvalue()


def test_shards_load_as_the_same_images_in_a_folder_load(shards, folder, digits):
    a, b = load_dataset(shards), load_dataset(folder)
    assert sorted(p.name for p in shards.iterdir()) == [f"shard-00000{i}.tar" for i in range(4)]
    assert a.schema.shape == b.schema.shape == (1, 28, 28) and a.schema.label_names == b.schema.label_names
    # the folder reads class by class: its rows are the shards' rows in another order
    order = np.argsort(digits[1], kind="stable")
    assert torch.equal(a.splits["all"][order], b.splits["all"])
    assert torch.equal(a.labels["all"][order], b.labels["all"])
    assert torch.equal(a.labels["all"], torch.from_numpy(digits[1]).long())
    assert torch.equal(a.splits["all"][:, 0], torch.from_numpy(digits[0]).float() / 255)


def test_streamed_rows_are_the_rows_in_memory(shards):
    data, whole = load_dataset(shards, read=STREAM), load_dataset(shards).splits["all"]
    rows = data.splits["all"]
    assert streaming.is_streamed(rows) and rows.shape == whole.shape and len(data.labels["all"]) == N
    assert torch.equal(rows[60:70], whole[60:70])  # across a shard's end
    view = rows[torch.tensor([199, 3, 64, 3])]
    assert torch.equal(view[:], whole[[199, 3, 64, 3]])
    order = torch.randperm(N, generator=torch.Generator().manual_seed(0))
    for workers in (0, 2):  # read in this process, and in DataLoader processes (the reader crosses a fork)
        assert torch.equal(torch.cat(list(streaming.batches(rows, order, 64, workers=workers))), whole[order])
    copy = pickle.loads(pickle.dumps(rows.reader))  # its own handles
    assert torch.equal(torch.from_numpy(copy.read(np.array([0, 150]))), whole[[0, 150]])


def test_a_reader_keeps_few_shards_open(shards, monkeypatch):
    monkeypatch.setattr(shards_module, "OPEN_FILES", 1)
    rows, whole = load_dataset(shards, read=STREAM).splits["all"], load_dataset(shards).splits["all"]
    picks = [0, 70, 1, 199, 130, 2]  # back and forth between shards
    assert torch.equal(rows.take(picks), whole[picks])
    assert len(rows.reader._fds) == 1


def test_a_streamed_run_trains_the_model_the_shards_in_memory_and_the_folder_train(tmp_path, shards, folder):
    memory = vaekit.train(str(shards), out=tmp_path / "memory", **TINY)
    streamed = vaekit.train(str(shards), out=tmp_path / "stream", stream=True, **TINY)
    _same_weights(tmp_path / "memory", tmp_path / "stream")
    assert [r["val_elbo"] for r in memory.history] == [r["val_elbo"] for r in streamed.history]
    assert memory.schema.label_names == tuple(str(d) for d in range(10))
    conditional = vaekit.train(str(shards), stream=True, condition="label", **{**TINY, "epochs": 1})
    assert conditional.schema.condition.names == ("label",)


def test_brace_patterns_name_shards(shards, tmp_path):
    assert expand_braces("s-{0..2}.tar") == ["s-0.tar", "s-1.tar", "s-2.tar"]
    assert expand_braces("s-{008..010}.tar") == ["s-008.tar", "s-009.tar", "s-010.tar"]
    assert expand_braces("{a,b}-{1..0}.tar") == ["a-1.tar", "a-0.tar", "b-1.tar", "b-0.tar"]
    assert expand_braces("plain{x}.tar") == ["plain{x}.tar"]
    whole = load_dataset(shards)
    pattern = str(shards / "shard-{000000..000003}.tar")
    assert is_shard_spec(pattern) and not is_shard_spec(str(shards / "nothing.npy"))
    got = load_dataset(pattern)
    assert torch.equal(got.splits["all"], whole.splits["all"]) and got.schema.source == pattern
    some = load_dataset(str(shards / "shard-{000003,000000}.tar"), read=STREAM)  # in the pattern's order
    assert torch.equal(some.splits["all"][0:72], whole.splits["all"][np.r_[192:200, 0:64]])
    assert canonical_spec("shard-{000000..000003}.tar").startswith("/")
    with pytest.raises(DataError, match=r"names 6 files, 2 of which do not exist \(first: .*shard-000004.tar\)"):
        load_dataset(str(shards / "shard-{000000..000005}.tar"))
    single = load_dataset(shards / "shard-000001.tar")
    assert torch.equal(single.splits["all"], whole.splits["all"][64:128])


def test_compressed_shards_are_read_in_memory_and_refused_streamed(shards, tmp_path):
    (tmp_path / "gz").mkdir()
    for path in sorted(shards.iterdir()):
        (tmp_path / "gz" / f"{path.name}.gz").write_bytes(gzip.compress(path.read_bytes()))
    got = load_dataset(tmp_path / "gz")
    assert torch.equal(got.splits["all"], load_dataset(shards).splits["all"])
    with pytest.raises(DataError, match=r"shard-000000.tar.gz is compressed: --stream .* without --stream"):
        load_dataset(tmp_path / "gz", read=STREAM)


def test_images_are_gray_or_rgb_and_resized_as_in_a_folder(tmp_path):
    path = _tar(tmp_path / "mixed.tar", [("a.png", _png((6, 5))), ("b.png", _png((4, 4, 3), seed=1))])
    with pytest.raises(DataError, match=r"different sizes \(5×6 and 4×4, first in .*mixed.tar:b.png\).*--image-size"):
        load_dataset(path)
    (tmp_path / "pics").mkdir()
    Image.open(io.BytesIO(_png((6, 5)))).save(tmp_path / "pics" / "a.png")
    Image.open(io.BytesIO(_png((4, 4, 3), seed=1))).save(tmp_path / "pics" / "b.png")
    a, b = load_dataset(path, image_size=8), load_dataset(tmp_path / "pics", image_size=8)
    assert a.schema.shape == (3, 8, 8) and not a.labels and a.schema.label_names is None
    assert torch.equal(a.splits["all"], b.splits["all"])
    assert torch.equal(load_dataset(path, image_size=8, read=STREAM).splits["all"][0:2], b.splits["all"])
    jpeg = io.BytesIO()
    Image.open(io.BytesIO(_png((5, 5, 3), seed=2))).save(jpeg, "JPEG")
    (tmp_path / "jpegs").mkdir()
    (tmp_path / "jpegs" / "x.jpg").write_bytes(jpeg.getvalue())
    a = load_dataset(_tar(tmp_path / "jpeg.tar", [("dir/x.jpg", jpeg.getvalue()), ("dir/x.json", b"{}")]))
    assert torch.equal(a.splits["all"], load_dataset(tmp_path / "jpegs").splits["all"])


def test_bad_shards_are_one_line(tmp_path, shards):
    (tmp_path / "junk.tar").write_bytes(b"not a tar at all" * 100)
    raw = (shards / "shard-000000.tar").read_bytes()
    (tmp_path / "cut.tar").write_bytes(raw[: len(raw) // 2])
    png = _png((4, 4))
    cases = {
        "junk.tar": "not a tar file, or a damaged one",
        "cut.tar": "cut short or damaged at byte",
        _tar(tmp_path / "noimg.tar", [("1.png", png), ("2.cls", b"3")]).name: r"sample '2' has no image .* has \.cls",
        _tar(tmp_path / "two.tar", [("1.png", png), ("1.jpg", png)]).name: r"sample '1' has two images",
        _tar(tmp_path / "cls.tar", [("1.png", png), ("1.cls", b"cat")]).name: r"1.cls: expected a class number",
        _tar(tmp_path / "some.tar", [("1.png", png), ("2.png", png), ("2.cls", b"1")]).name: r"1.png has no .cls",
        _tar(tmp_path / "empty.tar", [("README", b"hi")]).name: "holds no samples",
        _tar(tmp_path / "bad.tar", [("1.png", b"garbage")]).name: r"cannot read image .*bad.tar:1.png",
    }
    for name, message in cases.items():
        with pytest.raises(DataError, match=message) as e:
            load_dataset(tmp_path / name)
        assert "\n" not in str(e.value)
    with pytest.raises(DataError, match="--label-column applies to"):
        load_dataset(shards, label_column="y")
    with pytest.raises(DataError, match="--attributes applies to a folder of images, not to the tar shards"):
        load_dataset(shards, attributes=tmp_path / "a.csv")
    with pytest.raises(DataError, match="no such file"):
        load_dataset(tmp_path / "missing.tar")


def test_a_folder_with_images_is_a_folder_of_images(tmp_path, shards):
    (tmp_path / "both").mkdir()
    (tmp_path / "both" / "x.tar").write_bytes((shards / "shard-000000.tar").read_bytes())
    Image.fromarray(np.zeros((3, 3), dtype=np.uint8)).save(tmp_path / "both" / "a.png")
    assert not is_shard_spec(tmp_path / "both") and load_dataset(tmp_path / "both").schema.shape == (1, 3, 3)


def test_the_cli_trains_on_shards(tmp_path, shards):
    args = ["--epochs", "1", "--latent-dim", "2", "--quiet"]
    result = CliRunner().invoke(app, ["train", str(shards), "--out", str(tmp_path / "r"), "--stream", *args])
    assert result.exit_code == 0, result.output
    pattern = str(shards / "shard-{000000..000009}.tar")
    result = CliRunner().invoke(app, ["train", pattern, "--out", str(tmp_path / "s"), *args])
    assert result.exit_code == 2 and "names 10 files, 6 of which do not exist" in result.output
