"""Video clips and time series (a frames model, ``vaekit.nn.frames``): the files the explore commands write for
them, and ``vaekit predict``, which continues clips in several plausible ways.

Clips (N, T, C, H, W) are written as ONE animated GIF or MP4 (the clips side by side, ``vaekit.data.video``) or as
an ``.npy``; series (N, T, D) as a PNG plot (a panel per series, a line per channel), a long CSV (series, step,
one column per channel) or an ``.npy``. A prediction shows, per input, the given frames followed by each sampled
continuation (and the true continuation when the input was cut from a longer clip).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .._io import atomic_write
from ..data.video import write_clips_gif, write_clips_mp4
from ..errors import VaekitError
from ..vae import VAE, load_model
from .data import select_arrays
from .outputs import check_out, grid, save_array, save_image

VIDEO_EXT, SERIES_EXT, ARRAY = {".gif", ".mp4"}, {".png", ".csv"}, {".npy"}


def frame_formats(model: VAE) -> set[str]:
    """The files a frames model's clips can be written to."""
    return (VIDEO_EXT if model.schema.kind == "video" else SERIES_EXT) | ARRAY


def write_frames(model: VAE, x: torch.Tensor, out: Path, *, columns: int | None = None, fps: float = 8) -> None:
    """Clips or series ``x`` (N, T, *frame) to ``out`` by its extension (module docstring)."""
    suffix = out.suffix.lower()
    if suffix not in frame_formats(model):
        raise VaekitError(
            f"cannot write {model.schema.kind} to '{out}': expected a file ending in "
            + ", ".join(sorted(frame_formats(model)))
        )
    values = x.detach().float().cpu()
    if suffix == ".npy":
        save_array(values, out)
    elif suffix == ".gif":
        write_clips_gif(out, values.clamp(0, 1).numpy(), fps=fps, columns=columns)
    elif suffix == ".mp4":
        write_clips_mp4(out, values.clamp(0, 1).numpy(), fps=fps, columns=columns)
    elif suffix == ".csv":
        _series_csv(model, values, out)
    else:
        _series_plot(model, [values], out, context=0)


def channel_names(model: VAE) -> list[str]:
    """The names of a series model's channels: its columns, else x0, x1, ..."""
    d = model.schema.shape[-1]
    return list(model.schema.columns) if model.schema.columns else [f"x{i}" for i in range(d)]


def _series_csv(model: VAE, x: torch.Tensor, out: Path) -> None:
    import pandas as pd

    n, t, d = x.shape
    frame = pd.DataFrame(x.reshape(n * t, d).numpy(), columns=channel_names(model))
    frame.insert(0, "step", np.tile(np.arange(t), n))
    frame.insert(0, "series", np.repeat(np.arange(n), t))
    atomic_write(out, lambda p: frame.to_csv(p, index=False))


def _series_plot(model: VAE, groups: list[torch.Tensor], out: Path, context: int, truth: torch.Tensor | None = None):
    """A panel per series: ``groups`` (each (N, T, D)) drawn over each other (the first solid, the others thin: the
    sampled continuations), ``truth`` (N, T', D) dashed, a line at step ``context`` where the given part ends."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(len(groups[0]), 12)
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.6 * rows), squeeze=False)
    names = channel_names(model)
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.axis("off")
            continue
        for g, values in enumerate(groups):
            for c in range(values.shape[-1]):
                colour = f"C{c % 10}"
                label = names[c] if g == 0 and i == 0 else None
                ax.plot(values[i, :, c].numpy(), color=colour, lw=1.4 if g == 0 else 0.8, alpha=1 if g == 0 else 0.6,
                        label=label)  # fmt: skip
        if truth is not None:
            for c in range(truth.shape[-1]):
                ax.plot(truth[i, :, c].numpy(), color="black", lw=1.0, ls="--", label="truth" if i == c == 0 else None)
        if context:
            ax.axvline(context - 0.5, color="grey", lw=0.8)
        ax.set_title(f"series {i}", fontsize=8)
    if len(names) <= 8:
        axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    atomic_write(out, lambda p: fig.savefig(p, format="png", dpi=110))
    plt.close(fig)


@dataclass
class Prediction:
    """What ``predict`` wrote: the continuations (samples, N, frames, *frame), the file, one line for the user, and
    (when the true continuation is known) the mean squared error of the best of the samples per input and of
    repeating the last given frame."""

    continuations: torch.Tensor
    path: Path
    line: str
    best_mse: float | None = None
    copy_last_mse: float | None = None

    def __str__(self) -> str:
        return self.line


def _read_input(model: VAE, path: Path) -> torch.Tensor:
    """Clips (N, T, *frame) from ``path``: an .npy of one clip (T, *frame) or of several, or (video) a GIF/MP4 or
    frame folder, (series) a table or .ts file; its frames must have the model's shape."""
    from ..data import ReadOptions, load_dataset
    from ..data.arrays import read_npy_safely

    frame = tuple(model.schema.shape[1:])
    if path.suffix.lower() == ".npy":
        raw = read_npy_safely(path)
        x = torch.as_tensor(raw.astype(np.float32) / (255 if raw.dtype == np.uint8 else 1))
        if model.schema.kind == "video" and x.dim() >= 3 and x.shape[-1] in (1, 3) and x.shape[-3] not in (1, 3):
            x = x.movedim(-1, -3)  # (…, H, W, C) -> (…, C, H, W)
        if model.schema.kind == "video" and x.dim() == len(frame) and frame[0] == 1:
            x = x.unsqueeze(-3)  # gray frames without a channel axis
    else:
        data = load_dataset(path, read=ReadOptions(kind=model.schema.kind))
        x = data.splits[data.train_split]
    x = x[None] if x.dim() == len(frame) + 1 else x
    if x.dim() != len(frame) + 2 or tuple(x.shape[2:]) != frame:
        raise VaekitError(
            f"{path} holds frames of shape {tuple(x.shape[2:]) if x.dim() > 2 else tuple(x.shape)}: the model reads "
            f"frames of shape {frame} ((T, *frame) for one clip, (N, T, *frame) for several)"
        )
    return x


def _inputs(model: VAE, inputs: Inputs) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(the first ``context`` frames of each input (N, k, *frame), the true rest (N, T - k, *frame) or None)."""
    if inputs.given is not None:
        x = _read_input(model, Path(inputs.given).expanduser())[: inputs.n]
        k = x.shape[1] if inputs.context is None else inputs.context
    else:
        x = select_arrays(model, inputs.data, "test_or_all").x[: inputs.n]
        k = max(1, x.shape[1] // 4) if inputs.context is None else inputs.context
    if not 1 <= k <= x.shape[1]:
        raise VaekitError(f"--context {k}: the input clips have {x.shape[1]} frames (at least 1 must be given)")
    return x[:, :k], (x[:, k:] if k < x.shape[1] else None)


@dataclass(frozen=True)
class Inputs:
    """What ``predict`` continues: the clips of ``given`` (a file: all its frames are given, or the first
    ``context``) or of ``data`` (default: the run's test data; the first ``context`` frames are given, by default a
    quarter, and the rest is the truth); the first ``n`` of them."""

    given: str | None = None
    data: str | None = None
    n: int = 4
    context: int | None = None


def predict(
    run: str | Path,
    out: str | Path,
    inputs: Inputs | None = None,
    *,
    frames: int = 10,
    samples: int = 5,
    seed: int = 0,
    overwrite: bool = False,
) -> Prediction:
    """Continue clips: ``samples`` continuations of ``frames`` frames for each of the ``inputs`` (default: the first
    4 test clips, a quarter of each given)."""
    inputs = inputs or Inputs()
    model = load_model(run)
    if not getattr(model, "is_frames", False):
        raise VaekitError(f"predict continues video clips and time series; this run is a {model.schema.kind} model")
    out = check_out(out, frame_formats(model) | {".png"}, "predicted frames", overwrite=overwrite)
    for name, value in (("--n", inputs.n), ("--frames", frames), ("--samples", samples)):
        if value < 1:
            raise VaekitError(f"{name} must be at least 1")
    seen, truth = _inputs(model, inputs)
    with torch.no_grad():
        cont = model.predict_frames(seen, frames, samples, torch.Generator().manual_seed(seed)).cpu()
    best = copy = None
    if truth is not None:
        m = min(frames, truth.shape[1])
        err = (cont[:, :, :m] - truth[None, :, :m]).square().nan_to_num()
        best = float(err.flatten(2).mean(2).min(0).values.mean())
        copy = float((seen[:, -1:] - truth[:, :m]).square().nan_to_num().mean())
    _write_prediction(model, seen, cont, truth, out)
    line = f"wrote {samples} continuation(s) of {frames} frames for {len(seen)} input(s) → {out}"
    if best is not None:
        line += f"; mean squared error, best of {samples}: {best:.4g} (repeating the last given frame: {copy:.4g})"
    return Prediction(cont, out, line, best, copy)


def _write_prediction(model: VAE, seen, cont, truth, out: Path) -> None:
    """Per input: the truth (given + true rest, when known), then each continuation after the given frames."""
    samples, n, frames = cont.shape[:3]
    full = torch.cat([seen[None].expand(samples, *seen.shape), cont], 2)  # (S, N, k + frames, *frame)
    if out.suffix.lower() in SERIES_EXT | {".npy"} and model.schema.kind == "series":
        if out.suffix.lower() == ".png":
            true = torch.cat([seen, truth], 1) if truth is not None else None
            _series_plot(model, list(full), out, context=seen.shape[1], truth=true)
            return
        write_frames(model, full.flatten(0, 1), out)
        return
    rows = []
    for i in range(n):
        if truth is not None:
            clip = torch.cat([seen[i], truth[i]])[: full.shape[2]]
            pad = full.shape[2] - len(clip)
            rows.append(torch.cat([clip, torch.zeros(pad, *clip.shape[1:])]) if pad else clip)
        rows.extend(full[:, i])
    if out.suffix.lower() == ".png":  # a strip per clip, a column per frame: the truth first, then each sample
        strips = torch.stack(rows)
        save_image(grid(strips.flatten(0, 1).clamp(0, 1), strips.shape[1]), out)
        return
    write_frames(model, torch.stack(rows), out, columns=samples + (truth is not None))
