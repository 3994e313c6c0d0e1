"""What every ``vaekit`` command shares: the consoles, argument types, one-line errors."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import VaekitError

out_console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

DataArg = Annotated[str, typer.Argument(help="`mnist`, IDX file(s), an image folder, .npy/.npz, or .csv/.parquet.")]
RunArg = Annotated[Path, typer.Argument(help="A run folder written by `vaekit train`.")]
DataOpt = Annotated[str | None, typer.Option("--data", help="Data to use (default: the run's training data).")]
OutFile = Annotated[Path, typer.Option("--out", "-o", help="Output file; its extension picks the format.")]


def friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn user errors into one red line and exit code 2, instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except VaekitError as e:
            _error(str(e))
        except OSError as e:
            _error(f"{e.strerror or e}: {e.filename or ''}".rstrip(": "))
        except KeyboardInterrupt:
            err_console.print("interrupted")
            raise typer.Exit(130) from None

    return wrapper


def _error(message: str) -> NoReturn:
    """Print ``error: message`` as exactly one line (no wrapping, no markup in the message) and exit 2."""
    one_line = " ".join(message.split())
    err_console.print(f"[red]error:[/red] {escape(one_line)}", soft_wrap=True)
    raise typer.Exit(2) from None


def _ints(text: str | None, what: str) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(t) for t in text.replace(" ", "").split(",") if t]
    except ValueError:
        raise VaekitError(f"{what} must be comma-separated integers, got '{text}'") from None


def _names(text: str | None) -> list[str] | None:
    """Comma-separated column names -> a list (None when not given)."""
    if text is None:
        return None
    return [t.strip() for t in text.split(",") if t.strip()]


def _summary(r: dict[str, Any], run: Path) -> str:
    """The one line that sums up an evaluation: split, ELBO, NLL when importance sampling ran, the run."""
    nll = f", NLL {r['nll']:.2f} (K={r['iw_samples']})" if "nll" in r else ""
    parts = f"reconstruction {r['reconstruction']:.2f}, KL {r['kl']:.2f}"
    return f"{r['split']} ELBO {r['elbo']:.2f} nats{nll} ({parts}) · {run}"


def _explicit(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _sequence_run(run: Path) -> bool:
    """Whether RUN holds a sequence (molecule) model: read from its config.json, so molecule support (RDKit) is
    imported only for molecule runs."""
    from ..bundle import read_config

    return read_config(run).get("schema", {}).get("kind") == "sequence"


