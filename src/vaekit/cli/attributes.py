"""``vaekit attributes`` and ``vaekit edit``: attribute vectors of a run, and edits along them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import VaekitError
from .common import (
    ConditionOpt,
    DataOpt,
    OutFile,
    OverwriteOpt,
    RunArg,
    ThreadsOpt,
    _names,
    app,
    conditions,
    friendly,
    out_console,
)


@app.command(
    epilog="Examples:  `vaekit attributes runs/shapes --columns scale,shape`  ·  "
    "`vaekit attributes runs/faces --data celeba/img --columns Smiling,Young`"
)
@friendly
def attributes(
    run: RunArg,
    data: DataOpt = None,
    columns: Annotated[
        str | None,
        typer.Option(
            help="Attributes to compute, e.g. smiling,young (default: every attribute of DATA: its labels, "
            "factors, attribute file, table columns)."
        ),
    ] = None,
    split: Annotated[
        str, typer.Option(help="Which part of DATA to encode: train, test, all; auto: its training split.")
    ] = "auto",
    threads: ThreadsOpt = None,
) -> None:
    """Attribute vectors: the mean latent code of inputs with an attribute minus the mean code of inputs without it
    (White, 2016), stored in RUN/attributes.json for `vaekit edit`.

    Binary attributes (0/1, two categories) compare the two groups; for other numbers the vector is the change of
    the mean code per standard deviation (amount 1 = one standard deviation larger); a
    category of a categorical attribute with more values gets a vector "NAME=CATEGORY" against the rest. The
    attributes named are computed again, the others in attributes.json kept."""
    from ..workflows.attributes import attributes as fn

    r = fn(run, data, _names(columns), split)
    table = Table(title=f"attribute vectors of {run} ({r.split} of {r.data}: {r.n:,} inputs)")
    for col, justify in (("attribute", "left"), ("inputs with", "right"), ("without", "right"), ("|v|", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for row in r.vectors:
        table.add_row(escape(row.name), f"{row.positive:,}", f"{row.negative:,}", f"{row.norm:.3f}")
    out_console.print(table)
    for why in r.skipped:
        out_console.print(f"skipped {escape(why)}", soft_wrap=True)
    kept = f" (kept {r.kept} other vector{'s' if r.kept != 1 else ''})" if r.kept else ""
    out_console.print(f"wrote {r.path}{kept}", soft_wrap=True)


@app.command(
    epilog="Examples:  `vaekit edit runs/shapes --index 0 --attribute scale --amounts -2,-1,0,1,2 --out strip.png`"
    "  ·  `vaekit edit runs/faces --input me.jpg --attribute Smiling --out smile.gif`"
)
@friendly
def edit(
    run: RunArg,
    out: OutFile,
    attribute: Annotated[
        str, typer.Option("--attribute", help="A stored vector's name (`vaekit attributes` lists them).")
    ],
    amounts: Annotated[
        str, typer.Option(help="Multiples of the vector added to the input's code, comma-separated.")
    ] = "-2,-1,0,1,2",
    input: Annotated[
        Path | None, typer.Option("--input", help="An image file (PNG/JPEG), converted to the model's size.")
    ] = None,
    data: DataOpt = None,
    index: Annotated[
        int | None, typer.Option(help="Row I of DATA (its test split when it has one) instead of --input.")
    ] = None,
    condition: ConditionOpt = None,
    overwrite: OverwriteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Add or remove an attribute: decode the input's code plus each amount times the attribute's vector (PNG
    strip, amounts left to right; animated GIF; .npy; tables: a .csv with a row per amount). Amount 0 is the
    reconstruction. A conditional model encodes and decodes with --condition, else with the row's own."""
    from ..workflows.attributes import EditInput
    from ..workflows.attributes import edit as fn

    source = EditInput(input, data, index)
    written = fn(run, source, attribute, _floats(amounts), out, condition=conditions(condition), overwrite=overwrite)
    out_console.print(escape(str(written)), soft_wrap=True)


def _floats(text: str) -> list[float]:
    try:
        return [float(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError:
        raise VaekitError(f"--amounts must be comma-separated numbers, got '{text}'") from None
