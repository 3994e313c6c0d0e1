"""``vaekit.train``: data spec + options -> a trained model, saved as a bundle with resume support."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import math
import shutil
from pathlib import Path
from typing import Any

import torch

from .. import bundle
from .._io import LOCK_NAME, FolderLocked, run_lock, write_text
from ..core import conformal
from ..core.corruption import parse_corrupt
from ..core.likelihoods import LIKELIHOODS, MixedConfig
from ..data import ReadOptions, canonical_spec, load_dataset
from ..data.condition import parse_names, with_condition
from ..data.memory import is_in_memory, is_smiles
from ..data.registry import sequence_kind
from ..data.schema import Dataset
from ..data.stream_tables import table_bytes
from ..data.streaming import available_memory, npy_float32_bytes
from ..device import resolve_device
from ..errors import BundleError, VaekitError
from ..models import PRESET_TRAINING, PRESETS, ModelConfig
from ..nn import MLPConfig
from ..progress import RichProgress, shown
from ..record import FINISHED, IN_MEMORY, IN_PROGRESS, UNTRAINED, training_status
from ..vae import VAE
from . import distributed
from .config import TrainConfig
from .loop import Callback, Generators, TrainState, fit
from .prepare import condition_tensors, resolve_binarize, split_indices, training_tensors
from .resume import resume_problem, weights_problem
from .tracking import RUN_FILES, TrackedRun, open_tracking, parse_log

# options that may change when resuming
RESUMABLE = {"epochs", "device", "early_stopping", "time_limit", "stream", "workers"}
ARCH_DEFAULTS = {
    "preset": "seed",
    "latent_dim": None,
    "hidden": None,
    "autoencoder": False,
    "likelihood": "auto",
}


def train(  # noqa: PLR0913 - the public keyword API
    data: Any,
    out: str | Path | None = None,
    *,
    labels: Any = None,
    preset: str | None = None,
    latent_dim: int | None = None,
    hidden: tuple[int, ...] | None = None,
    autoencoder: bool | None = None,
    likelihood: str | None = None,
    image_size: int | None = None,
    label_column: str | None = None,
    categorical: list[str] | None = None,
    numeric: list[str] | None = None,
    representation: str | None = None,
    properties: str | list[str] | None = None,
    smiles_column: str | None = None,
    condition: str | list[str] | None = None,
    attributes: str | Path | None = None,
    id_column: str | None = None,
    time_column: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    callbacks: list[Callback] | None = None,
    progress: bool = True,
    log: str | list[str] | None = None,
    **options: Any,
) -> VAE:
    """Train a VAE (or, with ``autoencoder=True``, a plain autoencoder) and return it.

    ``data`` is "mnist", a path (IDX, image folder, .npy/.npz, .csv/.parquet), a loaded Dataset, or data in memory
    read as the file holding it would be (``vaekit.data.memory``): a numpy array or torch tensor ((N, D) features;
    (N, H, W), (N, H, W, C) or (N, C, H, W) images), a pandas DataFrame (a table), or a list of SMILES strings
    (molecules: ``preset`` defaults to "sequence"); ``labels`` (N,) gives in-memory data its class labels. ``options``
    are TrainConfig fields (epochs, batch_size, lr, beta, kl_warmup, binarize, val_fraction, early_stopping,
    seed, device, subset, ...). With ``out`` the run is saved there after every epoch and can be resumed.
    Tables may have missing values (empty cells: the model learns from the observed ones) and categorical columns;
    ``categorical`` / ``numeric`` name columns whose inferred type to override (see ``vaekit.data.tables``).

    Video clips and time series (``preset`` "video" / "series", the default for data that is nothing else:
    ``moving-mnist``, ``ucr:Name``, ``.ts``, GIF/MP4 files) train the sequential model of ``vaekit.nn.frames``; a
    ``.npy`` of clips (N, T, H, W[, C]), a folder of frame folders or a CSV/Parquet of series (one row per series,
    or long format: ``id_column``, optional ``time_column``) is read as such when the preset says so.

    ``condition`` (names, e.g. "label" or ["diagnosis"]) trains a conditional VAE, p(x|z, y): images on their
    label (MNIST digits, an image folder's class subfolders) or per-image attributes (``attributes``: a CSV or
    CelebA's list_attr_celeba.txt, else found beside the images), the factors of ``shapes``; tables on any of
    their columns (they leave x and become y). Sampling and reconstruction then take a condition.

    Molecules: ``preset="sequence"`` trains the GRU sequence VAE on ``data`` = "moses" (``subset`` rows of the
    MOSES training split) or a .smi/.txt/.csv file (``smiles_column``), as ``representation`` "selfies"
    (default) or "smiles" tokens, with a head predicting ``properties`` (default "qed,logp,sa"; "none": no head).

    ``progress``: show a bar per epoch and a line per epoch on stderr, when it is a terminal or a Jupyter notebook
    (``vaekit.progress.shown``; ``vaekit.progress.set_enabled(False)`` silences it process-wide). A ``RichProgress``
    among ``callbacks`` replaces it. With ``out`` the folder is locked while training: a second process writing the
    same run is refused. A run killed at any moment resumes with ``resume=True`` (from scratch when it had not
    completed an epoch); until one completes, config.json says ``"status": "untrained"`` and there are no weights.

    ``log``: experiment trackers beside metrics.jsonl, "tensorboard" and/or "mlflow" (a list, or comma-separated;
    they need ``out`` and the ``tracking`` extra): TensorBoard event files in out/tensorboard (scalars per epoch, a
    grid of samples for image models), an MLflow run (params, metrics per epoch) in MLFLOW_TRACKING_URI or the
    file store out/mlruns. The step is the epoch; a resumed run continues the same TensorBoard and MLflow run.
    """
    from ..data.memory import dataset_from_memory

    trackers = parse_log(log)  # an unknown tracker or a missing package: one line, before anything is read
    if trackers and out is None:
        raise VaekitError("log= (--log) needs a run folder (out=...) to write to")
    if is_in_memory(data) and is_smiles(data):
        preset = preset or "sequence"
    elif is_in_memory(data):  # read now, as its file would be; the run records "<in-memory>"
        data = dataset_from_memory(data, labels=labels, label_column=label_column, image_size=image_size,
                                   categorical=categorical, numeric=numeric)  # fmt: skip
        label_column = image_size = categorical = numeric = None
    elif labels is not None:
        raise VaekitError("labels= applies to data passed in memory; a file carries its own (label_column for tables)")
    if distributed.env_rank():  # data-parallel (torchrun): rank 0 alone shows progress and tracks the run
        callbacks, progress, trackers = None, False, ()
    callbacks = list(callbacks or [])
    if progress and shown() and not any(isinstance(cb, RichProgress) for cb in callbacks):
        callbacks.append(RichProgress())
    hidden = tuple(hidden) if hidden is not None else None
    spec = {
        "data": _canonical(data),
        "image_size": image_size,
        "label_column": label_column,
        "categorical": list(categorical) if categorical else None,
        "numeric": list(numeric) if numeric else None,
    }
    names = parse_names(condition)
    if names or attributes is not None:  # recorded only when used: the runs of earlier releases resume as they were
        spec["condition"] = list(names) or None
        spec["attributes"] = str(Path(attributes).expanduser().resolve()) if attributes is not None else None
    _molecule_spec(spec, preset, resume, representation, properties, smiles_column)
    spec.update(_recorded_if_given(id_column=id_column, time_column=time_column))  # long-format series tables
    if preset is None and not resume:  # video clips and time series train with their own preset by default
        preset = _sequence_preset(data, spec)
    arch_args = {
        "preset": preset,
        "latent_dim": latent_dim,
        "hidden": hidden,
        "autoencoder": autoencoder,
        "likelihood": likelihood,
    }
    out = Path(out) if out is not None else None
    with contextlib.ExitStack() as stack:
        stack.enter_context(distributed.process_group())  # torchrun with WORLD_SIZE > 1: data-parallel
        saved = _open_run(out, resume, overwrite, stack)
        return _train(data, out, saved, spec, arch_args, options, callbacks, trackers)


def _open_run(out: Path | None, resume: bool, overwrite: bool, stack: contextlib.ExitStack) -> dict[str, Any] | None:
    """Lock and check the run folder; returns the saved config when resuming. Data-parallel, rank 0 is the one
    writer: the other ranks take no lock and only read the run they resume."""
    if out is not None and distributed.rank() > 0:
        return bundle.read_config(out) if resume else None
    if out is not None:
        _lock(out, stack)
    return _prepare_out(out, resume, overwrite)


def _lock(out: Path, stack: contextlib.ExitStack) -> None:
    """Hold RUN/.lock until ``stack`` closes: a second process writing the same run is refused at once."""
    if out.exists() and not out.is_dir():
        raise BundleError(f"--out {out} is a file, expected a run folder")
    try:
        stack.enter_context(run_lock(out))
    except FolderLocked as e:
        raise BundleError(f"{e}: wait for it to end, or choose another --out") from None
    except OSError as e:
        raise BundleError(f"cannot write the run folder {out}: {e.strerror or e}") from None


def _train(data, out: Path | None, saved, spec, arch_args, options, callbacks, trackers: tuple[str, ...]) -> VAE:
    """``train`` once the run folder is locked and checked (``saved``: the config of the run resumed, else None;
    see ``train`` for the other arguments)."""
    preset = arch_args["preset"]
    if saved is not None:
        spec, arch_args, options = _resume_arguments(saved, spec, arch_args, options)
    else:  # a preset's own training defaults (e.g. best: 40 epochs, 60 minutes); explicit options win
        options = {**PRESET_TRAINING.get(preset or "", {}), **options}
    arch_args = {**ARCH_DEFAULTS, **{k: v for k, v in arch_args.items() if v is not None}}
    try:
        cfg = TrainConfig(**options)
    except (TypeError, ValueError) as e:
        raise VaekitError(f"invalid training option: {e}") from None
    model, (x_train, x_val, conditions), targets, binarize = _build(data, spec, arch_args, cfg, callbacks)
    cfg = _settle_batch(cfg, len(x_train), chosen="batch_size" in options or saved is not None, callbacks=callbacks)
    device = distributed.local_device(resolve_device(cfg.device))
    writes = out if distributed.rank() == 0 else None  # the run folder, for rank 0 only
    training = {**spec, **arch_args, "options": cfg.to_dict(), "binarize_resolved": binarize}

    def summary(state: TrainState, status: str) -> dict[str, Any]:
        return {**training, "status": status, "result": _result(state, cfg)}

    best = {"weights": copy.deepcopy(model.state_dict()), "on_disk": True}

    def checkpoint(m: VAE, state: TrainState, optimizer, gens: Generators, improved: bool) -> None:
        if improved:
            m.fit_code_stats(x_train.to(device), condition=None if conditions[0] is None else conditions[0].to(device))
            best["weights"] = copy.deepcopy(m.state_dict())
        if writes is None:
            return
        # the training state first: config.json counts an epoch only once it can be resumed from
        bundle.save_checkpoint(
            out,
            m.state_dict(),
            {"optimizer": optimizer.state_dict(), "rng": gens.state(), "train_state": state.to_dict()},
        )
        _write_run(out, m, summary(state, IN_PROGRESS), state.history, weights=improved)
        tracking.epoch(m, state.history[-1])  # after the checkpoint: an epoch is logged once it can be resumed

    resume_from = _resume_point(out, saved, model) if saved is not None else None
    if resume_from is not None:
        best["weights"], best["on_disk"] = _best_weights(out, model, *resume_from)
    elif writes is not None:  # a new run, or one that never completed an epoch: no weights until one does
        (out / bundle.WEIGHTS).unlink(missing_ok=True)
        shutil.rmtree(out / bundle.STATE_DIR, ignore_errors=True)
        bundle.write_json(out / bundle.CONFIG, bundle.bundle_config(model, summary(TrainState(), UNTRAINED)))
    history = resume_from[1]["train_state"]["history"] if resume_from is not None else []
    sample_y = conditions[0][:64].cpu() if conditions[0] is not None else None
    tracked = TrackedRun(out, training, cfg.epochs, history, sample_y) if writes is not None else None
    with open_tracking(trackers, tracked) as tracking:  # the one writer of the trackers (read by checkpoint)
        state = fit(
            model,
            x_train,
            x_val if len(x_val) else None,
            cfg,
            dynamic_binarize=binarize == "dynamic",
            device=device,
            callbacks=callbacks,
            on_checkpoint=checkpoint,
            resume=resume_from,
            properties=targets,
            conditions=conditions,
        )
        tracking.finish(_result(state, cfg))
    model.load_state_dict(best["weights"])
    model.history = state.history
    model.run_config = bundle.bundle_config(model, summary(state, FINISHED))
    if writes is not None:
        _write_run(out, model, model.run_config["training"], state.history, weights=not best["on_disk"])
    return model.cpu().eval()


MIN_STEPS_PER_EPOCH = 16  # the default batch shrinks (down to 16) until an epoch has this many optimizer steps
FEW_STEPS = 500  # fewer optimizer steps in all than this: say so


def _settle_batch(cfg: TrainConfig, n: int, *, chosen: bool, callbacks) -> TrainConfig:
    """The batch size for ``n`` training rows (``chosen``: the user's or the resumed run's, kept), and a word
    when the whole run is only a few optimizer steps."""
    cfg = cfg if chosen else _small_data_batch(cfg, n)
    if problem := distributed.batch_problem(n, cfg.batch_size):
        raise VaekitError(problem)
    _warn_few_steps(cfg, n, callbacks)
    return cfg


def _small_data_batch(cfg: TrainConfig, n: int) -> TrainConfig:
    """The default batch for ``n`` training rows: 128, or less for small data. With 128, 200 coloured shapes get 2
    optimizer steps an epoch, and after 25 epochs (50 steps) the model still decodes every input to the mean
    image: grey reconstructions. At least 16 steps an epoch (batches of at least 16) lets it learn them (conv
    preset, 25 epochs: red squares 0.50 red, 0.03 green with batch 16; 0.39 and 0.34 with 23: still mixed)."""
    batch = min(cfg.batch_size, max(16, math.ceil(n / MIN_STEPS_PER_EPOCH)))
    return dataclasses.replace(cfg, batch_size=batch) if batch != cfg.batch_size else cfg


def _warn_few_steps(cfg: TrainConfig, n: int, callbacks) -> None:
    steps = cfg.epochs * math.ceil(n / cfg.batch_size)
    if steps < FEW_STEPS:
        for cb in callbacks:
            cb.on_message(
                f"only {steps} optimizer steps ({n:,} samples, batch {cfg.batch_size}, {cfg.epochs} epochs): expect "
                "blurry, mean-like reconstructions; raise --epochs or lower --batch-size"
            )


def _recorded_if_given(**values: Any) -> dict[str, Any]:
    """The options given (not None): recorded only when used, so the runs of earlier releases resume as they were."""
    return {k: v for k, v in values.items() if v is not None}


def _molecule_spec(spec: dict[str, Any], preset, resume: bool, representation, properties, smiles_column) -> None:
    """Add a molecule model's options to ``spec`` (only then: the runs of other models stay as they were)."""
    if preset == "sequence" or representation or properties or smiles_column:
        if preset != "sequence" and not resume:
            raise VaekitError("--representation, --properties and --smiles-column apply to --model sequence")
        from ..molecules.properties import property_names

        spec["representation"] = representation
        spec["properties"] = None if properties is None else list(property_names(properties))
        spec["smiles_column"] = smiles_column


def _sequence_preset(data: Any, spec: dict[str, Any]) -> str | None:
    """ "video" or "series" for data that is nothing else (moving-mnist, ucr:Name, .ts, GIF/MP4), else None."""
    kind = data.schema.kind if isinstance(data, Dataset) else sequence_kind(spec["data"])
    return kind if kind in FRAMES_PRESETS else None


def _dataset(data, spec: dict[str, Any], preset: str, cfg: TrainConfig, callbacks):
    """(the dataset to train on, with its condition when asked for; the molecules, for a sequence model)."""
    molecules = None
    if preset == "sequence":  # a condition names properties (qed, logp, sa, weight), computed with RDKit per molecule
        molecules = _molecule_data(data if is_smiles(data) else spec["data"], spec, cfg, callbacks)
        dataset = molecules.dataset
    elif isinstance(data, Dataset):
        dataset = data
    else:
        dataset = load_dataset(
            spec["data"],
            read=ReadOptions(
                stream=_stream(spec, preset, cfg, callbacks),
                kind=preset if preset in FRAMES_PRESETS else None,
                id_column=spec.get("id_column"),
                time_column=spec.get("time_column"),
            ),
            image_size=spec["image_size"],
            label_column=spec["label_column"],
            categorical=spec.get("categorical"),
            numeric=spec.get("numeric"),
            attributes=spec.get("attributes"),
        )
    if spec.get("condition"):
        dataset = with_condition(dataset, spec["condition"])
    return dataset, molecules


def _stream(spec: dict[str, Any], preset: str | None, cfg: TrainConfig, callbacks) -> bool:
    """Whether to read the data ``spec`` names from disk batch by batch: as asked, else for a .npy larger than half
    the memory available, or a table (CSV/TSV: its file, Parquet: its uncompressed data) larger than a quarter — a
    table in memory takes two to three times that: the DataFrame, its values, the float32 tensor — (with a word).
    A table a model is conditioned on, or read as time series, stays in memory unless asked."""
    if cfg.stream is not None:
        return cfg.stream
    data, available = spec["data"], available_memory()
    size, share = npy_float32_bytes(data), 2
    if size is None and not spec.get("condition") and preset not in FRAMES_PRESETS:
        size, share = table_bytes(data), 4
    if size is None or available is None or size <= available // share:
        return False
    what = f"holds {size / 2**30:.1f} GiB as float32" if share == 2 else f"is a {size / 2**30:.1f} GiB table"
    for cb in callbacks:
        cb.on_message(
            f"{data} {what}, more than {'half' if share == 2 else 'a quarter of'} the memory available "
            f"({available / 2**30:.1f} GiB): reading it from disk batch by batch (--stream)"
        )
    return True


def _check_fit(cfg: TrainConfig, model_cfg: ModelConfig, kind: str) -> None:
    """Training options that do not go with this model or data: one line each."""
    if cfg.objective in ("iwae", "betatc") and model_cfg.autoencoder:
        raise VaekitError(f"the {cfg.objective} objective needs a VAE, not a plain autoencoder")
    if cfg.objective == "betatc" and model_cfg.top_latent_dim is not None:
        raise VaekitError("the betatc objective needs one latent level (not the ladder preset)")
    if kind in FRAMES_PRESETS and (cfg.objective != "elbo" or distributed.active()):
        raise VaekitError("the video and series models train with the ELBO objective in one process (not "
                          f"{cfg.objective}, not under torchrun yet)")  # fmt: skip
    if cfg.word_dropout and kind != "sequence":
        raise VaekitError("--word-dropout applies to --model sequence only")
    if cfg.corrupt and kind != "image" and parse_corrupt(cfg.corrupt)[0] == "saltpepper":
        raise VaekitError("--corrupt saltpepper needs image data; use gaussian:S or dropout:P for tables")


def _build(data, spec: dict[str, Any], arch_args: dict[str, Any], cfg: TrainConfig, callbacks):
    """Load the data and build the model: (model, (x_train, x_val, (y_train, y_val)), property targets or None,
    binarize mode); y: a conditional model's condition values, else None."""
    dataset, molecules = _dataset(data, spec, arch_args["preset"], cfg, callbacks)
    model_cfg = _model_config(dataset, **arch_args)
    if molecules is not None:
        model_cfg = dataclasses.replace(model_cfg, properties=tuple(spec["properties"]))
    _check_fit(cfg, model_cfg, dataset.schema.kind)
    try:
        binarize = resolve_binarize(cfg.binarize, model_cfg.likelihood, dataset.schema.kind, dataset.schema.shape[0])
        torch.manual_seed(cfg.seed)
        model = VAE(model_cfg, dataset.schema)
    except ValueError as e:
        raise VaekitError(str(e)) from None
    targets = None
    if molecules is not None:  # the subset was drawn while loading: split what was loaded
        train_idx, val_idx = split_indices(len(molecules.smiles), cfg.val_fraction, cfg.seed, None)
        x_train, x_val = dataset.splits["train"][train_idx], dataset.splits["train"][val_idx]
        if molecules.properties is not None:
            targets = molecules.properties[train_idx]
            model.fit_property_stats(targets)
    else:
        x_train, x_val = training_tensors(dataset, cfg.val_fraction, cfg.seed, cfg.subset, binarize, cfg.shuffle)
    # molecules were subset while loading (like their ids above): their conditions are split without a subset
    conditions = condition_tensors(dataset, cfg.val_fraction, cfg.seed, None if molecules else cfg.subset)
    if conditions[0] is not None:
        model.fit_condition_stats(conditions[0])
    model.fit_data_stats(x_train)
    return model, (x_train, x_val, conditions), targets, binarize


def _write_run(out: Path, model: VAE, training: dict[str, Any], history: list[dict], *, weights: bool) -> None:
    """config.json (after the weights, when ``weights``) and metrics.jsonl."""
    if weights:
        bundle.save_model(model, out, training=training)
    else:  # the weights on disk stay the best ones; only the progress summary changes
        bundle.write_json(out / bundle.CONFIG, bundle.bundle_config(model, training))
    write_text(out / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in history))


def _resume_point(out: Path, saved: dict[str, Any], model: VAE):
    """(weights, state) of the checkpoint to resume from; None for a run that never completed an epoch (it was
    killed in its first one): it starts from scratch, with the recorded options."""
    if not (out / bundle.STATE_DIR / bundle.CHECKPOINT).is_file() and training_status(saved) == UNTRAINED:
        return None
    weights, state = bundle.load_checkpoint(out)
    if problem := resume_problem(model, weights, state):
        raise BundleError(
            f"cannot resume {out}: its training state is damaged ({problem}); train again with --overwrite"
        )
    return weights, state


def _best_weights(out: Path, model: VAE, weights: dict[str, torch.Tensor], saved: dict[str, Any]):
    """(the best weights so far, whether model.safetensors holds them). When the last completed epoch is the best,
    they are the checkpoint's (model.safetensors may be one epoch behind: a kill between the two writes)."""
    state = saved["train_state"]
    if state["best_epoch"] == state["epoch"]:
        try:
            disk = bundle.read_weights(out / bundle.WEIGHTS)
        except BundleError:
            return weights, False
        same = disk.keys() == weights.keys() and all(torch.equal(disk[k], weights[k]) for k in weights)
        return weights, same
    disk = bundle.read_weights(out / bundle.WEIGHTS)
    if problem := weights_problem(model, disk):
        raise BundleError(f"cannot resume {out}: {bundle.WEIGHTS} does not fit the model ({problem})")
    return disk, True


def _result(state: TrainState, cfg: TrainConfig) -> dict[str, Any]:
    return {
        "epochs_completed": state.epoch,
        "best_epoch": state.best_epoch,
        "best_val": state.best_val,
        "selected_by": f"validation IWAE bound (K={cfg.iw_samples})" if cfg.objective == "iwae" else "validation ELBO",
        "stopped_early": state.stopped_early,
        "stopped_by": _stopped_by(state, cfg),
    }


def _stopped_by(state: TrainState, cfg: TrainConfig) -> str:
    """Why training ended (read once it has): all its epochs, early stopping, or the time limit."""
    if state.stopped_early:
        return "early_stopping"
    if state.epoch >= cfg.epochs:
        return "epochs"
    spent = sum(r.get("seconds", 0.0) for r in state.history)
    return "time_limit" if cfg.time_limit is not None and spent >= 60 * cfg.time_limit else ""


def _molecule_data(source, spec: dict[str, Any], cfg: TrainConfig, callbacks: list[Callback]):
    """Load, canonicalize and tokenize the molecules of a sequence-model run (``source``: its data spec, or SMILES
    strings in memory) and compute their properties."""
    from ..molecules.dataset import molecule_dataset
    from ..molecules.properties import property_names

    if spec.get("properties") is None:
        spec["properties"] = ["qed", "logp", "sa"]
    spec["representation"] = spec.get("representation") or "selfies"
    if spec["representation"] not in ("selfies", "smiles"):
        raise VaekitError(f"unknown representation {spec['representation']!r}: expected selfies or smiles")
    if spec.get("condition"):
        spec["condition"] = list(property_names(spec["condition"]))
    mols = molecule_dataset(
        source,
        representation=spec["representation"],
        subset=cfg.subset,
        seed=cfg.seed,
        column=spec.get("smiles_column"),
        properties=spec["properties"],
        attributes=spec.get("condition") or (),
    )
    for cb in callbacks:
        cb.on_message(mols.report)
    return mols


def _model_config(  # noqa: C901, PLR0912
    dataset: Dataset, preset: str, latent_dim, hidden, autoencoder, likelihood
) -> ModelConfig:
    if preset not in PRESETS:
        raise VaekitError(f"unknown preset '{preset}': expected one of {', '.join(PRESETS)}")
    cfg = PRESETS[preset]
    schema = dataset.schema
    if (schema.kind == "sequence") != (preset == "sequence"):
        raise VaekitError("molecules train with --model sequence (preset sequence), and only molecules do")
    if (schema.kind in FRAMES_PRESETS or preset in FRAMES_PRESETS) and schema.kind != preset:
        raise VaekitError(
            f"video clips train with --preset video and time series with --preset series (this is {schema.kind} data)"
        )
    if preset in FRAMES_PRESETS:
        return _frames_config(cfg, schema.kind, latent_dim, hidden, autoencoder, likelihood)
    if preset == "sequence":
        if autoencoder or likelihood not in ("auto", "categorical_sequence"):
            raise VaekitError("--autoencoder and --likelihood do not apply to the sequence model")
        if latent_dim is not None:
            cfg = dataclasses.replace(cfg, latent_dim=latent_dim)
        if hidden is not None:  # encoder and decoder GRU sizes
            if len(hidden) != 2:
                raise VaekitError("--hidden for the sequence model is ENCODER,DECODER GRU sizes, e.g. 256,256")
            arch = dataclasses.replace(cfg.architecture, encoder_hidden=hidden[0], decoder_hidden=hidden[1])
            cfg = dataclasses.replace(cfg, architecture=arch)
        return cfg
    if schema.has_categorical:  # a Gaussian per numeric column, a categorical distribution per categorical one
        if likelihood not in ("auto", "mixed"):
            raise VaekitError(f"a table with categorical columns needs --likelihood auto, not {likelihood}")
        lik: Any = MixedConfig(cardinalities=schema.cardinalities)
    else:
        if likelihood == "auto":
            likelihood = "gaussian" if schema.kind == "table" or not dataset.binary_like else "bernoulli"
        if likelihood not in ("bernoulli", "gaussian", "studentt"):
            raise VaekitError(f"unknown likelihood '{likelihood}': expected auto, bernoulli, gaussian or studentt")
        if likelihood == "bernoulli" and not dataset.binary_like:
            raise VaekitError("the Bernoulli likelihood needs data in [0, 1]; use --likelihood gaussian")
        lik = LIKELIHOODS[likelihood]()
    changes: dict[str, Any] = {"likelihood": lik, "autoencoder": autoencoder}
    if schema.kind == "table" and isinstance(cfg.architecture, MLPConfig):
        changes["mask_input"] = True  # the encoder reads the mask of observed values: tables may have missing ones
    if latent_dim is not None:
        changes["latent_dim"] = latent_dim
    if hidden is not None:
        if not isinstance(cfg.architecture, MLPConfig):
            raise VaekitError(f"--hidden applies to MLP presets, not '{preset}'")
        changes["architecture"] = dataclasses.replace(cfg.architecture, hidden=tuple(hidden))
    return dataclasses.replace(cfg, **changes)


RECORDED_IF_USED = ("condition", "attributes", "id_column", "time_column")
FRAMES_PRESETS = ("video", "series")  # the sequential model of video clips and time series (vaekit.nn.frames)


def _frames_config(cfg: ModelConfig, kind: str, latent_dim, hidden, autoencoder, likelihood) -> ModelConfig:
    """The video or series preset with the user's latent size and likelihood (video: Bernoulli, series: Gaussian)."""
    if hidden is not None or autoencoder:
        raise VaekitError("--hidden and --autoencoder do not apply to the video and series models")
    if likelihood == "auto":
        likelihood = "bernoulli" if kind == "video" else "gaussian"
    if likelihood not in ("bernoulli", "gaussian", "studentt") or (likelihood == "bernoulli" and kind != "video"):
        raise VaekitError(f"--likelihood {likelihood} does not fit {kind} data: expected gaussian or studentt")
    changes: dict[str, Any] = {"likelihood": LIKELIHOODS[likelihood]()}
    if latent_dim is not None:
        changes["latent_dim"] = latent_dim
    return dataclasses.replace(cfg, **changes)


def _prepare_out(out: Path | None, resume: bool, overwrite: bool) -> dict[str, Any] | None:
    """Check the output folder; returns the saved config when resuming."""
    if out is None:
        if resume:
            raise VaekitError("resume needs the run folder (out=...)")
        return None
    if out.exists() and not out.is_dir():
        raise BundleError(f"--out {out} is a file, expected a run folder")
    has_run = (out / bundle.CONFIG).is_file()
    # a run killed before its first config.json leaves only vaekit's own files: starting again is safe
    leftovers = {bundle.WEIGHTS, bundle.STATE_DIR, LOCK_NAME}
    foreign = (
        [p for p in out.iterdir() if p.name not in leftovers and not p.name.endswith(".tmp")] if out.is_dir() else []
    )
    if resume:
        if not has_run:
            hint = (
                ": it was stopped before training began, run the same command without --resume" if not foreign else ""
            )
            raise BundleError(f"cannot resume: {out} holds no vaekit run{hint}")
        return bundle.read_config(out)
    if has_run and not overwrite:
        raise BundleError(
            f"{out} already holds a run: pass --resume to continue it, --overwrite to replace it, "
            "or choose another --out"
        )
    if foreign and not has_run:
        raise BundleError(f"{out} is not empty and holds no vaekit run: choose a new or empty folder")
    if has_run:  # --overwrite
        _remove_run(out)
    return None


def _remove_run(out: Path) -> None:
    """Remove a run's files only (its evaluations and report described old weights)."""
    old = [bundle.CONFIG, bundle.WEIGHTS, "metrics.jsonl", "eval.json", "report.html", conformal.FILE]
    old.append(bundle.ATTRIBUTES)  # attribute vectors belong to the old weights
    for path in [*(out / name for name in old), *out.glob("eval-*.json")]:
        path.unlink(missing_ok=True)
    shutil.rmtree(out / bundle.STATE_DIR, ignore_errors=True)
    for path in (out / name for name in RUN_FILES):  # its TensorBoard events, MLflow file store, MLflow run id
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _resume_arguments(saved, spec, arch_args, options):
    """The stored run's arguments, with the few that may change (epochs, device, patience) taken from now."""
    stored = saved.get("training", {})
    stored_options = dict(stored.get("options", {}))
    for key, value in options.items():
        if key not in RESUMABLE and value != stored_options.get(key):
            raise VaekitError(f"cannot resume with a different {key} ({value} vs {stored_options.get(key)} in the run)")
        stored_options[key] = value
    # what the run recorded only because it was used (a condition, a long table's columns) comes back with it
    new_spec = {k: stored.get(k) for k in spec} | {k: stored[k] for k in RECORDED_IF_USED if stored.get(k) is not None}
    for key, value in spec.items():
        if value is not None and value not in (IN_MEMORY, new_spec[key]):
            raise VaekitError(f"cannot resume with different {key} ({value} vs {new_spec[key]} in the run)")
    new_arch = {k: stored.get(k) for k in arch_args}
    if new_arch.get("hidden") is not None:
        new_arch["hidden"] = tuple(new_arch["hidden"])
    for key, value in arch_args.items():
        if value is not None and value != new_arch[key]:
            raise VaekitError(f"cannot resume with a different {key} ({value} vs {new_arch[key]} in the run)")
    return new_spec, new_arch, stored_options


def _canonical(data: Any) -> str:
    return IN_MEMORY if isinstance(data, Dataset) or is_in_memory(data) else canonical_spec(data)
