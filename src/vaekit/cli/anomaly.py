"""``vaekit anomaly score`` / ``calibrate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ..defaults import IW_SAMPLES
from .common import (
    DataOpt,
    OverwriteOpt,
    RunArg,
    ThreadsOpt,
    friendly,
    out_console,
)

anomaly_app = typer.Typer(
    help="Anomaly detection: score inputs, and calibrate a false-positive rate on clean data.",
    epilog="Example:  `vaekit anomaly calibrate runs/seed --data clean.npy --fpr 0.01`  ·  "
    "`vaekit anomaly score runs/seed --data new.npy --out scores.csv`",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
ScoreOpt = Annotated[
    str | None,
    typer.Option(
        "--score",
        help="excess (log of the reconstruction cost beyond the input's own gray-level entropy H(x), less "
        "a log(1 + H(x)) with a fitted by calibrate; images), relative (-log p(x|z) at the posterior mean / "
        "(1 + H(x)); images), elbo (-ELBO), iwae (-log p(x), K samples) or recon (-log p(x|z) at the posterior "
        "mean), or a comma-separated list; higher = more anomalous. [default: the calibrated score, else relative "
        "for images (Bernoulli likelihood), elbo for tables, video and series; recon for a plain autoencoder of "
        "tables]",
    ),
]
IwOpt = Annotated[int | None, typer.Option(help=f"Importance samples K for --score iwae. [default: {IW_SAMPLES}]")]


@anomaly_app.command(
    "score",
    epilog="Examples:  `vaekit anomaly score runs/seed --data mnist --out scores.csv`  ·  "
    "`vaekit anomaly score runs/tab --data new.csv --score recon,elbo --out scores.csv`  ·  "
    "`vaekit anomaly score runs/gp --data ucr:GunPoint --out scores.csv --per-step steps.csv`",
)
@friendly
def anomaly_score(
    run: RunArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV file, one row per input.")],
    data: DataOpt = None,
    split: Annotated[str, typer.Option(help="Part of DATA: test_or_all (the test split if any), test, all, val.")] = (
        "test_or_all"
    ),
    score: ScoreOpt = None,
    iw_samples: IwOpt = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the scoring noise. [default: the calibration's, or 0]")
    ] = None,
    per_step: Annotated[
        Path | None,
        typer.Option(
            "--per-step",
            help="Video and time series: also write the score of every frame / step (-ELBO of the step, nats) to "
            "this file: a long .csv (input, step, score_elbo; one row per step up to the input's last observed one, "
            "empty at a missing step) or an .npy (N, T), NaN at missing and padded steps. They sum to score_elbo.",
        ),
    ] = None,
    overwrite: OverwriteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Anomaly score of every input (CSV: score_METHOD columns), with its p-value and a 0/1 flag once calibrated.

    Scores may be a comma-separated list (e.g. recon,elbo); the calibrated one is always included. Video and time
    series models score with elbo (-ELBO summed over the observed steps); --per-step adds the score of every step."""
    from ..workflows.anomaly import Scoring, score_run

    methods = [m.strip() for m in score.split(",") if m.strip()] if score else None
    scoring = Scoring(methods, iw_samples, seed)
    r = score_run(run, out, data, split, scoring, overwrite=overwrite, per_step=per_step)
    if r.calibration is not None:
        c = r.calibration
        tail = f"{r.flagged:,} flagged at fpr {c.fpr:g} ({c.method} score above {c.threshold:.2f})"
    else:
        tail = "not calibrated: `vaekit anomaly calibrate` adds p-values and flags"
    if r.notes:  # molecules: what was read and skipped
        out_console.print(escape(r.notes), soft_wrap=True)
    steps = f"; every step's score → {r.per_step}" if r.per_step is not None else ""
    out_console.print(f"wrote {out} ({r.n:,} rows of {r.split}; {tail}){steps}", soft_wrap=True)


@anomaly_app.command(
    "calibrate",
    epilog="Examples:  `vaekit anomaly calibrate runs/seed --data clean.npy --fpr 0.01`  ·  "
    "`vaekit anomaly calibrate runs/tab` (its held-out validation rows)",
)
@friendly
def anomaly_calibrate(
    run: RunArg,
    data: Annotated[
        str | None, typer.Option("--data", help="Clean data, not used in training. [default: the run's held-out part]")
    ] = None,
    split: Annotated[str, typer.Option(help="auto: the test split if DATA has one, else the held-out part.")] = "auto",
    fpr: Annotated[float, typer.Option(help="Target false-positive rate on clean data, in (0, 1).")] = 0.01,
    score: Annotated[
        str | None,
        typer.Option(
            help="excess, relative, elbo, iwae or recon (see `vaekit anomaly score --help`). [default: excess for "
            "images, its exponent fitted on this clean data; elbo for tables, video and series; recon for a plain "
            "autoencoder of tables]"
        ),
    ] = None,
    iw_samples: IwOpt = None,
    seed: Annotated[int, typer.Option(help="Seed of the scoring noise.")] = 0,
    threads: ThreadsOpt = None,
) -> None:
    """Store the clean score distribution in RUN/anomaly.json: conformal p-values and a threshold for --fpr."""
    from ..workflows.anomaly import calibrate_run

    cal = calibrate_run(run, data, split, fpr, score, iw_samples, seed)
    k = f" (K={cal.iw_samples})" if cal.iw_samples else ""
    k = f" (exponent a = {cal.exponent:.2f}, fitted)" if cal.exponent is not None else k
    out_console.print(
        f"calibrated the {cal.method} score{k} on {cal.n:,} clean rows ({cal.split} of {cal.data}): "
        f"a score above {cal.threshold:.2f} is flagged (fpr {cal.fpr:g}) → {run / 'anomaly.json'}",
        soft_wrap=True,
    )
