"""Per-file attributes of an image folder: CelebA's list_attr_celeba.txt, CSV tables, auto-detection, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vaekit.data import load_image_folder
from vaekit.data.attributes import attributes_for, read_attribute_file
from vaekit.errors import DataError

NAMES = ["5_o_Clock_Shadow", "Smiling", "Young"]


def _images(folder: Path, names: list[str]) -> list[Path]:
    """Tiny 4x4 RGB images whose red value encodes their position in ``names``, so rows can be told apart."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.new("RGB", (4, 4), (10 * i, 0, 0)).save(folder / name)
    return [folder / n for n in names]


def _celeba(path: Path, rows: dict[str, list[int]], count: bool = True) -> Path:
    """A file in list_attr_celeba.txt's layout: count line, names line (trailing space), aligned -1/1 rows."""
    lines = ([f"{len(rows)}"] if count else []) + [" ".join(NAMES) + " "]
    lines += [f"{name} " + " ".join(f"{v:2d}" for v in values) for name, values in rows.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _celeba_rows(names: list[str], seed: int = 0) -> dict[str, list[int]]:
    rng = np.random.default_rng(seed)
    return {n: [int(v) for v in rng.choice([-1, 1], size=len(NAMES))] for n in names}


def test_celeba_layout_gives_0_1_values_in_the_folders_file_order(tmp_path):
    names = [f"{i:06d}.png" for i in (5, 3, 1, 6, 2, 4)]
    _images(tmp_path / "img", names)
    # rows shuffled, plus rows for images not in the folder (a subset of CelebA is common)
    rows = _celeba_rows([f"{i:06d}.png" for i in (9, 4, 1, 7, 2, 6, 3, 5)])
    _celeba(tmp_path / "img" / "list_attr_celeba.txt", rows)
    data = load_image_folder(tmp_path / "img")
    info = data.attribute_info
    assert info is not None and info.names == tuple(NAMES) and info.types == ("numeric",) * 3
    got = data.attributes["all"].numpy()
    order = sorted(names)
    expected = np.array([[(v + 1) / 2 for v in rows[n]] for n in order], dtype=np.float32)
    assert got.dtype == np.float32 and got.shape == (6, 3)
    np.testing.assert_array_equal(got, expected)
    # image rows are in the same (sorted) order: red channel encodes the position in `names`
    reds = np.rint(data.splits["all"][:, 0, 0, 0].numpy() * 255).astype(int)
    assert list(reds) == [10 * names.index(n) for n in order]
    assert data.labels == {}


def test_celeba_layout_is_found_by_content_and_without_count_line(tmp_path):
    rows = _celeba_rows(["a.jpg", "b.jpg"], seed=1)
    for count in (True, False):
        frame = read_attribute_file(_celeba(tmp_path / f"attrs_{count}.txt", rows, count=count))
        assert list(frame.columns) == NAMES and list(frame.index) == ["a.jpg", "b.jpg"]
        np.testing.assert_array_equal(frame.to_numpy(), (np.array(list(rows.values())) + 1) / 2)


def test_csv_with_file_column_types_columns(tmp_path):
    names = [f"{i}.png" for i in range(6)]
    files = _images(tmp_path / "faces", names)
    hair = ["brown", "black", "blond", "black", "red", "brown"]
    lines = ["id,Hair,Age,Image,Glasses,Smiling"]
    for i, (n, h) in enumerate(zip(names, hair, strict=True)):
        lines.append(f"{10 + i},{h},{20.5 + i},img/{n},{'yes' if i % 2 else 'no'},{i % 2}")
    path = tmp_path / "attrs.csv"
    path.write_text("\n".join(lines[:1] + lines[1:][::-1]) + "\n")
    frame = read_attribute_file(path)
    assert list(frame.index) == names[::-1]  # "img/0.png" is known by its base name
    info, x = attributes_for(files, frame, tmp_path / "faces")
    assert info.names == ("id", "Hair", "Age", "Glasses", "Smiling")
    assert info.types == ("numeric", "categorical", "numeric", "numeric", "numeric")
    assert info.categories == {"Hair": ("black", "blond", "brown", "red")}
    assert x.dtype == np.float32 and x.shape == (6, 5)
    np.testing.assert_array_equal(x[:, 0], np.arange(10, 16))
    assert [info.categories["Hair"][int(c)] for c in x[:, 1]] == hair
    np.testing.assert_allclose(x[:, 2], 20.5 + np.arange(6))
    np.testing.assert_array_equal(x[:, 3], np.arange(6) % 2)
    np.testing.assert_array_equal(x[:, 4], np.arange(6) % 2)


def test_without_a_named_file_column_the_first_one_is_used_and_tabs_work(tmp_path):
    path = tmp_path / "labels.tsv"
    path.write_text("photo\tMood\tBald\nx.png\thappy\tTrue\ny.png\tsad\tfalse\n")
    frame = read_attribute_file(path)
    assert list(frame.index) == ["x.png", "y.png"] and list(frame.columns) == ["Mood", "Bald"]
    info, x = attributes_for([Path("y.png"), Path("x.png")], frame, "here")
    assert info.types == ("categorical", "numeric")
    np.testing.assert_array_equal(x, [[1, 0], [0, 1]])


def test_auto_detection_in_folder_parent_and_anno(tmp_path):
    names = [f"{i:06d}.jpg" for i in range(1, 7)]
    rows = _celeba_rows(names, seed=2)
    expected = np.array([[(v + 1) / 2 for v in rows[n]] for n in names], dtype=np.float32)
    for place in ("folder", "parent", "anno"):
        root = tmp_path / place
        folder = root / "img_align_celeba"
        _images(folder, names)
        target = {"folder": folder, "parent": root, "anno": root / "Anno"}[place]
        target.mkdir(exist_ok=True)
        _celeba(target / "list_attr_celeba.txt", rows)
        data = load_image_folder(folder)
        np.testing.assert_array_equal(data.attributes["all"].numpy(), expected, err_msg=place)
    # attributes.csv beside a folder with class subfolders: labels stay labels, attributes come from the file
    folder = tmp_path / "classes" / "train"
    _images(folder / "cat", ["c1.png", "c2.png"])
    _images(folder / "dog", ["d1.png"])
    (tmp_path / "classes" / "attributes.csv").write_text("file,Fluffy\nd1.png,1\nc1.png,-1\nc2.png,1\n")
    data = load_image_folder(folder)
    assert data.attribute_info.names == ("Fluffy",)
    np.testing.assert_array_equal(data.attributes["all"].numpy()[:, 0], [0, 1, 1])
    assert data.labels["all"].tolist() == [0, 0, 1]


def test_no_attribute_file_means_no_attributes(tmp_path):
    _images(tmp_path / "plain", ["a.png", "b.png"])
    data = load_image_folder(tmp_path / "plain")
    assert data.attributes == {} and data.attribute_info is None


def test_an_auto_detected_file_about_other_images_is_skipped(tmp_path):
    _images(tmp_path / "mine", ["a.png", "b.png"])
    (tmp_path / "attributes.csv").write_text("file,Tall\nzzz.png,1\n")
    assert load_image_folder(tmp_path / "mine").attribute_info is None
    with pytest.raises(DataError, match="2 images of .*mine have no row in .*attributes.csv, e.g. a.png"):
        load_image_folder(tmp_path / "mine", attributes=tmp_path / "attributes.csv")


def test_explicit_path_wins_over_auto_detection(tmp_path):
    names = ["a.png", "b.png", "c.png"]
    _images(tmp_path / "img", names)
    _celeba(tmp_path / "img" / "list_attr_celeba.txt", _celeba_rows(names))
    mine = tmp_path / "elsewhere" / "mine.csv"
    mine.parent.mkdir()
    mine.write_text("name,Smiling\na.png,yes\nb.png,no\nc.png,yes\n")
    data = load_image_folder(tmp_path / "img", attributes=str(mine))
    assert data.attribute_info.names == ("Smiling",)
    np.testing.assert_array_equal(data.attributes["all"].numpy()[:, 0], [1, 0, 1])


def test_matching_by_name_without_extension(tmp_path):
    """CelebA lists .jpg files; images converted to .png still find their rows."""
    rows = _celeba_rows(["000001.jpg", "000002.jpg"], seed=3)
    files = _images(tmp_path / "png", ["000002.png", "000001.png"])
    info, x = attributes_for(files, read_attribute_file(_celeba(tmp_path / "a.txt", rows)), "png")
    np.testing.assert_array_equal(x, (np.array([rows["000002.jpg"], rows["000001.jpg"]]) + 1) / 2)


def test_missing_rows_are_an_error_naming_count_and_first(tmp_path):
    names = [f"{i:06d}.jpg" for i in range(1, 7)]
    _images(tmp_path / "img", names)
    _celeba(tmp_path / "list_attr_celeba.txt", _celeba_rows(names[:2] + names[4:]))
    with pytest.raises(DataError, match=r"^2 images of .*img have no row in .*list_attr_celeba.txt, e.g. 000003.jpg"):
        load_image_folder(tmp_path / "img")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3\nA B\nx.png 1 -1\ny.png 1\nz.png -1 -1\n", "line 4 of .* has 2 fields, expected 3"),
        ("file,A\nx.png,1\ny.png,1,2\n", "line 3 of .* has 3 fields, expected 2"),
        ("file,A\nx.png,1\nimg/x.png,-1\n", "duplicate file names .*'x.png'"),
        ("file\nx.png\ny.png\n", "no attribute columns"),
        ("file,A,A\nx.png,1,2\n", "duplicate attribute names"),
        ("5\n", "has no rows"),
        ("", "has no rows"),
    ],
)
def test_malformed_files_are_one_line_errors(tmp_path, text, message):
    path = tmp_path / "attrs.csv" if "," in text else tmp_path / "attrs.txt"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as caught:
        read_attribute_file(path)
    assert "\n" not in str(caught.value)


def test_unreadable_file_and_missing_values_are_errors(tmp_path):
    with pytest.raises(DataError, match="cannot read attribute file"):
        read_attribute_file(tmp_path / "absent.csv")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(DataError, match="not UTF-8"):
        read_attribute_file(tmp_path / "bin.txt")
    path = tmp_path / "gaps.csv"
    path.write_text("file,A,B\nx.png,1,\ny.png,0,2\n")
    frame = read_attribute_file(path)
    info, x = attributes_for([Path("y.png")], frame, "f")  # the gap is in a row not used
    np.testing.assert_array_equal(x, [[0, 2]])
    with pytest.raises(DataError, match="no value of 'B' for x.png"):
        attributes_for([Path("x.png"), Path("y.png")], frame, "f")


def test_same_file_name_in_two_class_folders_is_an_error(tmp_path):
    _images(tmp_path / "data" / "cat", ["1.png"])
    _images(tmp_path / "data" / "dog", ["1.png"])
    (tmp_path / "data" / "attributes.csv").write_text("file,A\n1.png,1\n")
    with pytest.raises(DataError, match="several images .* named 1.png"):
        load_image_folder(tmp_path / "data")
