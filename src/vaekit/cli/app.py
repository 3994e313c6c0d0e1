"""``vaekit`` command line: parse, call one workflow, print its result. Errors are one line: exit code 2 for bad
input, 1 for a bug (``vaekit --debug ...`` or VAEKIT_DEBUG=1 shows its traceback).

The commands live in one module per group (train, explore, fill, anomaly, molecules); importing them registers
them on ``app`` in the order ``vaekit --help`` lists them."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from .._version import __version__
from . import train  # noqa: F401 - importing a command module registers its commands, in this order

# isort: split
from . import explore  # noqa: F401

# isort: split
from . import attributes  # noqa: F401

# isort: split
from . import fill  # noqa: F401

# isort: split
from . import export  # noqa: F401

# isort: split
from . import frames  # noqa: F401

# isort: split
from . import serve  # noqa: F401

# isort: split
from .anomaly import anomaly_app
from .common import app, out_console, report_failure, set_root_options
from .molecules import molecules_app

app.add_typer(anomaly_app, name="anomaly")
app.add_typer(molecules_app, name="molecules")


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Show the version.")] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Print the traceback of any error (also: VAEKIT_DEBUG=1).")
    ] = False,
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads",
            min=1,
            envvar="VAEKIT_THREADS",
            help="Torch CPU threads for the command (its own --threads wins). [default: OMP_NUM_THREADS, else one "
            "per core]",
        ),
    ] = None,
) -> None:
    """Options for every command, given before it: `vaekit --threads 1 train ...`."""
    set_root_options(debug, threads)
    if version:
        out_console.print(f"vaekit {__version__}")
        raise typer.Exit()


def main() -> None:
    from .._runtime import reuse_freed_memory

    reuse_freed_memory()
    try:
        app()
    except Exception as e:  # a bug outside any command (friendly() reports those inside one)
        sys.exit(report_failure(e))
