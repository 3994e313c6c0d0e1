"""Live training display with rich: a progress bar per epoch and one summary line per epoch."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class RichProgress:
    """A training callback (see ``vaekit.training.loop.Callback``)."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.progress: Progress | None = None
        self.task = None
        self.epochs = 0

    def on_epoch_start(self, epoch: int, epochs: int, batches: int) -> None:
        self.epochs = epochs
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
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
        line = (
            f"epoch {record['epoch']:>3}/{self.epochs}  train ELBO {record['elbo']:9.2f} "
            f"(rec {record['reconstruction']:9.2f}, KL {record['kl']:6.2f})"
        )
        if "val_elbo" in record:
            line += f"  val ELBO {record['val_elbo']:9.2f}"
        line += f"  {record['seconds']:5.1f} s  {record['samples_per_s']:,.0f} samples/s"
        self.console.print(line, highlight=False, soft_wrap=True)

    def on_message(self, text: str) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
        self.console.print(f"[yellow]{text}[/yellow]")
