"""Per-file attributes of an image folder (CelebA's "Smiling", "Eyeglasses", ...), read from a file beside it.

Two layouts, told apart by content:

* CelebA's ``list_attr_celeba.txt``: line 1 the number of images (optional), line 2 the attribute names, then one
  row per image, its file name and one value per attribute (the names line has one field fewer than the rows).
* a table with a header (``.csv``, ``.tsv``, or a ``.txt`` separated by tabs, commas or spaces): the file-name
  column is the one named file, filename, file_name, image, image_id, path or name (any case), else the first.

Values: a column holding only -1/1 (CelebA) or 0/1, true/false, yes/no becomes 0/1 (1 = has the attribute) and is
numeric; other numbers stay numeric; text is categorical, its categories ordered as table columns' are
(``tables.categories_of``). Empty cells (and NA, N/A, NaN) are missing: an image used must have every value.
Images are matched by base name ("img/001.png" in the file names 001.png), else by the name without its
extension (CelebA's 000001.jpg matches a 000001.png converted from it).
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path, PurePath

import numpy as np
import pandas as pd

from ..errors import DataError
from .arrays import error_text
from .schema import Attributes, Schema
from .tables import categories_of, frame_values, infer_types

ATTRIBUTE_FILES = ("list_attr_celeba.txt", "attributes.csv")  # looked for beside an image folder
FILE_COLUMNS = ("file", "filename", "file_name", "image", "image_id", "path", "name")
_MISSING = {"", "NA", "N/A", "NaN", "nan"}
_BOOLEANS = ({"true": 1.0, "false": 0.0}, {"yes": 1.0, "no": 0.0})

Line = tuple[int, str]  # (line number from 1, text)


def base_name(name: str) -> str:
    """The last part of a path written with / or \\ ("img/001.png" -> "001.png")."""
    return name.strip().replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


def find_attribute_file(folder: Path) -> Path | None:
    """An attribute file for the images in ``folder``: ``ATTRIBUTE_FILES`` in the folder itself, its parent, or
    the parent's ``Anno/`` (CelebA ships ``img_align_celeba/`` beside ``Anno/list_attr_celeba.txt``)."""
    for place in (folder, folder.parent, folder.parent / "Anno"):
        for name in ATTRIBUTE_FILES:
            if (place / name).is_file():
                return place / name
    return None


def _lines(path: Path) -> list[Line]:
    """The non-blank lines of a text file, numbered from 1."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"cannot read attribute file {path}: it is not UTF-8 text") from None
    except OSError as e:
        raise DataError(f"cannot read attribute file {path}: {error_text(e)}") from None
    return [(i, line) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]


def _separator(path: Path, header: str) -> str | None:
    """The field separator: by suffix for .csv/.tsv, else tab or comma when the header has one, else whitespace."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        return "," if suffix == ".csv" else "\t"
    return "\t" if "\t" in header else "," if "," in header else None


def _fields(line: str, sep: str | None) -> list[str]:
    if sep is None:
        return line.split()
    return [f.strip() for f in next(csv.reader([line], delimiter=sep))]


def _file_column(header: list[str]) -> int:
    lowered = [h.strip().lower() for h in header]
    return next((lowered.index(n) for n in FILE_COLUMNS if n in lowered), 0)


def _rows(lines: list[Line], sep: str | None, width: int, path: Path) -> list[list[str]]:
    """Every line split into ``width`` fields; DataError naming the first line with another count."""
    rows = []
    for number, line in lines:
        fields = _fields(line, sep)
        if len(fields) != width:
            raise DataError(
                f"line {number} of {path} has {len(fields)} fields, expected {width} "
                f"(a file name and {width - 1} attribute values)"
            )
        rows.append(fields)
    return rows


def _parse(path: Path) -> tuple[list[str], list[str], list[list[str]]]:
    """(attribute names, file names, value rows) of either layout (module docstring)."""
    lines = _lines(path)
    if lines and re.fullmatch(r"\d+", lines[0][1].strip()):
        lines = lines[1:]  # CelebA's count line
    if len(lines) < 2:
        raise DataError(f"attribute file {path} has no rows: expected a header line and one line per image")
    sep = _separator(path, lines[0][1])
    header = _fields(lines[0][1], sep)
    if len(_fields(lines[1][1], sep)) == len(header) + 1:  # CelebA: the names line lacks the file-name field
        header, column = ["file", *header], 0
    else:
        column = _file_column(header)
    rows = _rows(lines[1:], sep, len(header), path)
    names = [h for j, h in enumerate(header) if j != column]
    values = [row[:column] + row[column + 1 :] for row in rows]
    return names, [base_name(row[column]) for row in rows], values


def _binary(numbers: pd.Series) -> pd.Series:
    """A column of only -1/1 (CelebA's "without"/"with") as 0/1; other numbers as they are."""
    return (numbers + 1) / 2 if set(numbers.dropna().unique()) <= {-1.0, 1.0} else numbers


def _typed(raw: pd.Series) -> pd.Series:
    """Text values (stripped) -> 0/1 for binary columns (-1/1, 0/1, true/false, yes/no), numbers, else text; NaN
    where missing."""
    text = raw.mask(raw.isin(_MISSING))
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers.notna().sum() == text.notna().sum():
        return _binary(numbers.astype(np.float64))
    lowered = text.str.lower()
    for mapping in _BOOLEANS:
        if set(lowered.dropna().unique()) <= set(mapping):
            return lowered.map(mapping).astype(np.float64)
    return text


def _check_names(names: list[str], files: list[str], path: Path) -> None:
    if not names:
        raise DataError(f"attribute file {path} has no attribute columns: expected a file name and attribute values")
    if any(not n.strip() for n in names):
        raise DataError(f"attribute file {path} has a column without a name: name every attribute in its header")
    for what, items in (("attribute names", names), ("file names", files)):
        dupes = [n for n, count in Counter(items).items() if count > 1]
        if dupes:
            raise DataError(f"attribute file {path} has duplicate {what} (e.g. {dupes[0]!r}): each must be unique")


def read_attribute_file(path: Path | str) -> pd.DataFrame:
    """Read per-file attributes (module docstring) into a DataFrame indexed by base file name, one column per
    attribute: float64 for numbers and 0/1 binaries, text for categorical ones, NaN where missing.

    ``frame.attrs["path"]`` remembers the file for error messages."""
    path = Path(path)
    names, files, values = _parse(path)
    _check_names(names, files, path)
    try:  # every value a number (CelebA): convert all at once, far faster than column by column
        numbers = pd.DataFrame(np.array(values, dtype=np.float64), columns=names)
        frame = pd.DataFrame({n: _binary(numbers[n]) for n in names})
    except ValueError:
        raw = pd.DataFrame(values, columns=names, dtype=object)
        frame = pd.DataFrame({n: _typed(raw[n]) for n in names})
    frame.index = pd.Index(files, name="file")
    frame.attrs["path"] = str(path)
    return frame


def rows_of(files: Sequence[Path | str], frame: pd.DataFrame) -> np.ndarray:
    """Per image file, the position of its row in ``frame`` (by base name, else by name without extension;
    -1 when it has none)."""
    names = [base_name(str(f)) for f in files]
    position = {n: i for i, n in enumerate(frame.index)}
    rows = np.array([position.get(n, -1) for n in names], dtype=np.int64)
    if (rows < 0).any():
        stems = Counter(PurePath(n).stem for n in frame.index)
        by_stem = {PurePath(n).stem: i for i, n in enumerate(frame.index) if stems[PurePath(n).stem] == 1}
        for k in np.flatnonzero(rows < 0):
            rows[k] = by_stem.get(PurePath(names[k]).stem, -1)
    return rows


def _check_images(files: Sequence[Path | str], rows: np.ndarray, where: object, source: str) -> None:
    names = [base_name(str(f)) for f in files]
    shared = [n for n, count in Counter(names).items() if count > 1]
    if shared:
        raise DataError(
            f"several images of {where} are named {shared[0]} (in different subfolders): per-file attributes "
            "need every image file name to be unique"
        )
    missing = np.flatnonzero(rows < 0)
    if missing.size:
        raise DataError(
            f"{missing.size} images of {where} have no row in {source}, e.g. {names[missing[0]]}: "
            "every image needs its attributes"
        )


def attributes_for(files: Sequence[Path | str], frame: pd.DataFrame, where: object) -> tuple[Attributes, np.ndarray]:
    """The attributes of image ``files`` (in their order): (description, float32 ``(N, K)``), a categorical value
    being the index of its category. Rows for other files are ignored; an image without a row, or with a missing
    value, is a DataError naming ``where`` (the folder)."""
    source = str(frame.attrs.get("path", "the attribute file"))
    rows = rows_of(files, frame)
    _check_images(files, rows, where, source)
    path = Path(source)
    types = infer_types(frame, path)
    categories = {c: categories_of(frame[c], c, path) for c, t in zip(frame.columns, types, strict=True)
                  if t == "categorical"}  # fmt: skip
    columns = tuple(str(c) for c in frame.columns)
    typed = Schema("table", (len(columns),), columns, column_types=types, categories=categories)
    x = frame_values(frame.iloc[rows], typed, source)
    gaps = np.argwhere(np.isnan(x))
    if gaps.size:
        i, j = gaps[0]
        raise DataError(
            f"{source} has no value of {columns[j]!r} for {base_name(str(files[i]))} ({len(gaps)} missing values "
            f"for images of {where}): every image needs every attribute"
        )
    return Attributes(columns, types, categories), x
