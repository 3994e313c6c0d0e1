"""``vaekit export``: a run's encoder and decoder for other runtimes (ONNX)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import OverwriteOpt, RunArg, ThreadsOpt, app, friendly, out_console


@app.command(epilog="Example:  `vaekit export runs/demo --format onnx --out onnx/`")
@friendly
def export(
    run: RunArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="The folder for encoder.onnx, decoder.onnx, onnx.json.")],
    fmt: Annotated[str, typer.Option("--format", help="onnx")] = "onnx",
    overwrite: OverwriteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Write the encoder (x -> mean, log-variance) and decoder (z -> likelihood parameters) as ONNX graphs with a
    dynamic batch, checked against PyTorch with ONNX Runtime (needs `pip install 'vaekit[onnx]'`). A conditional
    model's graphs also read y, the condition features onnx.json describes."""
    from ..workflows.export import export_run

    r = export_run(run, out, fmt, overwrite=overwrite)
    diffs = ", ".join(f"{k} {v:.1e}" for k, v in r.max_abs_diff.items())
    out_console.print(f"exported {run} → {r.folder}/ (max abs difference from PyTorch: {diffs})", soft_wrap=True)
