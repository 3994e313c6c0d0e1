"""Missing values in tables: fill them from a trained model (``vaekit impute``, ``vaekit.impute_frame``).

Single imputation fills each missing cell with the importance-weighted conditional mean given the row's observed
cells (a categorical cell: the most probable category under the weighted mixture; see ``vaekit.inference.imputation``).
Observed cells are copied from the input as they are (not even rounded to float32), and the output keeps the
input's columns in the input's order. A row with no observed value at all is filled from the model's
unconditional distribution (its weights come from the prior alone); such rows are counted.

Time series (a series model): ``vaekit impute`` fills the gaps of series instead, the missing values before each
series' last observed step (``vaekit.inference.series_gaps``); see ``impute_series``.

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
from .frames import channel_names
from .outputs import check_out, save_array

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
    summary: str = ""  # the line ``vaekit impute`` prints (set by ``impute_run``)


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
    method: str | None = None,
) -> FrameImputation | SeriesImputation:
    """``vaekit impute``: fill the missing cells of the table ``data`` (default: the run's training table) and write
    ``out`` (.csv or .parquet) atomically; refuses to write over the input. A series model fills the gaps of series
    instead (``impute_series``; ``method``: see ``vaekit.inference.series_gaps``)."""
    model = load_model(run)
    if getattr(model, "is_frames", False):
        return impute_series(model, data, out, method=method, seed=seed, overwrite=overwrite, draws=draws)
    if method is not None:
        raise VaekitError("--method applies to time series models (how gaps are filled); tables use the model's mean")
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
    result.summary = _table_line(result, draws, iw_samples, out)
    return result


def _table_line(r: FrameImputation, draws: int, iw_samples: int, out: Path) -> str:
    from ..inference.imputation import ADAPT

    what = f"{draws} draws" if draws else "the conditional mean"
    empty = (
        f"; {r.empty_rows:,} rows had no observed value and were filled from the model's unconditional distribution"
        if r.empty_rows
        else ""
    )
    again = f"; {r.resampled:,} rows with collapsed weights sampled again with {ADAPT}×K" if r.resampled else ""
    return (
        f"filled {r.missing_cells:,} missing cells in {r.rows:,} rows with {what} (mean ESS {r.mean_ess:.1f} of "
        f"{iw_samples}{again}){empty} → {out}"
    )


# -- time series: fill the gaps of series ---------------------------------------------------------------------
SERIES_OUT = {".csv", ".parquet", ".npy", ".ts"}


@dataclass
class SeriesImputation:
    """What ``impute_series`` wrote: the filled series (N, T, D), how many values it filled in how many series."""

    values: torch.Tensor
    filled: int
    series: int
    method: str
    summary: str = ""


def impute_series(
    model: VAE,
    data: str | Path | None,
    out: str | Path,
    *,
    method: str | None = None,
    seed: int = 0,
    overwrite: bool = False,
    draws: int = 0,
) -> SeriesImputation:
    """Fill the gaps of the series in ``data`` (default: the run's data, its test split when it has one) and write
    ``out``: a wide table read from ``data`` comes back as that table with its gap cells filled (.csv/.parquet);
    other inputs (.ts, .npy, ucr:Name) as a long .csv/.parquet (series, step, one column per channel), an .npy
    (N, T, D) (NaN after each series' end) or a .ts file. Observed values and the end padding are left as they are."""
    from ..inference.series_gaps import DEFAULT_METHOD, fill_gaps

    if model.schema.kind != "series":
        raise VaekitError(
            f"impute fills the gaps of time series and the cells of tables; this run is a {model.schema.kind} model "
            "(filling frames of video clips is not offered)"
        )
    if draws:
        raise VaekitError("--draws applies to tables: a series model fills each gap once (its best fill)")
    out = check_out(out, SERIES_OUT, "the filled series", overwrite=overwrite)
    x, table, path = _series_input(model, data)
    if path is not None and out.resolve() == path.resolve():
        raise VaekitError(f"--out {out} is the input: choose another file, the input is never overwritten")
    result = fill_gaps(model, x, method or DEFAULT_METHOD, seed=seed)
    values = result.values.cpu()
    _write_series(model, values, out, table)
    n = int(result.gaps.flatten(1).any(1).sum())
    line = (
        f"filled {int(result.gaps.sum()):,} missing values in {n:,} of {len(values):,} series ({result.method}"
        f"{f', {result.steps} steps' if result.method != 'linear' else ''}) → {out}"
    )
    return SeriesImputation(values, int(result.gaps.sum()), n, result.method, line)


def _series_input(model: VAE, data: str | Path | None) -> tuple[torch.Tensor, pd.DataFrame | None, Path | None]:
    """(series (N, T, D) with NaN, the wide table they came from or None, the input file or None)."""
    from ..data.arrays import read_npy_safely
    from .data import select_arrays

    if model.run_config.get("training", {}).get("id_column") and data is not None:
        if Path(str(data)).suffix.lower() in TABLE_SUFFIXES:
            raise VaekitError("this run was trained on a long table: pass the series to fill as a wide table "
                              "(one row per series), a .ts file or an .npy (N, T, D)")  # fmt: skip
    path = Path(str(data)).expanduser() if data is not None else None
    if path is not None and path.suffix.lower() == ".npy":
        raw = torch.as_tensor(read_npy_safely(path).astype(np.float32))
        return (raw[..., None] if raw.dim() == 2 and model.schema.shape[-1] == 1 else raw), None, path
    x = select_arrays(model, str(data) if data is not None else None, "test_or_all").x
    table = None
    if path is not None and path.suffix.lower() in TABLE_SUFFIXES and path.is_file():
        table = read_frame(path).rename(columns=str)
    return x, table, path


def _write_series(model: VAE, values: torch.Tensor, out: Path, table: pd.DataFrame | None) -> None:
    suffix = out.suffix.lower()
    if suffix == ".npy":
        save_array(values, out)
    elif suffix == ".ts":
        text = series_ts_text(values.numpy(), channel_names(model))
        atomic_write(out, lambda p: Path(p).write_text(text, encoding="utf-8"))
    else:
        frame = _wide_filled(model, values, table) if table is not None else _long_frame(model, values)
        if suffix == ".parquet":
            atomic_write(out, lambda p: frame.to_parquet(p, index=False))
        else:
            atomic_write(out, lambda p: frame.to_csv(p, index=False))


def _wide_filled(model: VAE, values: torch.Tensor, table: pd.DataFrame) -> pd.DataFrame:
    """The wide input table with its gap cells filled (its label column, when the run has one, untouched)."""
    label = model.record.label_column
    steps = [c for c in table.columns if c != label]
    out = table.copy()
    filled = values[:, : len(steps), 0].double().numpy()
    for j, c in enumerate(steps):
        column = out[c].astype(np.float64)
        missing = column.isna().to_numpy() & ~np.isnan(filled[:, j])
        column[missing] = filled[missing, j]
        out[c] = column
    return out


def _long_frame(model: VAE, values: torch.Tensor) -> pd.DataFrame:
    """Series (N, T, D) as a long table: series, step, one column per channel; no rows after a series' end."""
    from ..inference.series_gaps import series_ends

    ends = series_ends(values).numpy()
    rows, steps = np.nonzero(np.arange(values.shape[1])[None, :] < ends[:, None])
    frame = pd.DataFrame(values.numpy()[rows, steps], columns=channel_names(model))
    frame.insert(0, "step", steps)
    frame.insert(0, "series", rows)
    return frame


def series_ts_text(values: np.ndarray, channels: list[str]) -> str:
    """Series (N, T, D) (NaN after a series' end) as the text of a UCR/UEA ``.ts`` file, no labels; a missing
    value inside a series is written as ``?``."""
    n, t, d = values.shape
    present = ~np.isnan(values).all(-1)
    ends = np.where(present.any(1), t - np.argmax(present[:, ::-1], axis=1), 0)
    equal = bool((ends == t).all())
    inside = np.arange(t)[None, :, None] < ends[:, None, None]
    head = [
        f"# series filled by vaekit impute; channels: {', '.join(channels)}",
        "@problemName filled",
        "@timeStamps false",
        f"@missing {'true' if bool((np.isnan(values) & inside).any()) else 'false'}",
        f"@univariate {'true' if d == 1 else 'false'}",
        *([f"@dimensions {d}"] if d > 1 else []),
        f"@equalLength {'true' if equal else 'false'}",
        *([f"@seriesLength {t}"] if equal else []),
        "@classLabel false",
        "@data",
    ]
    lines = [
        ":".join(",".join("?" if np.isnan(v) else repr(float(v)) for v in values[i, : ends[i], c]) for c in range(d))
        for i in range(n)
    ]
    return "\n".join(head + lines) + "\n"
