"""``vaekit predict``: continue video clips and time series in several plausible ways."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from .common import DataOpt, OutFile, OverwriteOpt, RunArg, ThreadsOpt, app, friendly, out_console


@app.command(
    epilog="Examples:  `vaekit predict runs/mm --frames 10 --samples 5 --out next.gif`  ·  "
    "`vaekit predict runs/mm --input first.npy --frames 10 --out next.mp4`  ·  "
    "`vaekit predict runs/gp --data ucr:GunPoint --context 50 --frames 100 --out next.png`"
)
@friendly
def predict(
    run: RunArg,
    out: OutFile,
    given: Annotated[
        str | None,
        typer.Option(
            "--input",
            help="Clips to continue: an .npy of one clip (T, ...) or several (N, T, ...), a GIF/MP4 (video), a "
            "table or .ts file (series). All its frames are given, or the first --context.",
        ),
    ] = None,
    data: DataOpt = None,
    n: Annotated[int, typer.Option(help="How many inputs (the first N).")] = 4,
    context: Annotated[
        int | None,
        typer.Option(help="Frames given to the model; the rest of each input is the truth. [--data: a quarter]"),
    ] = None,
    frames: Annotated[int, typer.Option(help="Frames to predict after the given ones.")] = 10,
    samples: Annotated[int, typer.Option(help="Continuations per input, each a different plausible future.")] = 5,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    overwrite: OverwriteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Continue clips: the model reads the given frames, then generates --frames more, --samples times (each
    continuation draws its own latents from the learned prior). Video: a GIF/MP4 with, per input, the truth (when
    known) and each continuation after the given frames, side by side, or a PNG with a strip of frames per clip
    (truth first); series: a PNG plot (truth dashed), a CSV or an .npy (samples × inputs, given + predicted frames).
    When the truth is known, the line printed compares the best continuation's mean squared error with repeating
    the last given frame."""
    from ..workflows.frames import Inputs
    from ..workflows.frames import predict as fn

    inputs = Inputs(given=given, data=data, n=n, context=context)
    written = fn(run, out, inputs, frames=frames, samples=samples, seed=seed, overwrite=overwrite)
    out_console.print(escape(str(written)), soft_wrap=True)
