"""One strategy per data kind: the single answer to "what kind of data does this run hold".

A kind knows how to select data for a model (``select``), which files each command can write
(``formats``) and how to write what sample / reconstruct / interpolate / traverse / encode / decode produce.
``kind_of(model)`` picks the strategy from the bundle's schema; the commands in ``explore`` never ask. A new kind
(video, time series) is one new class registered in ``KINDS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from .._io import atomic_write
from ..defaults import EVAL_IW_SAMPLES, SEQUENCE_EVAL_IW_SAMPLES
from ..errors import VaekitError
from ..vae import VAE
from .data import Selected, read_latents, select_arrays
from .outputs import ARRAY_EXT, GIF_EXT, IMAGE_EXT, TABLE_EXT, grid, save_array, save_gif, save_image

OPERATIONS = ("sample", "reconstruct", "interpolate", "traverse", "encode", "decode")


@dataclass
class Written:
    """What a command wrote: the file, the one line that tells a user about it, and the values themselves."""

    path: Path
    line: str
    values: Any = None  # the tensor, or the molecules' SMILES, that went into the file

    def __str__(self) -> str:
        return self.line


@dataclass
class Endpoints:
    """The two ends of an interpolation: rows I and J of some data, or (molecules) two SMILES."""

    data: str | None = None
    pair: tuple[int, int] = (0, 1)
    smiles: tuple[str, str] | None = None


@dataclass
class Options:
    """Kind-specific options of the explore commands; a kind refuses the ones that do not apply to it."""

    temperature: float | None = None  # molecules: softmax temperature of sampling
    mean: bool | None = None  # sample: the likelihood's mean (True) or a draw (False); None: the kind's default
    # a conditional model's y: {"label": "7"} (``data.condition.parse_assignments`` of --condition label=7)
    condition: dict[str, Any] | None = None
    prior: bool = False  # a conditional model's sample: z from N(0, I), not from its fitted code Gaussians
    # molecules conditioned on properties RDKit computes: {name: ±window} every sample is checked against (None:
    # the default window, ``molecules.default_tolerance``); ``{}``: no check, the model's samples as drawn
    tolerance: dict[str, float] | None = None


NONE = Options()  # no options given


class Kind:
    """The strategy interface. ``formats[operation]`` is the set of output extensions the command can write."""

    name: ClassVar[str]
    formats: ClassVar[dict[str, set[str]]]
    iw_samples: ClassVar[int] = EVAL_IW_SAMPLES  # evaluate's default K: importance samples per input
    bits_per_dim: ClassVar[bool] = True  # whether evaluate reports bits/dim

    def select(self, model: VAE, data: str | None, split: str = "auto") -> Selected:
        raise NotImplementedError

    def default_data(self, model: VAE) -> str | None:
        """What the commands read when no --data is given (for the record of an evaluation)."""
        return model.record.data

    def evaluation_extras(self, model: VAE, sel: Selected) -> dict[str, Any]:
        """Kind-specific entries of eval.json."""
        return {}

    def sample(self, model: VAE, n: int, out: Path, seed: int, options: Options) -> Written:
        raise NotImplementedError

    def reconstruct(self, model: VAE, data: str | None, n: int | None, out: Path, options: Options = NONE) -> Written:
        raise NotImplementedError

    def interpolate(
        self, model: VAE, ends: Endpoints, steps: int, out: Path, slerp: bool, options: Options = NONE
    ) -> Written:
        raise NotImplementedError

    def traverse(
        self, model: VAE, dims: list[int] | None, span: float, steps: int, out: Path, options: Options = NONE
    ) -> Written:
        raise NotImplementedError

    def encode(self, model: VAE, data: str | None, out: Path, sample: bool, seed: int) -> Written:
        raise NotImplementedError

    def decode(self, model: VAE, latents: str | Path, out: Path, options: Options = NONE) -> Written:
        raise NotImplementedError


def _square(n: int) -> int:
    return round(n**0.5 + 0.49)


def _given(model: VAE, options: Options, n: int) -> torch.Tensor | None:
    """The condition values the user gave for ``n`` outputs (None: none given, or an unconditional model that
    was given none; an unconditional model given one refuses it in one line)."""
    if options.condition is None:
        return None
    return model.condition_values(options.condition, n)


def _needed(model: VAE, options: Options, n: int) -> tuple[torch.Tensor | None, int]:
    """(y, columns of a grid) for ``n`` outputs: the given condition, else for a model conditioned on one
    categorical attribute every category in turn (a row each); else a one-line error naming what to give."""
    y = _given(model, options, n)
    cond = model.condition
    if y is not None or cond is None:
        return y, _square(n)
    if len(cond.names) == 1 and cond.types[0] == "categorical":
        k = len(cond.categories[cond.names[0]])
        per = -(-n // k)
        return torch.arange(k).repeat_interleave(per)[:n, None].float(), per
    example = ",".join(f"{name}=..." for name in cond.names)
    raise VaekitError(f"this model is conditional on {', '.join(cond.names)}: pass --condition {example}")


class ArrayKind(Kind):
    """Images and tables: tensors of values, written as .npy, .csv (and, for images, PNG grids)."""

    name = "table"
    formats: ClassVar[dict[str, set[str]]] = {op: ARRAY_EXT | TABLE_EXT for op in OPERATIONS}

    def select(self, model: VAE, data: str | None, split: str = "auto") -> Selected:
        return select_arrays(model, data, split)

    def write(self, model: VAE, x: torch.Tensor, out: Path, ncol: int, condition: torch.Tensor | None = None) -> None:
        if out.suffix.lower() in IMAGE_EXT:
            save_image(grid(x, ncol), out)
        else:
            y = condition.expand(len(x), -1).cpu().numpy() if condition is not None else None
            save_array(x, out, model.schema, condition=y)

    def sample(self, model: VAE, n: int, out: Path, seed: int, options: Options) -> Written:
        if options.temperature is not None:
            raise VaekitError("--temperature applies to sequence models (molecules)")
        if n < 1:
            raise VaekitError("--n must be at least 1")
        y, ncol = _needed(model, options, n)
        x = model.sample(n, seed=seed, mean=options.mean, condition=y, prior=options.prior)
        self.write(model, x, out, ncol=ncol, condition=y)
        return Written(out, f"wrote {out}", x)

    def reconstruct(self, model: VAE, data: str | None, n: int | None, out: Path, options: Options = NONE) -> Written:
        """Inputs and their reconstructions; a conditional model encodes each with its own condition and decodes
        with ``options.condition`` when given: a counterfactual ("this digit, written as a 3")."""
        sel = self.select(model, data, split="test_or_all")
        x = sel.x[: 16 if n is None else n]
        own = sel.condition[: len(x)] if sel.condition is not None else None
        recon = model.reconstruct(x, _given(model, options, len(x)), given=own)
        if out.suffix.lower() in IMAGE_EXT:  # originals (top rows) above their reconstructions
            cols = min(len(x), 16)
            rows = [t for i in range(0, len(x), cols) for t in (x[i : i + cols], recon[i : i + cols])]
            save_image(grid(torch.cat(rows), cols), out)
        else:
            y = _given(model, options, len(x))
            y = own if y is None else y
            save_array(recon, out, model.schema, condition=y.cpu().numpy() if y is not None else None)
        return Written(out, f"wrote {out}", recon)

    def interpolate(
        self, model: VAE, ends: Endpoints, steps: int, out: Path, slerp: bool, options: Options = NONE
    ) -> Written:
        if ends.smiles is not None:
            raise VaekitError("--smiles applies to sequence models (molecules); use --pair I J")
        sel = self.select(model, ends.data, split="test_or_all")
        x = sel.x
        for i in ends.pair:
            if not 0 <= i < len(x):
                raise VaekitError(f"--pair index {i} is out of range: the data has {len(x)} samples (0..{len(x) - 1})")
        if steps < 2:
            raise VaekitError("--steps must be at least 2")
        y = _given(model, options, 1)
        if y is None and sel.condition is not None:  # the first end's own condition
            y = sel.condition[ends.pair[0]][None]
        path = model.interpolate(x[ends.pair[0]], x[ends.pair[1]], steps, slerp=slerp, condition=y)
        if out.suffix.lower() in GIF_EXT:
            save_gif(path, out)
        else:
            self.write(model, path, out, ncol=steps, condition=y)
        return Written(out, f"wrote {out}", path)

    def traverse(
        self, model: VAE, dims: list[int] | None, span: float, steps: int, out: Path, options: Options = NONE
    ) -> Written:
        y = _given(model, options, 1)
        if y is None and model.condition is not None:
            y = _needed(model, options, 1)[0]  # the first category, or the error naming what to give
        x = model.traverse(dims, span=span, steps=steps, condition=y)
        self.write(model, x.flatten(0, 1), out, ncol=steps, condition=y)
        return Written(out, f"wrote {out}", x)

    def encode(self, model: VAE, data: str | None, out: Path, sample: bool, seed: int) -> Written:
        sel = self.select(model, data, split="test_or_all")  # MNIST-like data has no "all" split
        labels = sel.labels.numpy() if sel.labels is not None and out.suffix.lower() == ".csv" else None
        codes = model.latent_codes(sel.x, sample=sample, seed=seed, condition=sel.condition)
        save_array(codes, out, labels=labels, prefix="z")
        return Written(out, f"wrote {out}", codes)

    def decode(self, model: VAE, latents: str | Path, out: Path, options: Options = NONE) -> Written:
        z = read_latents(model, latents)
        y = _given(model, options, len(z))
        if y is None and model.condition is not None:
            y = _needed(model, options, len(z))[0]
        with torch.no_grad():
            x = model.decode(z, y).mean
        self.write(model, x, out, ncol=_square(len(x)), condition=y)
        return Written(out, f"wrote {out}", x)


class ImageKind(ArrayKind):
    name = "image"
    formats: ClassVar[dict[str, set[str]]] = {
        **{op: IMAGE_EXT | ARRAY_EXT | TABLE_EXT for op in OPERATIONS},
        "interpolate": IMAGE_EXT | GIF_EXT | ARRAY_EXT | TABLE_EXT,
        "encode": ARRAY_EXT | TABLE_EXT,
    }


class SequenceKind(Kind):
    """Molecules: SMILES in (canonicalized, unreadable ones counted and skipped), SMILES or RDKit drawings out."""

    name = "sequence"
    iw_samples = SEQUENCE_EVAL_IW_SAMPLES  # each importance sample is a full pass of the GRU decoder
    bits_per_dim = False
    formats: ClassVar[dict[str, set[str]]] = {
        "sample": {".smi", ".txt"},
        "reconstruct": {".csv"},
        "interpolate": {".png"},
        "traverse": {".smi", ".txt", ".png", ".csv"},
        "encode": {".npy", ".csv"},
        "decode": {".smi", ".txt", ".png"},
    }

    def select(self, model: VAE, data: str | None, split: str = "auto") -> Selected:
        """SMILES (a .smi/.txt/.csv file or moses:SPLIT; default a MOSES test sample for a MOSES run, else the run's
        own training file) as the model's token ids. The run's own file: split "auto" is the part training held
        out ("val"), "train" the rest, "all" every row; any other data is "test"."""
        from ..data import canonical_spec
        from . import molecules

        source = data if data is not None else self.default_data(model)
        own = source is not None and canonical_spec(source) == model.record.data
        if split == "auto" and own and model.record.val_fraction > 0:
            split = "val"  # the run's own molecules: the part training held out, as for images and tables
        if split in ("val", "train"):
            if not own:
                raise VaekitError(f"--split {split} needs the run's own training data (leave out --data)")
            return self._training_part(model, split)
        if split not in ("auto", "test_or_all", "test", "all"):
            raise VaekitError(f"unknown split '{split}' for molecules: expected auto, test, all, val or train")
        enc = molecules.encode_smiles(model, molecules.load_molecules(model, data))
        return Selected(enc.ids, None, "all" if own else "test", enc.smiles, enc.summary(), source=enc.source)

    def _training_part(self, model: VAE, split: str) -> Selected:
        """The molecules training used ("train") or held out ("val"), drawn again exactly as training drew them."""
        from ..molecules.dataset import molecule_dataset
        from ..training.prepare import split_indices
        from . import molecules

        rec = model.record
        if not rec.from_file:
            raise VaekitError("this run was trained on in-memory molecules: its held-out part cannot be read again")
        mols = molecule_dataset(
            rec.data, representation=rec.representation or "selfies", subset=rec.subset, seed=rec.seed,
            column=rec.smiles_column,
        )  # fmt: skip
        train_idx, val_idx = split_indices(len(mols.smiles), rec.val_fraction, rec.seed, None)
        idx = val_idx if split == "val" else train_idx
        if len(idx) == 0:
            raise VaekitError(f"this run held out no molecules (val_fraction {rec.val_fraction}): use --data")
        source = f"{rec.data} ({split})"
        enc = molecules.encode_smiles(model, [mols.smiles[i] for i in idx.tolist()], source=source)
        return Selected(enc.ids, None, split, enc.smiles, enc.summary(), source=source)

    def default_data(self, model: VAE) -> str | None:
        data = model.record.data
        return "moses:test" if data is not None and data.split(":")[0] == "moses" else data

    def evaluation_extras(self, model: VAE, sel: Selected) -> dict[str, Any]:
        """The share of molecules greedy decoding reconstructs exactly, and what was skipped."""
        from . import molecules

        exact = molecules.reconstruction_accuracy(model, sel.x, sel.smiles)
        return {"reconstruction_accuracy": exact, "data_report": sel.notes}

    def sample(self, model: VAE, n: int, out: Path, seed: int, options: Options) -> Written:
        from . import molecules

        if options.mean is not None:
            raise VaekitError("--mode applies to image and table models; molecules are drawn (see --temperature)")
        y = _needed(model, options, 1)[0]  # a model conditioned on properties: the values asked for
        temperature = 1.0 if options.temperature is None else options.temperature
        checked = y is not None and options.tolerance != {} and molecules.checked_properties(model)
        if options.tolerance and not checked:
            raise VaekitError("--tolerance applies to a model conditioned on properties RDKit computes, with "
                              "--condition")  # fmt: skip
        if checked:  # the model proposes, RDKit keeps what lies within the window
            found = molecules.sample_within(model, n, y, options.tolerance, temperature, seed, options.prior)
            if not found.smiles:
                raise VaekitError(found.summary())
            molecules.write_molecules(found.smiles, out, per_row=5)
            line = f"wrote {len(found.smiles):,} molecules → {out}: {found.summary()}"
            return Written(out, line, found.smiles)
        smiles, valid = molecules.sample_with_validity(model, n, temperature, seed, condition=y, prior=options.prior)
        molecules.write_molecules(smiles, out, per_row=5)
        n_valid, n_unique = sum(valid), len({s for s, v in zip(smiles, valid, strict=True) if v})
        line = (
            f"wrote {len(smiles):,} molecules → {out}: {n_valid:,} valid ({n_valid / len(smiles):.1%}), "
            f"{n_unique:,} unique valid"
        )
        return Written(out, line, smiles)

    def reconstruct(self, model: VAE, data: str | None, n: int | None, out: Path, options: Options = NONE) -> Written:
        from . import molecules

        y = _given(model, options, 1)  # a conditional model: decode with these properties instead of the input's
        rec = molecules.reconstruct_molecules(model, molecules.load_molecules(model, data, n), condition=y)
        atomic_write(out, lambda p: rec.table.to_csv(p, index=False))
        skipped = f" ({rec.encoded.summary()})" if rec.encoded.n_skipped else ""
        line = f"reconstructed {rec.accuracy:.1%} of {len(rec.table):,} molecules exactly{skipped} → {out}"
        return Written(out, line, rec)

    def interpolate(
        self, model: VAE, ends: Endpoints, steps: int, out: Path, slerp: bool, options: Options = NONE
    ) -> Written:
        from . import molecules

        y = _given(model, options, 1)  # a conditional model: by default the first molecule's own properties
        if ends.smiles is None:
            raise VaekitError("a molecule model interpolates between two molecules: pass --smiles A B")
        path = molecules.interpolate_molecules(model, ends.smiles[0], ends.smiles[1], steps, slerp, condition=y)
        molecules.draw_molecules(path, out, per_row=min(steps, 5))
        return Written(out, f"wrote {len(path)} molecules ({len(set(path))} distinct) → {out}", path)

    def traverse(
        self, model: VAE, dims: list[int] | None, span: float, steps: int, out: Path, options: Options = NONE
    ) -> Written:
        from . import molecules

        y = _needed(model, options, 1)[0]
        rows = molecules.traverse_molecules(model, out, dims, span, steps, condition=y)
        distinct = [len(set(row)) for row in rows]
        return Written(out, f"wrote {len(rows)} rows → {out}; distinct molecules per row: {distinct}", rows)

    def encode(self, model: VAE, data: str | None, out: Path, sample: bool, seed: int) -> Written:
        from . import molecules

        enc = molecules.encode_to_file(model, data, out, sample, seed)
        return Written(out, f"wrote {len(enc.smiles):,} codes → {out} ({enc.summary()})", enc)

    def decode(self, model: VAE, latents: str | Path, out: Path, options: Options = NONE) -> Written:
        from . import molecules

        y = _needed(model, options, 1)[0]
        z = read_latents(model, latents).to(next(model.parameters()).device)
        smiles = molecules.decode_greedy(model, z, condition=y)
        molecules.write_molecules(smiles, out, per_row=5)
        return Written(out, f"wrote {len(smiles):,} molecules ({len(set(smiles)):,} distinct) → {out}", smiles)


class FramesKind(Kind):
    """Video clips and time series (a frames model): clips written as GIF/MP4/.npy, series as PNG plots, CSV or
    .npy (``workflows.frames``); ``vaekit predict`` continues them. Their latents are per frame: interpolating,
    traversing, encoding and decoding codes are not offered for them yet."""

    name = "frames"
    bits_per_dim = False
    iw_samples = 0  # the ELBO: the sequential model has no importance-weighted estimate here
    formats: ClassVar[dict[str, set[str]]] = {op: {".gif", ".mp4", ".png", ".csv", ".npy"} for op in OPERATIONS}

    def select(self, model: VAE, data: str | None, split: str = "auto") -> Selected:
        return select_arrays(model, data, split)

    def evaluation_extras(self, model: VAE, sel: Selected) -> dict[str, Any]:
        """The mean ELBO of each frame (nats): how well the model knows the start of a clip and its continuation."""
        with torch.no_grad():
            per_frame = torch.cat([model.frame_elbo(sel.x[i : i + 100]) for i in range(0, len(sel.x), 100)])
        return {"elbo_per_frame": per_frame.double().mean(0).tolist()}

    def sample(self, model: VAE, n: int, out: Path, seed: int, options: Options) -> Written:
        from .frames import write_frames

        if options.condition is not None or options.mean is not None:
            raise VaekitError("--condition and --mode do not apply to video and time series models")
        if n < 1:
            raise VaekitError("--n must be at least 1")
        temperature = 1.0 if options.temperature is None else options.temperature
        x = model.sample(n, seed=seed, temperature=temperature)
        write_frames(model, x, out)
        return Written(out, f"wrote {n} generated {'clips' if model.schema.kind == 'video' else 'series'} → {out}", x)

    def reconstruct(self, model: VAE, data: str | None, n: int | None, out: Path, options: Options = NONE) -> Written:
        """Inputs and their reconstructions (each frame decoded from its posterior z, the true frames before it
        read), side by side."""
        from .frames import write_frames

        x = self.select(model, data, split="test_or_all").x[: 8 if n is None else n]
        with torch.no_grad():
            recon = model(x, torch.Generator().manual_seed(0))[1].mean.reshape(x.shape).cpu()
        pairs = torch.stack([x.cpu(), recon], 1).flatten(0, 1)  # input, reconstruction, input, ...
        write_frames(model, pairs, out, columns=2)
        return Written(out, f"wrote {len(x)} inputs and their reconstructions → {out}", recon)

    def _not_yet(self, what: str) -> VaekitError:
        return VaekitError(f"{what} is not offered for video and time series models yet (their latents are per frame)")

    def interpolate(self, model, ends, steps, out, slerp, options=NONE) -> Written:
        raise self._not_yet("interpolate")

    def traverse(self, model, dims, span, steps, out, options=NONE) -> Written:
        raise self._not_yet("traverse")

    def encode(self, model, data, out, sample, seed) -> Written:
        raise self._not_yet("encode")

    def decode(self, model, latents, out, options=NONE) -> Written:
        raise self._not_yet("decode")


KINDS: dict[str, Kind] = {
    "image": ImageKind(),
    "table": ArrayKind(),
    "vector": ArrayKind(),
    "sequence": SequenceKind(),
    "video": FramesKind(),
    "series": FramesKind(),
}


def kind_of(model: VAE) -> Kind:
    """The strategy for the model's data kind (its schema's ``kind``)."""
    try:
        return KINDS[model.schema.kind]
    except KeyError:
        raise VaekitError(f"this run holds {model.schema.kind!r} data, which this vaekit cannot handle") from None


def select(model: VAE, data: str | None, split: str = "auto") -> Selected:
    """Data for ``model``: ``data`` (default: the run's own), shaped for it, and the chosen split."""
    return kind_of(model).select(model, data, split)


__all__ = ["KINDS", "Endpoints", "Kind", "Options", "Written", "kind_of", "select"]
