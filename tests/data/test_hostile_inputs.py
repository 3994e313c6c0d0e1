"""Hostile and damaged .npy / .npz files: refused with one DataError line before anything large is allocated."""

from __future__ import annotations

import io
import re
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from vaekit.data import arrays, load_dataset, read_array_file
from vaekit.data.arrays import read_npy_safely, read_npz_safely
from vaekit.errors import DataError

HUGE = (10**9, 10**6, 10)  # float64: 8e16 bytes, about 71 PiB; the header alone says so


def npy_bytes(shape: tuple[int, ...], dtype: str = "<f8", data: bytes = b"\0" * 16) -> bytes:
    """A hand-written .npy: a header declaring ``shape`` followed by only ``data``."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue() + data


def refused(match: str, fn, *args) -> str:
    """Call fn, expect a one-line DataError matching ``match`` within a second; return the message."""
    start = time.perf_counter()
    with pytest.raises(DataError) as info:
        fn(*args)
    assert time.perf_counter() - start < 1.0
    message = str(info.value)
    assert "\n" not in message and re.search(match, message), message
    return message


READERS = [read_npy_safely, load_dataset, read_array_file]


@pytest.mark.parametrize("read", READERS)
def test_forged_huge_shape_is_refused_before_allocating(tmp_path: Path, read):
    """Guards the MemoryError traceback of an .npy whose header claims terabytes."""
    path = tmp_path / "huge.npy"
    path.write_bytes(npy_bytes(HUGE))
    message = refused(r"truncated or damaged .*declares shape \(1000000000, 1000000, 10\)", read, path)
    assert "float64, 71.1 PiB, but only 16 bytes of data follow" in message


@pytest.mark.parametrize("read", READERS)
def test_empty_array_has_no_rows(tmp_path: Path, read):
    """Guards the ValueError traceback of `vaekit denoise` on an empty (0, 28, 28) array."""
    np.save(tmp_path / "empty.npy", np.zeros((0, 28, 28), np.uint8))
    refused(r"empty\.npy has no rows \(shape \(0, 28, 28\)\)", read, tmp_path / "empty.npy")
    np.save(tmp_path / "thin.npy", np.zeros((3, 0), np.float32))
    refused(r"thin\.npy holds no values", read, tmp_path / "thin.npy")


@pytest.mark.parametrize("read", READERS)
def test_truncated_npy(tmp_path: Path, read):
    """A file cut short (an interrupted copy) names the shape it should have had."""
    np.save(tmp_path / "t.npy", np.zeros((100, 10)))
    (tmp_path / "t.npy").write_bytes((tmp_path / "t.npy").read_bytes()[:-100])
    refused(
        r"t\.npy: it is truncated .*shape \(100, 10\) float64, 7\.8 KiB, but only 7\.7 KiB", read, tmp_path / "t.npy"
    )


@pytest.mark.parametrize("read", READERS)
def test_not_an_npy_and_damaged_headers(tmp_path: Path, read):
    (tmp_path / "text.npy").write_text("1,2,3\n4,5,6\n")
    refused(r"text\.npy is not a NumPy \.npy/\.npz file", read, tmp_path / "text.npy")
    (tmp_path / "head.npy").write_bytes(b"\x93NUMPY\x01\x00\xff\x00{'descr': garbage")
    refused(r"^cannot read array file .*head\.npy: damaged \.npy header", read, tmp_path / "head.npy")
    (tmp_path / "neg.npy").write_bytes(npy_bytes((-5, 3)))
    refused(r"impossible shape \(-5, 3\)", read, tmp_path / "neg.npy")


@pytest.mark.parametrize("read", READERS)
def test_object_arrays_are_never_unpickled(tmp_path: Path, read):
    np.save(tmp_path / "obj.npy", np.array([[{"a": 1}]], dtype=object), allow_pickle=True)
    refused(r"holds Python objects \(dtype=object\)", read, tmp_path / "obj.npy")


@pytest.mark.parametrize("read", [load_dataset, read_array_file])
def test_npz_with_a_forged_member(tmp_path: Path, read):
    """An .npz member whose header claims far more than the member holds (also when compressed)."""
    for compression in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        path = tmp_path / f"huge{compression}.npz"
        with zipfile.ZipFile(path, "w", compression) as zf:
            zf.writestr("x.npy", npy_bytes(HUGE))
        refused(r"huge\d+\.npz\[x\]: it is truncated or damaged .*declares shape \(1000000000,", read, path)
    with zipfile.ZipFile(tmp_path / "labels.npz", "w") as zf:
        zf.writestr("x.npy", npy_bytes((2, 2), data=b"\0" * 32))
        zf.writestr("y.npy", npy_bytes(HUGE))
    if read is load_dataset:  # read_array_file ignores labels
        refused(r"labels\.npz\[y\]: it is truncated", read, tmp_path / "labels.npz")
    np.savez(tmp_path / "empty.npz", x=np.zeros((0, 4)))
    refused(r"empty\.npz\[x\] has no rows", read, tmp_path / "empty.npz")
    (tmp_path / "z.npz").write_bytes(b"PK\x03\x04 not a zip")
    refused(r"^cannot read array file .*z\.npz: ", read, tmp_path / "z.npz")


def test_more_than_memory_is_refused(tmp_path: Path, monkeypatch):
    """A well-formed array larger than the machine's memory (a zip bomb, say) is refused up front."""
    np.savez_compressed(tmp_path / "bomb.npz", x=np.zeros((64, 1024)))  # 512 KiB in a few hundred bytes
    monkeypatch.setattr(arrays, "_memory_bytes", lambda: 100_000)
    refused(r"bomb\.npz\[x\] holds an array of shape \(64, 1024\) float64 \(512\.0 KiB\), more than", load_dataset,
            tmp_path / "bomb.npz")  # fmt: skip


def test_read_npy_safely_reads_good_files(tmp_path: Path):
    x = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    np.save(tmp_path / "x.npy", x)
    out = read_npy_safely(tmp_path / "x.npy")
    assert out.dtype == np.uint8 and np.array_equal(out, x)
    np.save(tmp_path / "f.npy", np.asfortranarray(np.ones((3, 2), bool)))
    assert read_npy_safely(tmp_path / "f.npy").shape == (3, 2)
    np.save(tmp_path / "trail.npy", x)
    with open(tmp_path / "trail.npy", "ab") as f:
        f.write(b"junk after the data")
    assert np.array_equal(read_npy_safely(tmp_path / "trail.npy"), x)
    np.savez(tmp_path / "x.npz", x=x)
    refused(r"x\.npz is an \.npz archive: expected a single \.npy array", read_npy_safely, tmp_path / "x.npz")
    refused(r"^no such file: ", read_npy_safely, tmp_path / "missing.npy")


def test_read_npz_safely(tmp_path: Path):
    """Every member by name, each checked; empty members are the caller's business."""
    np.savez(tmp_path / "ok.npz", a=np.arange(3), empty=np.zeros((0, 2)))
    out = read_npz_safely(tmp_path / "ok.npz")
    assert sorted(out) == ["a", "empty"] and np.array_equal(out["a"], np.arange(3)) and out["empty"].shape == (0, 2)
    with zipfile.ZipFile(tmp_path / "bad.npz", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("meta.npy", npy_bytes((4,), "|u1", b"\0" * 4))
        zf.writestr("fingerprints.npy", npy_bytes(HUGE))
    refused(r"bad\.npz\[fingerprints\]: it is truncated or damaged", read_npz_safely, tmp_path / "bad.npz")
    np.save(tmp_path / "x.npy", np.zeros(3))
    refused(r"x\.npy is a single \.npy array: expected an \.npz archive", read_npz_safely, tmp_path / "x.npy")
