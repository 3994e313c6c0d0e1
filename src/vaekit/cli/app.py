"""``vaekit`` command line: parse, call one library function, print. Errors are one line: exit code 2 for bad
input, 1 for a bug (``vaekit --debug ...`` or VAEKIT_DEBUG=1 shows its traceback)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.markup import escape
from rich.table import Table

from .._version import __version__
from .common import (
    DataArg,
    DataOpt,
    OutFile,
    RunArg,
    ThreadsOpt,
    _error,
    _explicit,
    _ints,
    _names,
    _summary,
    err_console,
    friendly,
    out_console,
    preset_help,
    report_failure,
    set_root_options,
)

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


@app.command(
    epilog="Examples:  `vaekit train mnist --out runs/seed`  ·  "
    "`vaekit train mnist --out runs/conv --preset conv --epochs 20`  ·  "
    "`vaekit train data.csv --out runs/tab --latent-dim 4`  ·  `vaekit train mnist --out runs/seed --resume`"
)
@friendly
def train(
    data: DataArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder to write (bundle, metrics.jsonl).")],
    preset: Annotated[
        str | None,
        typer.Option(help=preset_help()),
    ] = None,
    model_kind: Annotated[
        Literal["vae", "sequence"] | None,
        typer.Option(
            "--model",
            help="sequence: the GRU sequence VAE for molecules; DATA is moses (with --subset N) or a "
            ".smi/.txt/.csv file of SMILES. [default: vae]",
        ),
    ] = None,
    representation: Annotated[
        Literal["selfies", "smiles"] | None,
        typer.Option(help="Molecules: the tokens the model reads and writes, SELFIES or SMILES. [selfies]"),
    ] = None,
    properties: Annotated[
        str | None,
        typer.Option(help="Molecules: properties the head on z learns (qed, logp, sa, weight; or none). [qed,logp,sa]"),
    ] = None,
    smiles_column: Annotated[str | None, typer.Option(help="Molecules: the SMILES column of a .csv table.")] = None,
    free_bits: Annotated[
        float | None, typer.Option(help="Nats per latent dimension the KL term is held at (against collapse).")
    ] = None,
    word_dropout: Annotated[
        float | None,
        typer.Option(help="Molecules: share of the decoder's input tokens hidden in training (against collapse). [0]"),
    ] = None,
    precision: Annotated[
        Literal["auto", "fp32", "bf16"] | None,
        typer.Option(help="auto: bf16 autocast on CUDA, and for sequence models on CPUs with fast bf16. [auto]"),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Training epochs. [default: 10; best: 40]")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size. [default: 128]")] = None,
    lr: Annotated[float | None, typer.Option(help="Adam learning rate. [default: 1e-3]")] = None,
    latent_dim: Annotated[int | None, typer.Option(help="Latent dimensions. [default: 20]")] = None,
    hidden: Annotated[str | None, typer.Option(help="MLP hidden sizes, e.g. 512,256. [default: 400]")] = None,
    beta: Annotated[float | None, typer.Option(help="KL weight (beta-VAE). [default: 1]")] = None,
    kl_warmup: Annotated[float | None, typer.Option(help="Epochs of linear KL warm-up. [default: 0]")] = None,
    objective: Annotated[
        Literal["elbo", "iwae"] | None, typer.Option(help="elbo, or iwae: the K-sample bound. [default: elbo]")
    ] = None,
    iw_samples: Annotated[int | None, typer.Option(help="K for --objective iwae. [default: 5]")] = None,
    autoencoder: Annotated[bool | None, typer.Option("--autoencoder", help="Plain autoencoder (no KL).")] = None,
    likelihood: Annotated[
        str | None, typer.Option(help="auto, bernoulli, gaussian or studentt (heavy tails). [default: auto]")
    ] = None,
    binarize: Annotated[
        Literal["auto", "none", "dynamic", "static"] | None,
        typer.Option(help="auto: dynamic for grayscale images. [default: auto]"),
    ] = None,
    val_fraction: Annotated[float | None, typer.Option(help="Held out for validation. [default: 0.1]")] = None,
    early_stopping: Annotated[int | None, typer.Option(help="Patience in epochs (off by default).")] = None,
    time_limit: Annotated[
        float | None,
        typer.Option(help="Stop after this many minutes of training, part-way through an epoch if need be. [best: 60]"),
    ] = None,
    subset: Annotated[int | None, typer.Option(help="Train on a random subset of N samples.")] = None,
    corrupt: Annotated[
        str | None,
        typer.Option(
            help="Denoising VAE: the encoder sees a freshly corrupted copy of each batch, the loss scores the clean "
            "one. gaussian:S (noise std S; pixel units for images), saltpepper:P or dropout:P (share P of values)."
        ),
    ] = None,
    image_size: Annotated[int | None, typer.Option(help="Resize folder images to N×N.")] = None,
    label_column: Annotated[str | None, typer.Option(help="Table column holding class labels.")] = None,
    categorical: Annotated[
        str | None, typer.Option(help="Table columns to treat as categorical, e.g. zip,grade (integer codes).")
    ] = None,
    numeric: Annotated[str | None, typer.Option(help="Table columns to treat as numeric (e.g. 0/1 booleans).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed. [default: 0]")] = None,
    device: Annotated[Literal["auto", "cpu", "cuda"] | None, typer.Option(help="[default: auto]")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a run already in --out.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
    threads: ThreadsOpt = None,
) -> None:
    """Train a VAE (or a plain autoencoder) and save it as a run folder, resumable after any interruption."""
    from ..progress import RichProgress
    from ..training import train as train_fn

    if model_kind == "sequence":
        if preset not in (None, "sequence"):
            _error(f"--model sequence and --preset {preset} do not go together")
        preset = "sequence"
    model = train_fn(
        data,
        out,
        resume=resume,
        overwrite=overwrite,
        callbacks=[] if quiet else [RichProgress(err_console)],
        **_explicit(
            preset=preset,
            latent_dim=latent_dim,
            hidden=_ints(hidden, "--hidden"),
            autoencoder=autoencoder,
            likelihood=likelihood,
            image_size=image_size,
            label_column=label_column,
            categorical=_names(categorical),
            numeric=_names(numeric),
            representation=representation,
            properties=properties,
            smiles_column=smiles_column,
            free_bits=free_bits,
            word_dropout=word_dropout,
            precision=precision,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            beta=beta,
            kl_warmup=kl_warmup,
            objective=objective,
            iw_samples=iw_samples,
            binarize=binarize,
            val_fraction=val_fraction,
            early_stopping=early_stopping,
            time_limit=time_limit,
            subset=subset,
            corrupt=corrupt,
            seed=seed,
            device=device,
        ),
    )
    result = model.run_config["training"]["result"]
    best = result.get("best_val")
    tail = f", best {result['selected_by']} {best:.2f} at epoch {result['best_epoch']}" if best is not None else ""
    out_console.print(f"trained {result['epochs_completed']} epochs{tail} → {out}")


@app.command(
    epilog="Examples:  `vaekit evaluate runs/seed`  ·  `vaekit evaluate runs/tab --data other.csv`  ·  "
    "`vaekit evaluate runs/mol --data held_out.smi`"
)
@friendly
def evaluate(
    run: RunArg,
    data: DataOpt = None,
    split: Annotated[
        str,
        typer.Option(help="test, val, train, all; auto: test if the data has one, else the run's validation part."),
    ] = "auto",
    seed: Annotated[int, typer.Option(help="Seed of the evaluation noise.")] = 0,
    iw_samples: Annotated[
        int | None,
        typer.Option(
            help="Importance samples K for log p(x); 0 skips it (ELBO only). [default: 1000; molecules: 100, each "
            "sample is a full pass of the GRU decoder]"
        ),
    ] = None,
    precision: Annotated[
        Literal["auto", "fp32", "bf16"],
        typer.Option(help="Network precision for importance sampling; auto: bf16 where the CPU/GPU has it."),
    ] = "auto",
    per_sample: Annotated[Path | None, typer.Option(help="Also write one row per input to this .csv.")] = None,
    device: Annotated[Literal["auto", "cpu", "cuda"], typer.Option(help="auto: cuda when present.")] = "auto",
    overwrite: OverwriteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """ELBO, importance-weighted log p(x) (K samples), bits/dim, KL per dimension and active units.

    Writes RUN/eval.json for the run's own data on the default split (what `vaekit report` shows), else
    RUN/eval-DATA-SPLIT.json. log p(x) uses the IWAE estimator, a lower bound that tightens with K. Molecules: DATA
    is a .smi/.txt/.csv file or moses:test (a seeded 2,000 of it; the default for a run trained on MOSES, the
    training file otherwise), and the share of molecules reconstructed exactly replaces bits/dim."""
    from ..workflows import evaluate as evaluate_fn

    r = evaluate_fn(
        run,
        data,
        split,
        seed,
        iw_samples=iw_samples,
        precision=precision,
        per_sample=per_sample,
        device=device,
        overwrite=overwrite,
    )
    table = Table(title=f"{run} on {r['split']} ({r['n']:,} samples)")
    for col in ("metric", "value"):
        table.add_column(col)
    rows = [("ELBO (nats)", "elbo"), ("reconstruction log p(x|z)", "reconstruction"), ("KL (nats)", "kl")]
    if "iwae" in r:
        rows += [(f"log p(x), IWAE K={r['iw_samples']}", "iwae"), ("NLL (nats)", "nll")]
    rows += [("bits/dim", "bits_per_dim")] if "bits_per_dim" in r else []
    rows += [("reconstruction accuracy", "reconstruction_accuracy")] if "reconstruction_accuracy" in r else []
    rows += [("active units", "active_units")]
    for label, key in rows:
        value = r[key]
        table.add_row(
            label,
            f"{value:.4f}"
            if isinstance(value, float)
            else f"{value} of {len(r['kl_per_dim'])}"
            if key == "active_units"
            else str(value),
        )
    out_console.print(table)
    if r.get("data_report") and "skipped" in r["data_report"]:  # molecules the model could not read
        out_console.print(escape(r["data_report"]), soft_wrap=True)
    out_console.print(_summary(r, run), soft_wrap=True)
    if Path(r["written"]).name != "eval.json":  # the run's own eval.json is kept for its own data
        out_console.print(f"wrote {r['written']}", soft_wrap=True)


@app.command(
    epilog="Examples:  `vaekit sample runs/seed --n 64 --out samples.png`  ·  "
    "`vaekit sample runs/tab --n 1000 --out synthetic.csv`  ·  "
    "`vaekit sample runs/mol --n 30000 --temperature 0.8 --out samples.smi`"
)
@friendly
def sample(
    run: RunArg,
    out: OutFile,
    n: Annotated[int, typer.Option(help="How many.")] = 64,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    temperature: Annotated[
        float | None,
        typer.Option(
            help="Molecules: softmax temperature of each token draw (below 1: safer, above 1: more varied). [1]"
        ),
    ] = None,
    mode: Annotated[
        bool, typer.Option("--mode", help="Images and tables: the most probable values, not a draw (tables).")
    ] = False,
    overwrite: OverwriteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Generate new data: latents from the prior, decoded (PNG grid, .npy or .csv; molecules: .smi/.txt, one SMILES
    per line, canonical when valid and as generated when not). Tables: rows are drawn from p(x|z), spread like the
    data; --mode gives the most probable values instead."""
    from ..workflows.explore import sample as fn

    mean = True if mode else None
    written = fn(run, n, out, seed, temperature=temperature, mean=mean, overwrite=overwrite)
    out_console.print(str(written), soft_wrap=True)


@app.command(
    epilog="Examples:  `vaekit reconstruct runs/seed --data mnist --n 16 --out recon.png`  ·  "
    "`vaekit reconstruct runs/mol --data test.smi --out recon.csv`"
)
@friendly
def reconstruct(
    run: RunArg,
    out: OutFile,
    data: DataOpt = None,
    n: Annotated[
        int | None,
        typer.Option(
            help="How many inputs (the first N of DATA; its test split when it has one). [default: 16; molecules: "
            "all of a file, 2,000 of moses:test]"
        ),
    ] = None,
    overwrite: OverwriteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Originals (top rows) beside their reconstructions (bottom rows). Molecules: a .csv of input, reconstruction
    (greedy decoding of the posterior mean, canonical SMILES) and match; DATA a .smi/.txt/.csv file or moses:test."""
    from ..workflows.explore import reconstruct as fn

    out_console.print(escape(str(fn(run, data, n, out, overwrite=overwrite))), soft_wrap=True)


@app.command(
    epilog="Examples:  `vaekit interpolate runs/seed --data mnist --pair 0 1 --steps 10 --out path.png`"
    "  ·  `... --slerp --out path.gif`  ·  `vaekit interpolate runs/mol --smiles CCO c1ccccc1O --out path.png`"
)
@friendly
def interpolate(
    run: RunArg,
    out: OutFile,
    data: DataOpt = None,
    pair: Annotated[tuple[int, int], typer.Option(help="Row indices I J in DATA (its test split when it has one).")] = (
        0,
        1,
    ),
    steps: Annotated[int, typer.Option(help="Points on the path.")] = 10,
    slerp: Annotated[bool, typer.Option("--slerp", help="Spherical instead of linear.")] = False,
    smiles: Annotated[
        tuple[str, str] | None, typer.Option(help="Molecules: the two end points, as SMILES A B.")
    ] = None,
    overwrite: OverwriteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Decode the path between two inputs' codes (PNG strip or animated GIF; molecules: a PNG grid of the path's
    molecules, each labelled with its SMILES)."""
    from ..workflows.explore import interpolate as fn

    out_console.print(str(fn(run, data, pair, steps, out, slerp, smiles=smiles, overwrite=overwrite)), soft_wrap=True)


@app.command(
    epilog="Examples:  `vaekit traverse runs/seed --dims 0,1,2,3 --range 3 --out traverse.png`  ·  "
    "`vaekit traverse runs/mol --dims 0,1 --steps 7 --out traverse.png`"
)
@friendly
def traverse(
    run: RunArg,
    out: OutFile,
    dims: Annotated[str | None, typer.Option(help="Latent dimensions, e.g. 0,1,2 (default: the first 10).")] = None,
    span: Annotated[float, typer.Option("--range", help="Vary each dimension over ±RANGE std.")] = 3.0,
    steps: Annotated[int, typer.Option(help="Values per dimension.")] = 9,
    overwrite: OverwriteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Vary one latent dimension at a time (one row per dimension; molecules: a PNG grid drawn with RDKit, .smi or
    .csv of dimension, value and SMILES)."""
    from ..workflows.explore import traverse as fn

    out_console.print(str(fn(run, out, _ints(dims, "--dims"), span, steps, overwrite=overwrite)), soft_wrap=True)


@app.command(
    epilog="Examples:  `vaekit encode runs/seed --data mnist --out codes.csv`  ·  "
    "`vaekit encode runs/mol --data mols.smi --out codes.csv`"
)
@friendly
def encode(
    run: RunArg,
    out: OutFile,
    data: DataOpt = None,
    sample: Annotated[bool, typer.Option("--sample", help="A draw from q(z|x), not its mean.")] = False,
    seed: Annotated[int, typer.Option(help="Seed for --sample.")] = 0,
    overwrite: OverwriteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Compress inputs to latent codes (posterior means by default): .npy or .csv with columns z0..z{D-1} (and a
    label column, or molecules' smiles column; `vaekit decode` reads it back). Invalid and unencodable SMILES are
    counted and skipped."""
    from ..workflows.explore import encode as fn

    out_console.print(escape(str(fn(run, data, out, sample, seed, overwrite=overwrite))), soft_wrap=True)


@app.command(
    epilog="Example:  `vaekit encode runs/seed --data mnist --out codes.csv`, then "
    "`vaekit decode runs/seed codes.csv --out decoded.png`"
)
@friendly
def decode(
    run: RunArg,
    latents: Annotated[Path, typer.Argument(help=".npy/.npz/.csv of shape (N, D), or the .csv of `vaekit encode`.")],
    out: OutFile,
    overwrite: OverwriteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Decode latent vectors to data (PNG grid, .npy or .csv; molecules: .smi or a PNG grid, greedy decoding)."""
    from ..workflows.explore import decode as fn

    out_console.print(str(fn(run, latents, out, overwrite=overwrite)), soft_wrap=True)


@app.command(epilog="Examples:  `vaekit report runs/seed`  ·  `vaekit report runs/tab --data other.csv --out tab.html`")
@friendly
def report(
    run: RunArg,
    data: DataOpt = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="HTML file. [default: RUN/report.html]")] = None,
    threads: ThreadsOpt = None,
) -> None:
    """One self-contained HTML page: metrics, training curves, samples, reconstructions, latent space."""
    from ..workflows import report as fn

    out_console.print(f"wrote {fn(run, data, out)}")
    evaluation = run / "eval.json"
    if evaluation.is_file():  # end with the headline numbers the page shows
        out_console.print(_summary(json.loads(evaluation.read_text(encoding="utf-8")), run), soft_wrap=True)


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
    iw_samples: Annotated[int, typer.Option(help="Importance samples K per image.")] = 100,
    refine: Annotated[int, typer.Option(help="Optimization steps towards the posterior mode first (0: none).")] = 100,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    overwrite: OverwriteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Fill masked pixels given the rest: the conditional mean, or several plausible completions (--draws)."""
    from ..workflows.inpaint import inpaint_run

    r = inpaint_run(run, input, mask, out, draws=draws, k=iw_samples, refine=refine, seed=seed, overwrite=overwrite)
    images = "1 image" if r["n"] == 1 else f"{r['n']:,} images"
    out_console.print(
        f"filled {r['filled']:,} of {r['pixels']:,} pixels in {images} (lowest ESS {r['ess_min']:.1f} of "
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
    images = "1 image" if r["n"] == 1 else f"{r['n']:,} images"
    note = "" if r["corrupt"] else " (the run was trained without --corrupt: its plain reconstruction)"
    out_console.print(f"denoised {images} → {out}{note}", soft_wrap=True)


@app.command(
    epilog="Examples:  `vaekit impute runs/tab --data holes.csv --out filled.csv`  ·  "
    "`vaekit impute runs/tab --data holes.csv --draws 20 --out draws.csv`"
)
@friendly
def impute(
    run: RunArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="The filled table: .csv or .parquet (never the input).")],
    data: Annotated[
        str | None, typer.Option("--data", help="A .csv/.parquet table with empty cells. [default: the run's table]")
    ] = None,
    draws: Annotated[
        int, typer.Option(help="Multiple imputation: M draws in one long table with a first column `draw` (1..M).")
    ] = 0,
    iw_samples: Annotated[int, typer.Option(help="Importance samples K per row.")] = 100,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same output).")] = 0,
    overwrite: OverwriteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Fill the missing cells of a table: the conditional mean given each row's observed cells (categorical: the
    most probable category), observed cells unchanged; or --draws M multiple imputations."""
    from ..workflows.impute import impute_run

    r = impute_run(run, data, out, draws=draws, iw_samples=iw_samples, seed=seed, overwrite=overwrite)
    what = f"{draws} draws" if draws else "the conditional mean"
    empty = (
        f"; {r.empty_rows:,} rows had no observed value and were filled from the model's unconditional distribution"
        if r.empty_rows
        else ""
    )
    out_console.print(
        f"filled {r.missing_cells:,} missing cells in {r.rows:,} rows with {what} (mean ESS {r.mean_ess:.1f} of "
        f"{iw_samples}){empty} → {out}",
        soft_wrap=True,
    )


anomaly_app = typer.Typer(
    help="Anomaly detection: score inputs, and calibrate a false-positive rate on clean data.",
    epilog="Example:  `vaekit anomaly calibrate runs/seed --data clean.npy --fpr 0.01`  ·  "
    "`vaekit anomaly score runs/seed --data new.npy --out scores.csv`",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(anomaly_app, name="anomaly")
ScoreOpt = Annotated[
    str | None,
    typer.Option(
        "--score",
        help="relative (-log p(x|z) at the posterior mean / (1 + H(x)), H the entropy of the input's gray levels; "
        "images), elbo (-ELBO), iwae (-log p(x), K samples) or recon (-log p(x|z) at the posterior mean), or a "
        "comma-separated list; higher = more anomalous. [default: the calibrated score, else relative for images "
        "(Bernoulli likelihood), elbo for tables; recon for a plain autoencoder of tables]",
    ),
]
IwOpt = Annotated[int | None, typer.Option(help="Importance samples K for --score iwae. [default: 100]")]


@anomaly_app.command(
    "score",
    epilog="Examples:  `vaekit anomaly score runs/seed --data mnist --out scores.csv`  ·  "
    "`vaekit anomaly score runs/tab --data new.csv --score recon,elbo --out scores.csv`",
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
    overwrite: OverwriteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Anomaly score of every input (CSV: score_METHOD columns), with its p-value and a 0/1 flag once calibrated.

    Scores may be a comma-separated list (e.g. recon,elbo); the calibrated one is always included."""
    from ..workflows.anomaly import score_run

    methods = [m.strip() for m in score.split(",") if m.strip()] if score else None
    r = score_run(run, out, data, split, methods, iw_samples, seed, overwrite=overwrite)
    if r["calibrated"]:
        tail = f"{r['flagged']:,} flagged at fpr {r['fpr']:g} ({r['method']} score above {r['threshold']:.2f})"
    else:
        tail = "not calibrated: `vaekit anomaly calibrate` adds p-values and flags"
    if r.get("notes"):  # molecules: what was read and skipped
        out_console.print(escape(r["notes"]), soft_wrap=True)
    out_console.print(f"wrote {out} ({r['n']:,} rows of {r['split']}; {tail})", soft_wrap=True)


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
            help="relative, elbo, iwae or recon (see `vaekit anomaly score --help`). [default: relative for images, "
            "elbo for tables; recon for a plain autoencoder of tables]"
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
    out_console.print(
        f"calibrated the {cal.method} score{k} on {cal.n:,} clean rows ({cal.split} of {cal.data}): "
        f"a score above {cal.threshold:.2f} is flagged (fpr {cal.fpr:g}) → {run / 'anomaly.json'}",
        soft_wrap=True,
    )


from .molecules import molecules_app  # noqa: E402 - its commands use the helpers above

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
