"""``vaekit inpaint``, ``denoise``, ``impute``: fill in what is missing or noisy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..defaults import IW_SAMPLES
from .common import (
    OverwriteOpt,
    RunArg,
    ThreadsOpt,
    app,
    friendly,
    out_console,
)

InputImage = Annotated[
    Path, typer.Option("--input", "-i", help="A PNG/JPEG image, or a .npy of one image or a batch (N, [C,] H, W).")
]


@app.command(
    epilog="Examples:  `vaekit inpaint runs/seed --input digit.png --mask hole.png --out filled.png`  ·  "
    "`vaekit inpaint runs/seed --input batch.npy --mask holes.npy --draws 8 --out completions.png`"
)
@friendly
def inpaint(
    run: RunArg,
    input: InputImage,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="PNG: one image as is, a batch as a grid; with --draws one row per image (conditional mean, then "
            "the draws). .npy: the input's shape; with --draws (M, *input shape), the draws.",
        ),
    ],
    mask: Annotated[
        Path | None,
        typer.Option(
            help="PNG or .npy, white / nonzero / True = a pixel to fill; (H, W) for every image or one per image "
            "(N, H, W). NaN pixels of a .npy input are filled too."
        ),
    ] = None,
    draws: Annotated[int, typer.Option(help="Alternative completions per image (0: the conditional mean only).")] = 0,
    iw_samples: Annotated[int, typer.Option(help="Importance samples K per image.")] = IW_SAMPLES,
    refine: Annotated[int, typer.Option(help="Optimization steps towards the posterior mode first (0: none).")] = 100,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    overwrite: OverwriteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Fill masked pixels given the rest: the conditional mean, or several plausible completions (--draws)."""
    from ..workflows.inpaint import inpaint_run

    r = inpaint_run(run, input, mask, out, draws=draws, k=iw_samples, refine=refine, seed=seed, overwrite=overwrite)
    images = "1 image" if r.n == 1 else f"{r.n:,} images"
    out_console.print(
        f"filled {r.filled:,} of {r.pixels:,} pixels in {images} (lowest ESS {r.ess_min:.1f} of "
        f"K={iw_samples}) → {out}",
        soft_wrap=True,
    )


@app.command(epilog="Example:  `vaekit denoise runs/dvae --input noisy.png --out clean.png`")
@friendly
def denoise(
    run: RunArg,
    input: InputImage,
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG (one image as is, a batch as a grid) or .npy.")],
    samples: Annotated[
        int, typer.Option(help="Average the decoded means of this many draws of q(z|x) (0: the posterior mean).")
    ] = 0,
    seed: Annotated[int, typer.Option(help="Seed for --samples.")] = 0,
    overwrite: OverwriteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Clean noisy images: the model's reconstruction of them (a learned denoiser when trained with --corrupt)."""
    from ..workflows.inpaint import denoise_run

    r = denoise_run(run, input, out, samples=samples, seed=seed, overwrite=overwrite)
    images = "1 image" if r.n == 1 else f"{r.n:,} images"
    note = "" if r.corrupt else " (the run was trained without --corrupt: its plain reconstruction)"
    out_console.print(f"denoised {images} → {out}{note}", soft_wrap=True)


@app.command(
    epilog="Examples:  `vaekit impute runs/tab --data holes.csv --out filled.csv`  ·  "
    "`vaekit impute runs/tab --data holes.csv --draws 20 --out draws.csv`  ·  "
    "`vaekit impute runs/gp --data gaps.csv --out filled.csv` (time series)"
)
@friendly
def impute(
    run: RunArg,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="The filled table: .csv or .parquet (never the input). Time series: a wide table comes back as "
            "itself, other inputs as a long .csv/.parquet (series, step, channels); .npy (N, T, D) and .ts too.",
        ),
    ],
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="A .csv/.parquet table with empty cells. Time series: a wide table (one row per series), a .ts "
            "file, an .npy (N, T, D) or ucr:Name, NaN / empty / ? where missing. [default: the run's data]",
        ),
    ] = None,
    draws: Annotated[
        int, typer.Option(help="Multiple imputation: M draws in one long table with a first column `draw` (1..M).")
    ] = 0,
    iw_samples: Annotated[int, typer.Option(help="Importance samples K per row.")] = IW_SAMPLES,
    method: Annotated[
        str | None,
        typer.Option(
            help="Time series: how gaps are filled: elbo (the missing values moved up the model's ELBO of the whole "
            "series, from linear interpolation), iterate (repeated teacher-forced reconstruction) or linear "
            "(interpolation, no model). [default: elbo]"
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same output).")] = 0,
    overwrite: OverwriteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Fill the missing cells of a table: the conditional mean given each row's observed cells (categorical: the
    most probable category), observed cells unchanged; or --draws M multiple imputations. A time series model fills
    the gaps of series (missing values before each series' end) given the whole series."""
    from ..workflows.impute import impute_run

    r = impute_run(run, data, out, draws=draws, iw_samples=iw_samples, seed=seed, overwrite=overwrite, method=method)
    out_console.print(r.summary, soft_wrap=True)
