"""Missing values in tables: fill them from a trained model (``vaekit impute``, ``vaekit.impute_frame``).

Single imputation fills each missing cell with the importance-weighted conditional mean given the row's observed
cells (a categorical cell: the most probable category under the weighted mixture; see ``vaekit.inference.imputation``).
Observed cells are copied from the input as they are (not even rounded to float32), and the output keeps the
input's columns in the input's order. A row with no observed value at all is filled from the model's
unconditional distribution (its weights come from the prior alone); such rows are counted.

Multiple imputation (``draws`` = M > 0) returns one long table: M copies of the input, each with its own draw of
every missing cell from p(x_missing | x_observed), and a first column ``draw`` (1..M); within a draw the rows are
in the input's order. The same seed gives the same tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .._io import atomic_write
from ..data.tables import TABLE_SUFFIXES, category_key, frame_values, read_frame
from ..defaults import IW_SAMPLES
from ..errors import DataError, VaekitError
from ..vae import VAE, load_model
from .outputs import check_out

DEFAULT_IW_SAMPLES = IW_SAMPLES


@dataclass
class FrameImputation:
    """What ``impute_table`` returns: the filled table(s) and counts for the summary line."""

    frame: pd.DataFrame  # the single imputation, or the long table of draws
    rows: int
    missing_cells: int
    empty_rows: int  # rows with no observed value: filled from the unconditional distribution
    mean_ess: float  # mean effective sample size of the importance weights (1..K)
    resampled: int = 0  # rows whose weights collapsed, imputed again with more samples (inference.imputation.ADAPT)


def impute_frame(
    model: VAE, frame: pd.DataFrame, draws: int = 0, k: int = DEFAULT_IW_SAMPLES, seed: int = 0
) -> pd.DataFrame:
    """The table ``frame`` with its missing cells (NaN / empty) filled by ``model``: the single imputation, or with
    ``draws`` = M > 0 a long table of M multiple imputations with a first column ``draw`` (1..M). Columns are
    matched to the model's by name and keep the frame's order; observed cells are returned unchanged."""
    return impute_table(model, frame, draws=draws, k=k, seed=seed).frame


def impute_table(
    model: VAE,
    frame: pd.DataFrame,
    *,
    draws: int = 0,
    k: int = DEFAULT_IW_SAMPLES,
    seed: int = 0,
    where: object = "the table",
    passthrough: tuple[str, ...] = (),
) -> FrameImputation:
    """``impute_frame`` with counts; ``passthrough`` columns (e.g. the run's label column) are copied untouched."""
    if model.schema.kind != "table":
        raise VaekitError(f"impute fills missing cells of tables; this model was trained on {model.schema.kind} data")
    if k < 1 or draws < 0:
        raise VaekitError("impute needs --iw-samples >= 1 and --draws >= 0")
    frame = frame.rename(columns=str)
    features = frame.drop(columns=[c for c in passthrough if c in frame.columns])
    x = torch.from_numpy(frame_values(features, model.schema, where))
    observed = ~torch.isnan(x)
    result = model.impute(x, k=k, draws=draws, seed=seed)
    columns = list(model.schema.columns or features.columns)
    if draws:
        parts = [_fill(frame, columns, model, result.draws[m].numpy()) for m in range(draws)]
        for m, part in enumerate(parts, start=1):
            part.insert(0, "draw", m)
        out = pd.concat(parts, ignore_index=True)
    else:
        out = _fill(frame, columns, model, result.mean.numpy())
    return FrameImputation(
        frame=out,
        rows=len(frame),
        missing_cells=int((~observed).sum()),
        empty_rows=int((~observed.any(1)).sum()),
        mean_ess=float(result.ess.mean()) if len(frame) else 0.0,
        resampled=int((result.k > k).sum()) if result.k is not None else 0,
    )


def _fill(frame: pd.DataFrame, columns: list[str], model: VAE, values: np.ndarray) -> pd.DataFrame:
    """A copy of ``frame`` whose missing cells of the model's columns hold ``values`` (N, D) (schema order)."""
    out = frame.copy()
    types = model.schema.column_types or ("numeric",) * len(columns)
    for j, (c, t) in enumerate(zip(columns, types, strict=True)):
        missing = out[c].isna().to_numpy()
        if not missing.any():
            continue
        if t == "categorical":
            names = (model.schema.categories or {})[c]
            own = {category_key(v): v for v in out[c].dropna().unique().tolist()}  # keep numbers and booleans typed
            filled = [own.get(names[int(round(v))], names[int(round(v))]) for v in values[missing, j]]
            column = out[c].astype(object)
            column[missing] = filled
            out[c] = column
        else:
            column = out[c].astype(np.float64) if not pd.api.types.is_float_dtype(out[c]) else out[c].copy()
            column[missing] = values[missing, j].astype(np.float64)
            out[c] = column
    return out


def impute_run(
    run: str | Path,
    data: str | Path | None,
    out: str | Path,
    draws: int = 0,
    iw_samples: int = DEFAULT_IW_SAMPLES,
    seed: int = 0,
    overwrite: bool = False,
) -> FrameImputation:
    """``vaekit impute``: fill the missing cells of the table ``data`` (default: the run's training table) and write
    ``out`` (.csv or .parquet) atomically; refuses to write over the input."""
    model = load_model(run)
    out = check_out(out, {".csv", ".parquet"}, "the imputed table", overwrite=overwrite)
    rec = model.record
    spec = data if data is not None else rec.data
    if spec is None or spec == "<in-memory>":
        raise VaekitError("this run was trained on in-memory data: pass --data TABLE")
    path = Path(spec).expanduser()
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise DataError(f"impute reads .csv/.tsv/.parquet tables, not {path}")
    if not path.is_file():
        raise DataError(f"no such file: {path}")
    if out.resolve() == path.resolve():
        raise VaekitError(f"--out {out} is the input table: choose another file, the input is never overwritten")
    frame = read_frame(path)
    label = rec.label_column
    result = impute_table(
        model, frame, draws=draws, k=iw_samples, seed=seed, where=path, passthrough=(label,) if label else ()
    )
    if out.suffix.lower() == ".parquet":
        atomic_write(out, lambda p: result.frame.to_parquet(p, index=False))
    else:
        atomic_write(out, lambda p: result.frame.to_csv(p, index=False))
    return result
