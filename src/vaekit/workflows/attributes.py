"""``vaekit attributes`` and ``vaekit edit``: attribute vectors of a run (White, 2016) and edits along them.

``attributes`` encodes data with named attributes (a loader's, such as the factors of ``shapes`` or an image
folder's attribute file; ``label``; a table's columns), computes one vector per attribute
(``vaekit.inference.attributes``) and merges them into RUN/attributes.json: the attributes named are computed
again, the others kept. ``edit`` decodes code(x) + a * v for a list of amounts a, for an image file or a row of
some data: a PNG strip (amounts left to right), an animated GIF, .npy, or for tables a .csv of rows.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .._io import atomic_write
from ..bundle.attributes import read_attributes, write_attributes
from ..data import canonical_spec, load_dataset
from ..data.condition import available, full_table_schema, parse_names, with_condition
from ..data.schema import Attributes, Dataset
from ..errors import DataError, VaekitError
from ..inference.attributes import vectors_of
from ..record import IN_MEMORY
from ..vae import VAE, load_model
from .data import select_arrays
from .kinds import Written
from .outputs import ARRAY_EXT, GIF_EXT, IMAGE_EXT, TABLE_EXT, check_out, grid, save_array, save_gif, save_image

MAX_AMOUNTS = 1000  # frames of one edit


@dataclass
class VectorRow:
    """One stored vector: its name, inputs with and without the attribute, its length, what it measures."""

    name: str
    positive: int
    negative: int
    norm: float
    description: str


@dataclass
class Fitted:
    """What ``vaekit attributes`` did: the data and split encoded, the vectors computed, the attributes skipped
    (fewer than 2 inputs on a side; only when every attribute was asked for) and the vectors kept from before."""

    path: Path  # RUN/attributes.json
    data: str
    split: str
    n: int  # inputs encoded
    vectors: list[VectorRow]
    skipped: list[str] = field(default_factory=list)  # "name: why"
    kept: int = 0


@dataclass
class _Encoded:
    """The inputs of one split: x (and a conditional model's condition values y), every attribute's values."""

    x: torch.Tensor
    y: torch.Tensor | None
    info: Attributes
    values: torch.Tensor  # (N, K) in info's order, NaN where missing
    split: str


# -- attributes -------------------------------------------------------------------------------------------------
def attributes(
    run: str | Path, data: str | None = None, columns: str | list[str] | None = None, split: str = "auto"
) -> Fitted:
    """Attribute vectors of the run for ``columns`` (default: every attribute the data has) from ``data``
    (default: the run's training data) on ``split`` (auto: the training split), merged into RUN/attributes.json.
    Named attributes with fewer than 2 inputs on a side are refused; left to the default, they are skipped."""
    model = _load(run)
    spec = _spec(model, data)
    enc = encode_inputs(model, spec, split)
    asked = parse_names(columns)
    try:
        chosen, idx = enc.info.select(asked or enc.info.names)
    except ValueError as e:
        raise DataError(str(e)) from None
    codes = model.latent_codes(enc.x, condition=enc.y)
    entries, skipped = _vectors(codes, enc.values[:, idx], chosen, strict=bool(asked))
    if not entries:
        raise DataError(f"no attribute of {spec} has 2 inputs on each side: {'; '.join(skipped)}")
    source = f"{spec} ({enc.split})"
    entries = {name: {**entry, "source": source} for name, entry in entries.items()}
    old = read_attributes(run, model.config.latent_dim)
    redone = set(chosen.names)
    kept = {n: e for n, e in old.items() if n not in entries and e.get("attribute", n) not in redone}
    path = write_attributes(run, {**kept, **entries}, model.config.latent_dim)
    rows = [VectorRow(n, e["positive"], e["negative"], e["norm"], e["description"]) for n, e in entries.items()]
    return Fitted(path, spec, enc.split, len(enc.x), rows, skipped, len(kept))


def _load(run: str | Path) -> VAE:
    model = load_model(run)
    model.run_path = Path(run)  # where its attribute vectors are read and written
    return model


def _spec(model: VAE, data: str | None) -> str:
    spec = data or model.record.data
    if not spec or spec == IN_MEMORY:
        raise VaekitError("this run was trained on in-memory data: pass --data DATA")
    return spec


def _vectors(
    codes: torch.Tensor, values: torch.Tensor, info: Attributes, strict: bool
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Entries of every attribute; with ``strict`` a thin attribute is refused, else skipped (and named)."""
    entries: dict[str, dict[str, Any]] = {}
    skipped: list[str] = []
    for j, (name, kind) in enumerate(zip(info.names, info.types, strict=True)):
        try:
            entries.update(vectors_of(codes, values[:, j], name, kind, info.categories.get(name, ())))
        except DataError as e:
            if strict:
                raise
            skipped.append(str(e))
    return entries, skipped


def encode_inputs(model: VAE, spec: str, split: str) -> _Encoded:
    """``spec`` loaded for the model with every attribute it has (a conditional model's condition values too)."""
    if model.is_sequence:
        raise DataError("attribute vectors need data with named attributes: molecule data has none")
    rec = model.record
    own = canonical_spec(spec) == rec.data
    base = dataclasses.replace(full_table_schema(model.schema), condition=None)  # everything, condition included
    data = load_dataset(
        spec,
        schema=base,
        label_column=rec.label_column if own else None,
        attributes=_attribute_file(model) if own else None,
    )
    part = _split(data, split)
    info, values = _all_attributes(data, part)
    if model.condition is None:
        return _Encoded(data.splits[part], None, info, values, part)
    cond = with_condition(data, model.condition.names, known=model.condition)
    return _Encoded(cond.splits[part], cond.attributes[part], info, values, part)


def _attribute_file(model: VAE) -> str | None:
    """The attribute file the run was trained with (``vaekit train --attributes``), if any."""
    training = model.run_config.get("training") if isinstance(model.run_config, dict) else None
    value = training.get("attributes") if isinstance(training, dict) else None
    return value if isinstance(value, str) else None


def _split(data: Dataset, split: str) -> str:
    if split == "auto":
        return data.train_split
    if split not in data.splits:
        raise DataError(f"split '{split}' is not in this data: it has {', '.join(sorted(data.splits))} (or auto)")
    return split


def _all_attributes(data: Dataset, split: str) -> tuple[Attributes, torch.Tensor]:
    """Every named attribute of one split: the loader's and ``label`` (``condition.available``), then a table's
    columns. One DataError line when there is none."""
    info, values = available(data)
    parts = [] if info is None or split not in values else [(info, values[split])]
    schema = data.schema
    if schema.kind == "table" and schema.columns:
        types = schema.column_types or ("numeric",) * len(schema.columns)
        cats = {c: v for c, v in (schema.categories or {}).items() if c in schema.columns}
        parts.append((Attributes(tuple(schema.columns), tuple(types), cats), data.splits[split]))  # type: ignore[arg-type]
    if not parts:
        raise DataError(
            "the data has no named attributes (labels, an attribute file beside the images, factors, table columns)"
        )
    return _joined(parts)


def _joined(parts: list[tuple[Attributes, torch.Tensor]]) -> tuple[Attributes, torch.Tensor]:
    """Several described blocks of values as one; a name already taken keeps its first block's column."""
    names: list[str] = []
    columns: list[torch.Tensor] = []
    types, cats = [], {}
    for info, values in parts:
        for j, name in enumerate(info.names):
            if name not in names:
                names.append(name)
                types.append(info.types[j])
                columns.append(values[:, j].float())
                cats.update({name: info.categories[name]} if name in info.categories else {})
    return Attributes(tuple(names), tuple(types), cats), torch.stack(columns, 1)


# -- edit -------------------------------------------------------------------------------------------------------
@dataclass
class EditInput:
    """What ``edit`` changes: an image ``file``, or row ``index`` of ``data`` (default: the run's data; its test
    split when it has one)."""

    file: str | Path | None = None
    data: str | None = None
    index: int | None = None


def edit(
    run: str | Path,
    source: EditInput | str | Path,
    attribute: str,
    amounts: list[float],
    out: str | Path,
    *,
    condition: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Written:
    """Decode code(x) + a * v(attribute) for each amount a, x the image file ``source`` (converted to the model's
    channels and size) or a row of some data (``EditInput(data=..., index=I)``). Writes a PNG/JPEG strip (amounts
    left to right), an animated GIF, .npy (A, *shape), or for tables a .csv of rows (one per amount, with an
    ``amount`` column). A conditional model encodes and decodes with ``condition``, else with the row's own."""
    source = source if isinstance(source, EditInput) else EditInput(file=source)
    model = _load(run)
    out = check_out(out, _formats(model), "the edit", overwrite=overwrite)
    model.attribute_vector(attribute)  # an unknown attribute is refused before any data is read
    _check_amounts(amounts)
    x, y = _input(model, source, condition)
    frames = model.edit(x, attribute, amounts, condition=y)[0]  # (A, *shape): the one input's edits
    _write(model, frames, amounts, out, y)
    shown = ", ".join(f"{a:g}" for a in amounts)
    return Written(out, f"wrote {len(amounts)} edits along {attribute} (amounts {shown}) → {out}", frames)


def _formats(model: VAE) -> set[str]:
    if model.is_sequence:
        raise DataError("edit decodes images and table rows; a molecule model is not supported")
    if model.schema.kind == "image":
        return IMAGE_EXT | GIF_EXT | ARRAY_EXT | TABLE_EXT
    return ARRAY_EXT | TABLE_EXT


def _check_amounts(amounts: list[float]) -> None:
    if not amounts or len(amounts) > MAX_AMOUNTS:
        raise DataError(f"--amounts needs 1 to {MAX_AMOUNTS} numbers, e.g. -2,-1,0,1,2")
    if not all(math.isfinite(a) for a in amounts):
        raise DataError("--amounts must be finite numbers")


def _input(model: VAE, source: EditInput, condition: dict[str, Any] | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(x (1, *shape), condition values (1, K) or None): the given condition, else the data row's own."""
    if (source.file is None) == (source.index is None):
        raise DataError("pass either --input FILE (an image) or --index I (a row of --data, default the run's data)")
    if source.file is not None and source.data is not None:
        raise DataError("--data goes with --index; --input is a file of its own")
    y = model.condition_values(condition, 1) if condition is not None else None
    if source.file is not None:
        if y is None and model.condition is not None:
            example = ",".join(f"{name}=..." for name in model.condition.names)
            raise DataError(
                f"this model is conditional on {', '.join(model.condition.names)}: pass --condition {example}"
            )
        return _read_image(model, Path(source.file)), y
    sel = select_arrays(model, source.data, "test_or_all")
    i = source.index
    if not 0 <= i < len(sel.x):
        raise DataError(f"--index {i} is out of range: the data has {len(sel.x)} rows (0..{len(sel.x) - 1})")
    if y is None and sel.condition is not None:
        y = sel.condition[i : i + 1]
    return sel.x[i : i + 1], y


def _read_image(model: VAE, path: Path) -> torch.Tensor:
    """An image file as (1, C, H, W) in [0, 1], converted to the model's channels and size."""
    from ..data.images import IMAGE_SUFFIXES, decode_image

    if model.schema.kind != "image":
        raise DataError(f"--input takes an image for image models; this is a {model.schema.kind} model: use --index")
    if not path.is_file():
        raise DataError(f"no such file: {path}")
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise DataError(f"unsupported input {path}: expected a .png/.jpg/.jpeg image")
    c, h, w = (int(s) for s in model.schema.shape)
    return torch.from_numpy(decode_image(path, c == 1, (h, w)))[None]


def _write(model: VAE, frames: torch.Tensor, amounts: list[float], out: Path, y: torch.Tensor | None) -> None:
    suffix = out.suffix.lower()
    if suffix in GIF_EXT:
        save_gif(frames, out)
    elif suffix in IMAGE_EXT:
        save_image(grid(frames, ncol=len(frames)), out)
    elif suffix in TABLE_EXT and model.schema.kind != "image":
        _write_rows(model, frames, amounts, out, y)
    else:
        save_array(frames, out)


def _write_rows(model: VAE, rows: torch.Tensor, amounts: list[float], out: Path, y: torch.Tensor | None) -> None:
    """Table rows, one per amount: an ``amount`` column, then the columns (category names, condition columns)."""
    import numpy as np

    from ..data.tables import frame_with_condition

    cond = None if y is None else y.expand(len(rows), -1).cpu().numpy()
    frame = frame_with_condition(rows.double().cpu().numpy(), model.schema, cond)
    frame.insert(0, "amount", np.asarray(amounts, dtype=np.float64))
    atomic_write(out, lambda p: frame.to_csv(p, index=False))
