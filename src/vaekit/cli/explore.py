"""``vaekit evaluate``, ``sample``, ``reconstruct``, ``interpolate``, ``traverse``, ``encode``, ``decode``,
``report``: what users do with a trained run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.markup import escape
from rich.table import Table

from ..defaults import EVAL_IW_SAMPLES, SEQUENCE_EVAL_IW_SAMPLES
from .common import (
    ConditionOpt,
    DataOpt,
    OutFile,
    OverwriteOpt,
    RunArg,
    ThreadsOpt,
    _ints,
    _summary,
    app,
    conditions,
    friendly,
    out_console,
    tolerances,
)


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
            help=f"Importance samples K for log p(x); 0 skips it (ELBO only). [default: {EVAL_IW_SAMPLES}; molecules: "
            f"{SEQUENCE_EVAL_IW_SAMPLES}, each sample is a full pass of the GRU decoder]"
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
    from ..workflows.evaluate import evaluate as evaluate_fn

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
    if "disentanglement" in r:  # data with known factors
        dis = r["disentanglement"]
        table.add_row(
            f"disentanglement ({len(dis['factors'])} factors)",
            f"MIG {dis['mig']:.3f} · DCI {dis['dci']['disentanglement']:.3f} · SAP {dis['sap']:.3f}",
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
    condition: ConditionOpt = None,
    prior: Annotated[
        bool,
        typer.Option(
            "--prior",
            help="Codes from N(0, I) rather than from the Gaussian fitted to the training codes (conditional "
            "models: of the condition; molecule models fit one).",
        ),
    ] = False,
    tolerance: Annotated[
        str | None,
        typer.Option(
            help="Molecules conditioned on RDKit properties: keep only samples whose RDKit values lie within "
            "±these of --condition (logp=0.3,qed=0.05), drawing until --n are found; 'off': the model's samples "
            "unchecked. [a quarter of each property's standard deviation in the training data]"
        ),
    ] = None,
    overwrite: OverwriteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Generate new data: latents from the prior, decoded (PNG grid, .npy or .csv; molecules: .smi/.txt, one SMILES
    per line, canonical when valid and as generated when not).

    Tables: rows are drawn from p(x|z), spread like the data; --mode gives the most probable values instead. A
    conditional model generates what --condition asks for (label=7); without it, a model conditioned on one
    class samples each class in turn, a grid row each. Molecules conditioned on properties RDKit computes
    (logp=2.5,qed=0.8) are checked: each one written has them within --tolerance."""
    from ..workflows.explore import sample as fn
    from ..workflows.kinds import Options

    mean = True if mode else None
    c = conditions(condition)
    options = Options(temperature=temperature, mean=mean, condition=c, prior=prior, tolerance=tolerances(tolerance))
    written = fn(run, n, out, seed, options=options, overwrite=overwrite)
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
    condition: ConditionOpt = None,
    overwrite: OverwriteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Originals (top rows) beside their reconstructions (bottom rows). Molecules: a .csv of input, reconstruction
    (greedy decoding of the posterior mean, canonical SMILES) and match; DATA a .smi/.txt/.csv file or moses:test.

    A conditional model reads each input's own condition from DATA; --condition decodes them with another one: a
    counterfactual (label=3: the same handwriting, as a 3)."""
    from ..workflows.explore import reconstruct as fn

    written = fn(run, data, n, out, condition=conditions(condition), overwrite=overwrite)
    out_console.print(escape(str(written)), soft_wrap=True)


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
    condition: ConditionOpt = None,
    overwrite: OverwriteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Decode the path between two inputs' codes (PNG strip or animated GIF; molecules: a PNG grid of the path's
    molecules, each labelled with its SMILES). A conditional model decodes with --condition, else with the first
    input's own."""
    from ..workflows.explore import interpolate as fn
    from ..workflows.kinds import Endpoints

    ends = Endpoints(data, pair, smiles)
    written = fn(run, out, ends, steps, slerp, condition=conditions(condition), overwrite=overwrite)
    out_console.print(str(written), soft_wrap=True)


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
    condition: ConditionOpt = None,
    overwrite: OverwriteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Vary one latent dimension at a time (one row per dimension; molecules: a PNG grid drawn with RDKit, .smi or
    .csv of dimension, value and SMILES). A conditional model decodes with --condition (default: its first class)."""
    from ..workflows.explore import traverse as fn

    c = conditions(condition)
    written = fn(run, out, _ints(dims, "--dims"), span, steps, condition=c, overwrite=overwrite)
    out_console.print(str(written), soft_wrap=True)


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
    condition: ConditionOpt = None,
    overwrite: OverwriteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Decode latent vectors to data (PNG grid, .npy or .csv; molecules: .smi or a PNG grid, greedy decoding); a
    conditional model given --condition."""
    from ..workflows.explore import decode as fn

    out_console.print(str(fn(run, latents, out, condition=conditions(condition), overwrite=overwrite)), soft_wrap=True)


@app.command(epilog="Examples:  `vaekit report runs/seed`  ·  `vaekit report runs/tab --data other.csv --out tab.html`")
@friendly
def report(
    run: RunArg,
    data: DataOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="HTML file. [default: RUN/report.html, refreshed each time]")
    ] = None,
    overwrite: OverwriteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """One self-contained HTML page: metrics, training curves, samples, reconstructions, latent space."""
    from ..workflows.report import report as fn
    from ..workflows.report import stored_evaluation

    out_console.print(f"wrote {fn(run, data, out, overwrite=overwrite)}")
    evaluation = stored_evaluation(run)  # None when there is none, or it is damaged (the page says so)
    if evaluation is not None:  # end with the headline numbers the page shows
        out_console.print(_summary(evaluation, run), soft_wrap=True)
