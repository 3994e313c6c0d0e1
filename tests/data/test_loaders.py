"""Tests for vaekit.data loaders: values, shapes, labels and the one-line DataError messages."""

from __future__ import annotations

import gzip
import re
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from vaekit.data import Dataset, Schema, load_dataset, read_array_file
from vaekit.errors import DataError


def raises(match: str, fn, *args, **kwargs) -> str:
    """Call fn, expect a one-line DataError whose message matches the regex ``match``; return the message."""
    with pytest.raises(DataError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    assert re.search(match, message), message
    return message


def write_idx(path: Path, arr: np.ndarray, *, code: int = 0x08, cut: int = 0) -> Path:
    header = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    data = data[: len(data) - cut]
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(data)
    return path


def gray_png(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.astype(np.uint8)).save(path)
    return path


RNG = np.random.default_rng(0)


# ---------------------------------------------------------------- MNIST


def test_mnist_real_data():
    d = load_dataset("mnist")
    assert isinstance(d, Dataset)
    assert d.splits["train"].shape == (60000, 1, 28, 28) and d.splits["test"].shape == (10000, 1, 28, 28)
    assert d.splits["train"].dtype == torch.float32
    assert float(d.splits["train"].min()) == 0.0 and float(d.splits["train"].max()) == 1.0
    assert d.labels["train"].dtype == torch.int64
    assert d.labels["train"][:8].tolist() == [5, 0, 4, 1, 9, 2, 1, 3]
    assert d.labels["test"][:5].tolist() == [7, 2, 1, 0, 4]
    assert torch.bincount(d.labels["train"]).tolist()[:2] == [5923, 6742]
    assert d.schema == Schema("image", (1, 28, 28), label_names=tuple("0123456789"), source="mnist")
    assert d.train_split == "train"


def test_mnist_name_is_case_insensitive_and_tensors_are_fresh():
    a = load_dataset("MNIST")
    a.splits["train"].zero_()
    b = load_dataset(" mnist ")
    assert float(b.splits["train"].max()) == 1.0


def test_mnist_refuses_a_table_model():
    raises(
        r"mnist holds images but the model was trained on table data",
        load_dataset,
        "mnist",
        schema=Schema("table", (4,), columns=("a", "b", "c", "d")),
    )


def test_unknown_name_and_missing_path(tmp_path):
    assert raises("unknown dataset", load_dataset, "mnsit") == (
        "unknown dataset 'mnsit': expected 'mnist', 'shapes' or a path to IDX files, an image folder, "
        "a .npy/.npz array or a .csv/.parquet table"
    )
    missing = tmp_path / "nope.csv"
    assert raises("no such", load_dataset, str(missing)) == f"no such file or directory: {missing}"


# ---------------------------------------------------------------- IDX


def test_idx_images_with_labels_beside(tmp_path):
    images = RNG.integers(0, 256, size=(5, 4, 3), dtype=np.uint8)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.array([3, 1, 0, 1, 2]))  # plain beside gzipped
    d = load_dataset(tmp_path / "train-images-idx3-ubyte.gz")
    x = d.splits["all"]
    assert x.shape == (5, 1, 4, 3) and x.dtype == torch.float32
    assert torch.allclose(x[:, 0], torch.from_numpy(images.astype(np.float32) / 255))
    assert d.labels["all"].tolist() == [3, 1, 0, 1, 2] and d.labels["all"].dtype == torch.int64
    assert d.schema.kind == "image" and d.schema.shape == (1, 4, 3)
    assert d.schema.label_names == ("0", "1", "2", "3")


def test_idx_folder_with_train_and_test(tmp_path):
    write_idx(tmp_path / "train-images.idx3-ubyte", np.full((3, 2, 2), 255))
    write_idx(tmp_path / "train-labels.idx1-ubyte", np.array([0, 1, 2]))
    write_idx(tmp_path / "t10k-images.idx3-ubyte.gz", np.zeros((2, 2, 2)))
    write_idx(tmp_path / "t10k-labels.idx1-ubyte.gz", np.array([2, 2]))
    d = load_dataset(str(tmp_path))
    assert set(d.splits) == {"train", "test"} and d.train_split == "train"
    assert d.splits["train"].shape == (3, 1, 2, 2) and float(d.splits["train"].min()) == 1.0
    assert d.splits["test"].shape == (2, 1, 2, 2) and float(d.splits["test"].max()) == 0.0
    assert d.labels["train"].tolist() == [0, 1, 2] and d.labels["test"].tolist() == [2, 2]


def test_idx_folder_with_one_file_and_no_labels(tmp_path):
    write_idx(tmp_path / "digits-idx3-ubyte", np.ones((4, 3, 3)))
    d = load_dataset(tmp_path)
    assert list(d.splits) == ["all"] and d.labels == {} and d.schema.label_names is None


def test_idx_detected_by_magic_and_resized(tmp_path):
    path = write_idx(tmp_path / "digits.bin", np.full((2, 4, 4), 255))
    d = load_dataset(path, image_size=2)
    assert d.splits["all"].shape == (2, 1, 2, 2)
    assert torch.allclose(d.splits["all"], torch.ones(2, 1, 2, 2))


def test_idx_conforms_to_an_rgb_schema(tmp_path):
    path = write_idx(tmp_path / "x-images-idx3-ubyte", np.full((2, 4, 4), 51))
    d = load_dataset(path, schema=Schema("image", (3, 8, 8)))
    assert d.splits["all"].shape == (2, 3, 8, 8)
    assert torch.allclose(d.splits["all"], torch.full((2, 3, 8, 8), 0.2))


def test_idx_truncated(tmp_path):
    path = write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((3, 4, 5)), cut=1)
    raises(re.escape(f"{path} is truncated: header says 3×4×5 = 60 bytes, found 59"), load_dataset, path)


def test_idx_other_type_and_bad_magic(tmp_path):
    path = write_idx(tmp_path / "f-images-idx3-ubyte", np.zeros((1, 2, 2)), code=0x0D)
    raises(r"holds float32 values \(IDX type 0x0D\): only unsigned byte \(0x08\)", load_dataset, path)
    bad = tmp_path / "junk-idx3-ubyte"
    bad.write_bytes(b"hello world")
    raises(r"is not an IDX file", load_dataset, bad)


def test_idx_label_count_must_match(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((3, 2, 2)))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(2))
    raises(r"has 2 labels but train-images-idx3-ubyte has 3 images", load_dataset, tmp_path)


def test_idx_labels_file_given_as_images(tmp_path):
    path = write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(4))
    raises(r"this looks like a labels file", load_dataset, path)


def test_idx_corrupt_gzip(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(b"\0\0\x08\x03" + b"\0" * 40)[:-12])
    raises(r"is not a valid gzip file", load_dataset, path)


# ---------------------------------------------------------------- image folders


def test_flat_folder_of_gray_pngs(tmp_path):
    a, b = RNG.integers(0, 256, (6, 5)), RNG.integers(0, 256, (6, 5))
    gray_png(tmp_path / "b.png", b)
    gray_png(tmp_path / "a.PNG", a)
    (tmp_path / "notes.txt").write_text("not an image")
    d = load_dataset(tmp_path)
    x = d.splits["all"]
    assert x.shape == (2, 1, 6, 5) and x.dtype == torch.float32
    assert torch.allclose(x[0, 0], torch.tensor(a / 255, dtype=torch.float32))  # sorted: a before b
    assert torch.allclose(x[1, 0], torch.tensor(b / 255, dtype=torch.float32))
    assert d.labels == {} and d.schema == Schema("image", (1, 6, 5), source=str(tmp_path))


def test_class_subfolders_and_mixed_modes_give_rgb(tmp_path):
    gray_png(tmp_path / "zebra" / "1.png", np.full((4, 4), 100))
    (tmp_path / "cat").mkdir()
    Image.new("RGB", (4, 4), (255, 0, 0)).save(tmp_path / "cat" / "2.jpeg")
    Image.new("RGBA", (4, 4), (0, 0, 0, 0)).save(tmp_path / "cat" / "1.png")
    d = load_dataset(tmp_path)
    x = d.splits["all"]
    assert x.shape == (3, 3, 4, 4)
    assert d.schema.label_names == ("cat", "zebra") and d.labels["all"].tolist() == [0, 0, 1]
    assert torch.allclose(x[0], torch.ones(3, 4, 4))  # transparent -> white
    assert abs(float(x[1, 0].mean()) - 1.0) < 0.03 and float(x[1, 1:].max()) < 0.05  # red JPEG
    assert torch.allclose(x[2], torch.full((3, 4, 4), 100 / 255))  # gray repeated into RGB


def test_images_of_different_sizes(tmp_path):
    gray_png(tmp_path / "a.png", np.zeros((28, 28)))
    gray_png(tmp_path / "b.png", np.full((32, 32), 255))
    raises(
        r"^images have different sizes \(28×28 and 32×32, first in .*b\.png\): pass --image-size N",
        load_dataset,
        tmp_path,
    )
    d = load_dataset(tmp_path, image_size=8)
    assert d.splits["all"].shape == (2, 1, 8, 8)
    assert float(d.splits["all"][0].max()) == 0.0 and float(d.splits["all"][1].min()) == 1.0


def test_image_folder_conforms_to_schema_and_its_label_order(tmp_path):
    (tmp_path / "b").mkdir()
    Image.new("RGB", (6, 6), (255, 255, 255)).save(tmp_path / "x.png")
    Image.new("RGB", (6, 6), (255, 255, 255)).save(tmp_path / "b" / "x.png")
    gray_png(tmp_path / "a" / "y.png", np.zeros((6, 6)))
    schema = Schema("image", (1, 3, 3), label_names=("b", "a", "c"))
    raises(
        r"has images both at its top level \(x\.png\) and in class subfolders", load_dataset, tmp_path, schema=schema
    )
    (tmp_path / "x.png").unlink()
    d = load_dataset(tmp_path, schema=schema)
    assert d.splits["all"].shape == (2, 1, 3, 3)
    assert d.labels["all"].tolist() == [1, 0]  # files sorted a/, b/; codes follow the model's names
    assert d.schema.label_names == ("b", "a", "c")
    assert torch.allclose(d.splits["all"][1], torch.ones(1, 3, 3))


def test_sixteen_bit_png(tmp_path):
    Image.fromarray(np.full((3, 3), 65535, dtype=np.uint16)).save(tmp_path / "a.png")
    Image.fromarray(np.full((3, 3), 0, dtype=np.uint16)).save(tmp_path / "b.png")
    x = load_dataset(tmp_path).splits["all"]
    assert x.shape == (2, 1, 3, 3) and float(x[0].min()) == 1.0 and float(x[1].max()) == 0.0


def test_empty_and_corrupt_image_folders(tmp_path):
    raises(f"^no PNG or JPEG images found in {re.escape(str(tmp_path))}$", load_dataset, tmp_path)
    gray_png(tmp_path / "ok.png", np.zeros((2, 2)))
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    raises(r"^cannot read image .*bad\.jpg: ", load_dataset, tmp_path)
    gray_png(tmp_path / "big.png", RNG.integers(0, 256, (64, 64)))
    truncated = (tmp_path / "big.png").read_bytes()[:2000]
    (tmp_path / "big.png").unlink()
    (tmp_path / "bad.jpg").unlink()
    (tmp_path / "cut.png").write_bytes(truncated)
    raises(r"^cannot read image .*cut\.png: ", load_dataset, tmp_path, image_size=4)


# ---------------------------------------------------------------- .npy / .npz


def test_npy_vectors_are_raw_float32(tmp_path):
    data = RNG.normal(10, 50, size=(7, 3))
    np.save(tmp_path / "v.npy", data)
    d = load_dataset(tmp_path / "v.npy")
    assert d.splits["all"].dtype == torch.float32
    assert torch.allclose(d.splits["all"], torch.tensor(data, dtype=torch.float32))
    assert d.schema == Schema("vector", (3,), source=str(tmp_path / "v.npy")) and not d.binary_like


def test_npy_image_layouts(tmp_path):
    u8 = RNG.integers(0, 256, size=(2, 5, 4), dtype=np.uint8)
    np.save(tmp_path / "nhw.npy", u8)
    x = load_dataset(tmp_path / "nhw.npy").splits["all"]
    assert x.shape == (2, 1, 5, 4) and torch.allclose(x[:, 0], torch.from_numpy(u8 / 255).float())
    nhwc = RNG.random((2, 5, 4, 3)).astype(np.float32)
    np.save(tmp_path / "nhwc.npy", nhwc)
    d = load_dataset(tmp_path / "nhwc.npy")
    assert d.splits["all"].shape == (2, 3, 5, 4) and d.schema.kind == "image"
    assert torch.equal(d.splits["all"], torch.from_numpy(nhwc).permute(0, 3, 1, 2))
    np.save(tmp_path / "nchw.npy", nhwc.transpose(0, 3, 1, 2))
    assert torch.equal(load_dataset(tmp_path / "nchw.npy").splits["all"], d.splits["all"])


def test_npy_bad_values(tmp_path):
    np.save(tmp_path / "big.npy", np.full((2, 4, 4), 3.0))
    raises(r"values in \[3, 3\]: values must be in \[0, 1\] for images", load_dataset, tmp_path / "big.npy")
    np.save(tmp_path / "nan.npy", np.array([[1.0, np.nan]]))
    raises(r"has 1 NaN or infinite values", load_dataset, tmp_path / "nan.npy")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    raises(r"holds Python objects \(dtype=object\)", load_dataset, tmp_path / "obj.npy")
    np.save(tmp_path / "one.npy", np.arange(5.0))
    raises(r"has shape \(5,\): expected \(N, D\) features", load_dataset, tmp_path / "one.npy")


def test_npy_corrupt(tmp_path):
    np.save(tmp_path / "t.npy", np.zeros((100, 10)))
    (tmp_path / "t.npy").write_bytes((tmp_path / "t.npy").read_bytes()[:-100])
    raises(r"^cannot read array file .*t\.npy: ", load_dataset, tmp_path / "t.npy")
    (tmp_path / "text.npy").write_text("1,2,3")
    raises(r"is not a NumPy \.npy/\.npz file", load_dataset, tmp_path / "text.npy")
    (tmp_path / "z.npz").write_bytes(b"PK\x03\x04 not a zip")
    raises(r"^cannot read array file .*z\.npz: ", load_dataset, tmp_path / "z.npz")
    np.save(tmp_path / "huge.npy", np.array([[1e300, 1.0]]))
    raises(r"has values too large for float32", load_dataset, tmp_path / "huge.npy")


def test_npz_keys_and_labels(tmp_path):
    np.savez(
        tmp_path / "d.npz",
        extra=np.zeros(3),
        images=np.full((3, 2, 2), 255, np.uint8),
        labels=np.array(["dog", "cat", "dog"]),
    )
    d = load_dataset(tmp_path / "d.npz")
    assert d.splits["all"].shape == (3, 1, 2, 2) and float(d.splits["all"].min()) == 1.0
    assert d.labels["all"].tolist() == [1, 0, 1] and d.schema.label_names == ("cat", "dog")
    np.savez(tmp_path / "e.npz", feats=np.ones((2, 3)), y=np.array([4, 2]))
    e = load_dataset(tmp_path / "e.npz")
    assert e.splits["all"].shape == (2, 3) and e.labels["all"].tolist() == [4, 2]


def test_npy_against_a_schema(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 28, 28), np.uint8))
    d = load_dataset(tmp_path / "x.npy", schema=Schema("image", (1, 28, 28)))
    assert d.splits["all"].shape == (2, 1, 28, 28)
    raises(
        re.escape(
            "has shape (2, 28, 28) (per sample (1, 28, 28)) but the model was trained on samples of shape (3, 32, 32)"
        ),
        load_dataset,
        tmp_path / "x.npy",
        schema=Schema("image", (3, 32, 32)),
    )
    np.save(tmp_path / "v.npy", np.zeros((2, 4)))
    t = load_dataset(tmp_path / "v.npy", schema=Schema("table", (4,), columns=("a", "b", "c", "d")))
    assert t.schema.kind == "table" and t.schema.columns == ("a", "b", "c", "d")


def test_read_array_file(tmp_path):
    z = RNG.normal(size=(4, 2))
    np.save(tmp_path / "z.npy", z)
    out = read_array_file(tmp_path / "z.npy")
    assert out.dtype == np.float32 and np.allclose(out, z)
    np.savez(tmp_path / "z.npz", other=np.zeros((1, 1)), z=z)
    assert np.allclose(read_array_file(tmp_path / "z.npz"), z)
    np.savetxt(tmp_path / "plain.csv", z, delimiter=",")
    assert np.allclose(read_array_file(tmp_path / "plain.csv"), z)
    pd.DataFrame(z, columns=["z0", "z1"]).to_csv(tmp_path / "head.csv", index=False)
    assert np.allclose(read_array_file(tmp_path / "head.csv"), z)
    np.save(tmp_path / "flat.npy", np.zeros(3))
    raises(r"expected a 2-D \(N, D\) array \(reshape a single vector", read_array_file, tmp_path / "flat.npy")
    (tmp_path / "words.csv").write_text("a,b\nc,d\n")
    raises(r"is not a numeric matrix", read_array_file, tmp_path / "words.csv")
    raises(r"^no such file or directory: ", read_array_file, tmp_path / "z.json")
    (tmp_path / "z.json").write_text("[]")
    raises(r"unsupported array file .*\(\.json\)", read_array_file, tmp_path / "z.json")


# ---------------------------------------------------------------- tables


def test_csv_table_raw_values_and_labels(tmp_path):
    frame = pd.DataFrame({"a": [1.5, -2.0, 300.0], "species": ["b", "a", "b"], "c": [0, 1, 2]})
    frame.to_csv(tmp_path / "t.csv", index=False)
    d = load_dataset(tmp_path / "t.csv", label_column="species")
    assert d.splits["all"].tolist() == [[1.5, 0.0], [-2.0, 1.0], [300.0, 2.0]]  # not standardized
    assert d.labels["all"].tolist() == [1, 0, 1] and d.schema.label_names == ("a", "b")
    assert d.schema == Schema("table", (2,), columns=("a", "c"), label_names=("a", "b"), source=str(tmp_path / "t.csv"))
    mixed = load_dataset(tmp_path / "t.csv")  # a text column is categorical: its values become category indices
    assert mixed.schema.column_types == ("numeric", "categorical", "numeric")
    assert mixed.schema.categories == {"species": ("a", "b")} and mixed.splits["all"][:, 1].tolist() == [1, 0, 1]
    raises(
        r"label column 'kind' not found in .*: its columns are \['a', 'species', 'c'\]",
        load_dataset,
        tmp_path / "t.csv",
        label_column="kind",
    )


def test_parquet_and_tsv(tmp_path):
    frame = pd.DataFrame({"x": [1, 2], "y": [0.5, 0.25], "label": [10, 2]})
    frame.to_parquet(tmp_path / "t.parquet")
    d = load_dataset(tmp_path / "t.parquet", label_column="label")
    assert d.splits["all"].tolist() == [[1.0, 0.5], [2.0, 0.25]] and d.schema.columns == ("x", "y")
    assert d.schema.label_names == ("2", "10") and d.labels["all"].tolist() == [1, 0]  # numeric order
    frame.to_csv(tmp_path / "t.tsv", sep="\t", index=False)
    assert load_dataset(tmp_path / "t.tsv").splits["all"].shape == (2, 3)


def test_missing_values_and_empty_tables(tmp_path):
    (tmp_path / "m.csv").write_text("a,b\n1,2\n3,\n,5\n")
    x = load_dataset(tmp_path / "m.csv").splits["all"]  # missing values are NaN: models train on the rest
    assert torch.isnan(x).tolist() == [[False, False], [False, True], [True, False]]
    (tmp_path / "i.csv").write_text("a,b\n1,2\n3,1e300\n")
    raises(r"has 1 infinite or too large values \(first in column 'b', row 2\)", load_dataset, tmp_path / "i.csv")
    (tmp_path / "e.csv").write_text("")
    raises(r"^table .*e\.csv is empty", load_dataset, tmp_path / "e.csv")
    (tmp_path / "h.csv").write_text("a,b\n")
    raises(r"^table .*h\.csv is empty", load_dataset, tmp_path / "h.csv")


def test_corrupt_tables(tmp_path):
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really parquet")
    raises(r"^cannot read table .*bad\.parquet: ", load_dataset, tmp_path / "bad.parquet")
    (tmp_path / "ragged.csv").write_text("a,b\n1,2\n1,2,3,4\n")
    raises(r"^cannot read table .*ragged\.csv: ", load_dataset, tmp_path / "ragged.csv")
    (tmp_path / "bin.csv").write_bytes(bytes(range(256)) * 4)
    raises(r"^(cannot read table|column\(s\))", load_dataset, tmp_path / "bin.csv")


def test_table_against_a_schema(tmp_path):
    pd.DataFrame({"c": [3.0], "a": [1.0], "b": [2.0], "d": [4.0]}).to_csv(tmp_path / "t.csv", index=False)
    schema = Schema("table", (4,), columns=("a", "b", "c", "d"))
    d = load_dataset(tmp_path / "t.csv", schema=schema)
    assert d.splits["all"].tolist() == [[1.0, 2.0, 3.0, 4.0]] and d.schema.columns == ("a", "b", "c", "d")
    pd.DataFrame({"a": [1], "b": [2], "c": [3]}).to_csv(tmp_path / "three.csv", index=False)
    raises(
        r"table .*three\.csv has 3 columns but the model was trained on 4: missing \['d'\]$",
        load_dataset,
        tmp_path / "three.csv",
        schema=schema,
    )
    five = pd.DataFrame({"a": [1], "b": [2], "c": [3], "d": [4], "e": [5]})
    five.to_csv(tmp_path / "five.csv", index=False)
    raises(
        r"has 5 columns but the model was trained on 4: unexpected \['e'\]$",
        load_dataset,
        tmp_path / "five.csv",
        schema=schema,
    )
    raises(
        r"is a table but the model was trained on images",
        load_dataset,
        tmp_path / "t.csv",
        schema=Schema("image", (1, 2, 2)),
    )


# ---------------------------------------------------------------- dispatch


def test_unsupported_files_and_misplaced_options(tmp_path):
    (tmp_path / "t.xlsx").write_bytes(b"xx")
    raises(
        r"unsupported file .*t\.xlsx \(\.xlsx\): expected IDX files .*\.npy/\.npz array or a "
        r"\.csv/\.tsv/\.parquet table",
        load_dataset,
        tmp_path / "t.xlsx",
    )
    gray_png(tmp_path / "one.png", np.zeros((2, 2)))
    raises(r"is a single image: pass the folder", load_dataset, tmp_path / "one.png")
    np.save(tmp_path / "x.npy", np.zeros((2, 2)))
    raises(
        r"--label-column applies to \.csv/\.tsv/\.parquet tables", load_dataset, tmp_path / "x.npy", label_column="y"
    )
    raises(r"image size must be a positive integer", load_dataset, tmp_path, image_size=0)
    raises(
        r"--image-size 8 conflicts with the model",
        load_dataset,
        tmp_path,
        image_size=8,
        schema=Schema("image", (1, 2, 2)),
    )


def test_canonical_spec_names_mnist_and_makes_paths_absolute(tmp_path, monkeypatch):
    from vaekit.data import canonical_spec

    (tmp_path / "mnist").mkdir()
    (tmp_path / "t.csv").write_text("a\n1\n")
    monkeypatch.chdir(tmp_path)
    assert canonical_spec(" MNIST") == "mnist"  # the built-in name wins over a folder called mnist
    assert canonical_spec("t.csv") == str(tmp_path / "t.csv")
    assert canonical_spec("nowhere.csv") == "nowhere.csv"
