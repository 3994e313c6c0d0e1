"""``vaekit train``: data and options in, a run folder out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from .common import (
    DataArg,
    ThreadsOpt,
    _error,
    _explicit,
    _ints,
    _names,
    app,
    err_console,
    friendly,
    out_console,
    preset_help,
)


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
        typer.Option(
            help="Molecules: properties the head on z learns (qed, logp, sa, weight, plogp; or none). [qed,logp,sa]"
        ),
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
    batch_size: Annotated[
        int | None,
        typer.Option(help="Batch size. [default: 128; small data: smaller, down to 16, for 16 steps an epoch]"),
    ] = None,
    lr: Annotated[float | None, typer.Option(help="Adam learning rate. [default: 1e-3]")] = None,
    lr_schedule: Annotated[
        Literal["constant", "cosine"] | None,
        typer.Option(help="constant, or cosine: from --lr down to 0 over --epochs, step by step. [constant]"),
    ] = None,
    latent_dim: Annotated[int | None, typer.Option(help="Latent dimensions. [default: 20]")] = None,
    hidden: Annotated[str | None, typer.Option(help="MLP hidden sizes, e.g. 512,256. [default: 400]")] = None,
    beta: Annotated[float | None, typer.Option(help="KL weight (beta-VAE). [default: 1]")] = None,
    kl_warmup: Annotated[float | None, typer.Option(help="Epochs of linear KL warm-up. [default: 0]")] = None,
    objective: Annotated[
        Literal["elbo", "iwae", "betatc"] | None,
        typer.Option(
            help="elbo; iwae: the K-sample bound; betatc: beta-TCVAE, --beta weighs only the total correlation "
            "(disentanglement). [default: elbo]"
        ),
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
    id_column: Annotated[
        str | None, typer.Option(help="Time series in long format (--preset series): the column naming each series.")
    ] = None,
    time_column: Annotated[
        str | None, typer.Option(help="Time series in long format: the column ordering the steps. [row order]")
    ] = None,
    stream: Annotated[
        bool | None,
        typer.Option(
            "--stream/--in-memory",
            help="Read a .npy array or a folder of images from disk batch by batch, for data larger than memory "
            "(same results). [default: only a .npy larger than half the available memory]",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="--stream: DataLoader processes reading batches ahead (0: a thread of this process). "
            "[default: 0 for a .npy, 2 for images]"
        ),
    ] = None,
    shuffle: Annotated[
        Literal["rows", "blocks"] | None,
        typer.Option(
            help="--stream: the epoch's order. rows: a permutation (as in memory); blocks: runs of 64 rows in random "
            "order, shuffled 16 runs at a time (a disk reads 64 rows at once). [default: rows]"
        ),
    ] = None,
    label_column: Annotated[str | None, typer.Option(help="Table column holding class labels.")] = None,
    condition: Annotated[
        str | None,
        typer.Option(
            help="Train a conditional VAE p(x|z, y) on these names: label (MNIST, class subfolders), attributes "
            "(--attributes; shapes' shape,scale,...), table columns (they leave x), or molecule properties "
            "(qed, logp, sa, weight, plogp: computed with RDKit). Then `vaekit sample RUN --condition label=7`."
        ),
    ] = None,
    independence: Annotated[
        float | None,
        typer.Option(
            help="Conditional models: weight of the term keeping z from telling y (a critic guesses y from z); 0: "
            "the plain conditional VAE. [default: 1]"
        ),
    ] = None,
    attributes: Annotated[
        Path | None,
        typer.Option(
            help="Per-image attributes for a folder of images: a CSV (a file-name column, one column per attribute) "
            "or CelebA's list_attr_celeba.txt. [found beside the images]"
        ),
    ] = None,
    categorical: Annotated[
        str | None, typer.Option(help="Table columns to treat as categorical, e.g. zip,grade (integer codes).")
    ] = None,
    numeric: Annotated[str | None, typer.Option(help="Table columns to treat as numeric (e.g. 0/1 booleans).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed. [default: 0]")] = None,
    device: Annotated[Literal["auto", "cpu", "cuda"] | None, typer.Option(help="[default: auto]")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a run already in --out.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
    log: Annotated[
        list[str] | None,
        typer.Option(
            "--log",
            metavar="TRACKER",
            help="Experiment tracking beside metrics.jsonl, step = epoch: tensorboard (RUN/tensorboard) or mlflow "
            "(MLFLOW_TRACKING_URI, else RUN/mlruns); repeat it or comma-separate. Needs `pip install "
            "'vaekit[tracking]'`. With --resume, the same runs continue.",
        ),
    ] = None,
    threads: ThreadsOpt = None,
) -> None:
    """Train a VAE (or a plain autoencoder) and save it as a run folder, resumable after any interruption."""
    from ..progress import RichProgress, set_enabled
    from ..training import distributed
    from ..training import train as train_fn

    set_enabled(not quiet)
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
        log=log,
        **_explicit(
            preset=preset,
            latent_dim=latent_dim,
            hidden=_ints(hidden, "--hidden"),
            autoencoder=autoencoder,
            likelihood=likelihood,
            image_size=image_size,
            label_column=label_column,
            id_column=id_column,
            time_column=time_column,
            condition=condition,
            attributes=attributes,
            categorical=_names(categorical),
            numeric=_names(numeric),
            representation=representation,
            properties=properties,
            smiles_column=smiles_column,
            free_bits=free_bits,
            word_dropout=word_dropout,
            independence=independence,
            precision=precision,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            lr_schedule=lr_schedule,
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
            stream=stream,
            workers=workers,
            shuffle=shuffle,
        ),
    )
    if distributed.env_rank():  # torchrun: rank 0 speaks for the run
        return
    result = model.run_config["training"]["result"]
    best = result.get("best_val")
    tail = f", best {result['selected_by']} {best:.2f} at epoch {result['best_epoch']}" if best is not None else ""
    out_console.print(f"trained {result['epochs_completed']} epochs{tail} → {out}")
