"""``vaekit molecules ...``: commands that work on molecules rather than on one model's data (metrics of a set
of SMILES, property optimization in a sequence model's latent space). Registered on the main app in cli.py."""

from __future__ import annotations

import typer

molecules_app = typer.Typer(
    help="Molecules: MOSES metrics of generated SMILES, and property optimization in a sequence model's latent "
    "space.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
