"""``vaekit molecules ...``: commands that work on molecules rather than on one model's data (metrics of a set
of SMILES, property optimization in a sequence model's latent space). Registered on the main app in cli/app.py."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.markup import escape
from rich.table import Table

from .common import ConditionOpt, OverwriteOpt, RunArg, ThreadsOpt, conditions, friendly, out_console

molecules_app = typer.Typer(
    help="Molecules: MOSES metrics of generated SMILES, and property optimization in a sequence model's latent space.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


@molecules_app.command(
    epilog="Examples:  `vaekit molecules optimize runs/moses --property qed --out best.csv`  ·  "
    "`vaekit molecules optimize runs/moses --property sa --minimize --out easy.csv`  ·  "
    "`vaekit molecules optimize runs/moses --similar-to 'CCOc1ccc(C(=O)N2CCCC2)cc1' --min-sim 0.4 --out near.csv`"
)
@friendly
def optimize(
    run: RunArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV of the molecules found, best first.")],
    property: Annotated[
        str, typer.Option("--property", "-p", help="qed, logp, sa, weight or plogp (penalized logP).")
    ] = "qed",
    n: Annotated[int, typer.Option("--n", help="Budget: molecules decoded and scored with RDKit.")] = 100,
    minimize: Annotated[bool, typer.Option("--minimize", help="Look for low values (e.g. for sa).")] = False,
    similar_to: Annotated[
        str | None, typer.Option("--similar-to", help="Keep only molecules similar to this SMILES; start from it.")
    ] = None,
    min_sim: Annotated[
        float, typer.Option("--min-sim", help="Least Tanimoto similarity to --similar-to (Morgan, r=2, 2048 bits).")
    ] = 0.4,
    method: Annotated[
        Literal["auto", "gradient", "evolve"],
        typer.Option(
            help="evolve: evolution on RDKit's value of the decoded molecules (what auto picks); gradient: ascent "
            "on the model's property head (needs a head that predicts the property)."
        ),
    ] = "auto",
    spread: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            help="evolve: how far children lie from their parent, in standard deviations of the training codes "
            "(larger: bolder, fewer near misses). [0.7; 0.3 with --similar-to]",
        ),
    ] = None,
    condition: ConditionOpt = None,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same molecules).")] = 0,
    top: Annotated[int, typer.Option(help="Rows of the table to print.")] = 10,
    overwrite: OverwriteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Search a sequence model's latent space for molecules with a high (or, --minimize, low) property, within a
    budget of --n decoded molecules: by gradient ascent on the model's property head, or by evolution on RDKit's
    value of the decoded molecules. Every molecule is scored with RDKit; the CSV lists the distinct ones, best
    first. A model trained with --condition decodes at one condition: by default the property two training
    standard deviations beyond its mean (toward the goal) and the other conditions at their means; --condition
    sets any of them."""
    from ..workflows.optimize import optimize_run

    r = optimize_run(
        run,
        out,
        property,
        n,
        maximize=not minimize,
        similar_to=similar_to,
        min_sim=min_sim,
        seed=seed,
        method=method,
        spread=spread,
        condition=conditions(condition),
        overwrite=overwrite,
    )
    name, a = property.strip().lower(), r.attrs
    table = Table("#", "SMILES", name, *(c for c in ("similarity",) if c in r.columns), title=None)
    for i, row in r.head(max(top, 0)).iterrows():
        sim = [f"{row['similarity']:.2f}"] if "similarity" in r.columns else []
        table.add_row(str(i + 1), escape(row["smiles"]), f"{row[name]:.3f}", *sim)
    if top > 0 and len(r):
        out_console.print(table)
    asked = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in a.get("condition", {}).items())
    asked = f" at {asked}" if asked else ""
    start = f"; the start molecule has {name} {a['start_value']:.3f}" if "start_value" in a else ""
    below = f", {a['below_min_sim']} below --min-sim" if similar_to is not None else ""
    if similar_to is not None and not len(r):
        below += f": the most similar reached {a['max_similarity']:.2f}"
    out_console.print(
        f"{len(r)} distinct molecules from {a['decoder_calls']} decoded{asked} ({a['method']}; {a['invalid']} invalid, "
        f"{a['duplicates']} repeats{below}){start} → {out}",
        soft_wrap=True,
    )


@molecules_app.command(
    epilog="Examples:  `vaekit molecules metrics samples.smi --out metrics.json`  ·  "
    "`vaekit molecules metrics samples.smi --ref held_out.smi --train train.smi --out metrics.json`"
)
@friendly
def metrics(
    samples: Annotated[
        Path,
        typer.Argument(
            help="Generated molecules: a .smi/.txt file (one per line; an empty line is an empty, invalid, generation) "
            "or a .csv with a SMILES column."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="JSON file of the metrics (undefined ones are null).")],
    ref: Annotated[
        str,
        typer.Option(
            help="Reference set: moses-test, moses-test-scaffolds, or a SMILES file. The first use of a MOSES split "
            "computes its statistics (ChemNet, fingerprints, fragments; about an hour on a CPU) and caches them."
        ),
    ] = "moses-test",
    train: Annotated[
        str | None,
        typer.Option(
            help="Training molecules for novelty: moses (its 1.58 M, canonicalized once and cached) or a file."
        ),
    ] = None,
    smiles_column: Annotated[str | None, typer.Option(help="The SMILES column of a .csv SAMPLES table.")] = None,
    overwrite: OverwriteOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Every MOSES metric of generated SMILES: validity (invalid strings count against it), unique@k, FCD, SNN,
    Frag, Scaf, IntDiv, property distances and, with --train, novelty."""
    from ..workflows.molecules import metrics_run

    r = metrics_run(samples, out, ref=ref, train=train, column=smiles_column, overwrite=overwrite)
    table = Table("metric", "value", title=f"{samples} against {ref}")
    for key, value in r.items():
        text = f"{value:,}" if isinstance(value, int) else "n/a" if value != value else f"{value:.4f}"
        table.add_row(escape(key), text)
    out_console.print(table)
    out_console.print(f"{r['n_valid']:,} of {r['n_generated']:,} valid → {out}", soft_wrap=True)
