"""Progress display with rich, on stderr: the training display (a bar per epoch and one line per epoch) and
``task`` / ``track`` for any other long step. One process-wide switch, ``set_enabled``, silences all of it
(the CLI's ``--quiet``).

Where it shows: live bars only when stderr is an interactive terminal or a Jupyter notebook (``shown()``); a
script whose stderr goes to a file or a pipe stays silent unless it passes its own ``RichProgress``. When nothing
is shown, ``task`` and ``track`` cost nothing but a function call.

>>> from vaekit import progress
>>> with progress.task("scoring", total=len(batches)) as bar:
...     for b in batches:
...         score(b)
...         bar.advance()          # or bar.advance(len(b)) with total=number of rows
>>> for b in progress.track(batches, "scoring"):   # the same, for a loop over a sized iterable
...     score(b)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")

_state: dict[str, Any] = {"enabled": True, "console": None, "live": None}


def set_enabled(on: bool) -> None:
    """Turn every progress display of this process on or off (``vaekit --quiet`` turns it off)."""
    _state["enabled"] = bool(on)


def enabled() -> bool:
    return _state["enabled"]


def set_console(console: Console | None) -> None:
    """Send progress to ``console`` (None: back to the default, a rich Console on stderr)."""
    _state["console"] = console


def console() -> Console:
    if _state["console"] is None:
        _state["console"] = Console(stderr=True)
    return _state["console"]


def shown() -> bool:
    """Whether a progress display would show now: enabled, and stderr is a terminal or a Jupyter notebook."""
    if not enabled():
        return False
    c = console()
    return c.is_terminal or c.is_jupyter


class Task:
    """A handle on one progress bar: ``advance(n)`` moves it on by n (a no-op when nothing is shown)."""

    def __init__(self, progress: Progress | None = None, task_id: TaskID | None = None):
        self._progress, self._id = progress, task_id

    def advance(self, n: float = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._id, n)  # type: ignore[arg-type]

    def update(self, *, completed: float | None = None, total: float | None = None, description: str | None = None):
        if self._progress is not None:
            self._progress.update(self._id, completed=completed, total=total, description=description)  # type: ignore[arg-type]


@contextlib.contextmanager
def task(description: str, total: float | None = None) -> Iterator[Task]:
    """A transient progress bar on stderr for the length of the block (``total``: units to do; None: unknown).

    Tasks opened inside another task show as extra rows of the same display; when nothing is shown (see ``shown``)
    the yielded Task does nothing."""
    if not shown():
        yield Task()
        return
    outer = _state["live"]
    progress = outer or Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console(),
        transient=True,
    )
    task_id = progress.add_task(description, total=total)
    if outer is None:
        _state["live"] = progress
        progress.start()
    try:
        yield Task(progress, task_id)
    finally:
        if outer is None:
            progress.stop()
            _state["live"] = None
        else:
            progress.remove_task(task_id)


def note(text: str) -> None:
    """One line on stderr when progress is enabled, terminal or not (a log file gets it too): for steps that take
    minutes once and are cached afterwards, so that a first call says what it is doing."""
    if enabled():
        console().print(text, highlight=False, soft_wrap=True)


def track(iterable: Iterable[T], description: str, total: float | None = None) -> Iterator[T]:
    """Yield the items of ``iterable`` while a bar counts them (``total`` defaults to ``len(iterable)``)."""
    if not shown():
        yield from iterable
        return
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    with task(description, total) as bar:
        for item in iterable:
            yield item
            bar.advance()


class RichProgress:
    """The training display, a training callback (see ``vaekit.training.loop.Callback``): a transient bar per
    epoch, then one line per epoch naming the objective it shows (ELBO, or the IWAE bound with its K).

    It honours ``set_enabled``; unlike ``task`` it also prints to a stderr that is not a terminal (a log file)."""

    def __init__(self, console: Console | None = None):
        self._console = console
        self.progress: Progress | None = None
        self.task = None
        self.epochs = 0

    @property
    def console(self) -> Console:
        return self._console or console()

    def on_epoch_start(self, epoch: int, epochs: int, batches: int) -> None:
        self.epochs = epochs
        if not enabled() or not (self.console.is_terminal or self.console.is_jupyter):
            return  # a log file gets the epoch lines only (a bar there is an empty line per epoch)
        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}/{task.fields[epochs]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("loss {task.fields[loss]}"),
            console=self.console,
            transient=True,
        )
        self.progress.start()
        self.task = self.progress.add_task("train", total=batches, epoch=epoch, epochs=epochs, loss="…")

    def on_batch_end(self, batch: int, loss: float) -> None:
        if self.progress is not None and (batch % 20 == 0):
            self.progress.update(self.task, completed=batch + 1, loss=f"{loss:.2f}")

    def on_epoch_end(self, record: dict[str, float]) -> None:
        self._stop()
        if enabled():
            self.console.print(epoch_line(record, self.epochs), highlight=False, soft_wrap=True)

    def on_message(self, text: str) -> None:
        self._stop()
        if enabled():
            self.console.print(f"[yellow]{text}[/yellow]")

    def _stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def epoch_line(record: dict[str, float], epochs: int) -> str:
    """One epoch's summary. With the IWAE objective (records with ``iwae``) the bound trained on comes first and is
    named with its K (``iw_samples``); the ELBO follows as a diagnostic."""
    head = f"epoch {record['epoch']:>3}/{epochs}  "
    terms = f"rec {record['reconstruction']:9.2f}, KL {record['kl']:6.2f}"
    if "iwae" in record:
        bound = f"IWAE(K={int(record['iw_samples'])}) bound" if "iw_samples" in record else "IWAE bound"
        line = head + f"train {bound} {record['iwae']:9.2f} (ELBO {record['elbo']:9.2f}, {terms})"
        if "val_iwae" in record:
            line += f"  val {bound} {record['val_iwae']:9.2f}"
    else:
        line = head + f"train ELBO {record['elbo']:9.2f} ({terms})"
    if "val_elbo" in record:
        line += f"  val ELBO {record['val_elbo']:9.2f}"
    return line + f"  {record['seconds']:5.1f} s  {record['samples_per_s']:,.0f} samples/s"
