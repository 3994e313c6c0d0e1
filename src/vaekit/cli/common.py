"""What every ``vaekit`` command shares: the consoles, argument types, one-line errors, --threads and --debug."""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from .._runtime import set_threads
from ..errors import VaekitError
from ..models.presets import PRESET_NOTES

out_console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

DataArg = Annotated[str, typer.Argument(help="`mnist`, IDX file(s), an image folder, .npy/.npz, or .csv/.parquet.")]
RunArg = Annotated[Path, typer.Argument(help="A run folder written by `vaekit train`.")]
DataOpt = Annotated[str | None, typer.Option("--data", help="Data to use (default: the run's training data).")]
OutFile = Annotated[Path, typer.Option("--out", "-o", help="Output file; its extension picks the format.")]
ConditionOpt = Annotated[
    str | None,
    typer.Option(
        "--condition",
        help="A conditional model's y: NAME=VALUE pairs, e.g. label=7 or city=Berlin,age=40 (see `vaekit info`).",
    ),
]


def conditions(text: str | None) -> dict[str, str] | None:
    """--condition label=7 -> {"label": "7"} (None when not given)."""
    if text is None:
        return None
    from ..data.condition import parse_assignments

    return parse_assignments(text)


def tolerances(text: str | None) -> dict[str, float] | None:
    """--tolerance logp=0.3,qed=0.05 -> {"logp": 0.3, "qed": 0.05}; "off" -> {} (no check); None when not given."""
    if text is None:
        return None
    if text.strip().lower() == "off":
        return {}
    from ..data.condition import parse_assignments
    from ..errors import DataError

    out = {}
    for name, value in parse_assignments(text).items():
        try:
            out[name] = float(value)
        except ValueError:
            raise DataError(f"--tolerance {name}={value}: expected a number, e.g. {name}=0.3") from None
    return out


ThreadsOpt = Annotated[
    int | None,
    typer.Option(
        "--threads",
        min=1,
        help="Torch CPU threads (default: OMP_NUM_THREADS, else one per core). With other work on the cores, 1 can "
        "be several times faster.",
    ),
]

# typer's own exits and usage errors, passed through (its ClickException: vendored or from click, by version)
_TYPER_EXITS = (typer.Exit, typer.Abort, next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"))

# set by the root callback on every invocation (`vaekit --debug --threads N COMMAND`; VAEKIT_THREADS)
_root_options: dict[str, Any] = {"debug": False, "threads": None}


def set_root_options(debug: bool = False, threads: int | None = None) -> None:
    """Remember the options given before the command, for :func:`friendly` to apply."""
    _root_options.update(debug=debug, threads=threads)


def friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command with --threads applied and every failure reported as one line, never a traceback.

    User errors (VaekitError, OSError) exit 2; out of memory and anything else (a bug) exit 1. With --debug or
    VAEKIT_DEBUG=1 the traceback is printed first. A command's own ``threads`` keyword wins over the root's."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            threads = kwargs.get("threads")
            set_threads(threads if threads is not None else _root_options["threads"])
            return fn(*args, **kwargs)
        except _TYPER_EXITS:
            raise
        except KeyboardInterrupt:
            err_console.print("interrupted")
            raise typer.Exit(130) from None
        except VaekitError as e:
            _traceback_if_debug(e)
            _error(str(e))
        except OSError as e:
            _traceback_if_debug(e)
            _error(f"{e.strerror or e}: {e.filename or ''}".rstrip(": "))
        except Exception as e:  # a bug, or out of memory (torch's OutOfMemoryError is a RuntimeError)
            raise typer.Exit(report_failure(e, _command_name(fn))) from None

    return wrapper


def _command_name(fn: Callable[..., Any]) -> str:
    """``anomaly_score`` -> ``anomaly score``; the commands of cli/molecules.py are under ``vaekit molecules``."""
    name = fn.__name__.replace("_", " ")
    return f"molecules {name}" if fn.__module__.endswith(".molecules") else name


def debugging() -> bool:
    """Whether tracebacks are wanted: `vaekit --debug ...` or VAEKIT_DEBUG set (to anything but 0)."""
    return bool(_root_options["debug"]) or os.environ.get("VAEKIT_DEBUG", "") not in ("", "0")


def report_failure(e: BaseException, command: str | None = None) -> int:
    """Print one line for an unexpected exception (the traceback before it when debugging); return exit code 1."""
    _traceback_if_debug(e)
    where = f" while running `vaekit {command}`" if command else ""
    text = " ".join(str(e).split())
    text = text if len(text) <= 300 else text[:299] + "…"
    if isinstance(e, MemoryError) or type(e).__name__ == "OutOfMemoryError":
        detail = f" ({text})" if text else ""
        message = f"out of memory{where}{detail}; try a smaller --batch-size, less data or fewer --iw-samples"
    else:
        hint = "" if debugging() else "; run again with --debug or VAEKIT_DEBUG=1 for the traceback"
        message = f"internal error{where} ({type(e).__name__}: {text}){hint}"
    err_console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    return 1


def _traceback_if_debug(e: BaseException) -> None:
    if debugging():
        traceback.print_exception(e, file=sys.stderr)


def _error(message: str) -> NoReturn:
    """Print ``error: message`` as exactly one line (no wrapping, no markup in the message) and exit 2."""
    one_line = " ".join(message.split())
    err_console.print(f"[red]error:[/red] {escape(one_line)}", soft_wrap=True)
    raise typer.Exit(2) from None


def preset_help() -> str:
    """The --preset help, from the presets table (plain data: listing the presets does not import torch)."""
    return "; ".join(f"{name}: {note}" for name, note in PRESET_NOTES.items()) + ". [default: seed]"


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


app = typer.Typer(
    help="Variational Autoencoders for images, tables and molecules: train a model, then evaluate it, sample, "
    "reconstruct and explore its latent space; fill in missing values (impute, inpaint, denoise), score anomalies, "
    "generate and optimize molecules.",
    epilog="Example:  `vaekit train mnist --out runs/seed`  ·  `vaekit sample runs/seed --out samples.png`  ·  "
    "`vaekit COMMAND --help` for each command's options",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


OverwriteOpt = Annotated[
    bool, typer.Option("--overwrite", help="Replace --out if it exists (a file you name is never replaced without it).")
]
