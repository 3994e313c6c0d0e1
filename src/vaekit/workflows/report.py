"""``vaekit report``: one self-contained HTML page about a run (metrics, curves, samples, latent space).

Every image is an inline base64 PNG and the CSS is inline: the file can be mailed, archived or opened offline.
Figures are drawn on ``matplotlib.figure.Figure`` objects (the Agg renderer, no pyplot state, nothing to close).
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, MaxNLocator
from PIL import Image

from .. import bundle
from .._io import write_text
from .._version import __version__
from ..data.condition import condition_rows
from ..errors import VaekitError
from ..vae import VAE, load_model
from .data import Selected
from .evaluate import evaluate
from .kinds import kind_of
from .outputs import check_out, grid

MAX_POINTS, ACTIVE_VARIANCE, DPI = 5000, 0.01, 110
EVAL_LABELS: dict[str, tuple[str, str, str]] = {  # key -> (label, unit, format)
    "elbo": ("ELBO", "nats", ",.2f"),
    "reconstruction": ("Reconstruction log-likelihood", "nats", ",.2f"),
    "kl": ("KL(q(z|x) ‖ p(z))", "nats", ",.2f"),
    "iwae": ("IWAE bound", "nats", ",.2f"),
    "nll": ("Negative log-likelihood (IWAE estimate)", "nats", ",.2f"),
    "bits_per_dim": ("Bits per dimension", "bits", ".4f"),
    "iw_samples": ("Importance samples", "", ",d"),
    "active_units": ("Active units", "", ",d"),
    "n": ("Samples evaluated", "", ",d"),
}
SKIP_KEYS = {"data", "split", "seed"}  # and timings (*seconds)
DCI_PARTS = ("disentanglement", "completeness", "informativeness")
MAX_TRAVERSAL_ROWS = 10
CURVES = (("elbo", "ELBO"), ("reconstruction", "Reconstruction"), ("kl", "KL"))
MAX_METRICS_BYTES = 64 * 2**20  # metrics.jsonl: a few hundred bytes per epoch


def report(run: str | Path, data: str | None = None, out: str | Path | None = None, *, overwrite: bool = False) -> Path:
    """Write RUN/report.html (or ``out``): a single HTML file describing the run, with every image inline.

    RUN/report.html is the run's own page and is refreshed each time; a file named with ``out`` is not replaced
    unless ``overwrite``."""
    run = Path(run)
    own = out is None
    out = check_out(run / "report.html" if own else out, {".html"}, "the report", overwrite=own or overwrite)
    model = load_model(run)
    kind = kind_of(model)
    sel = kind.select(model, data, split="test_or_all")
    content = KIND_CARDS[kind.name](model, sel)
    notes: list[str] = []  # damaged files the report worked around, shown at the top of the page
    ev = _eval_results(run, data, model.total_latent_dim, notes)
    means, kl = _encode(model, sel.x[:MAX_POINTS], _first(sel.condition, MAX_POINTS))
    history = _history(run, notes)
    cards = [*_notes_card(notes), _metrics_card(model, ev, history), _curves_card(history), *content]
    cards += _disentanglement_cards(model, ev.get("disentanglement"), sel)
    labels = sel.labels[:MAX_POINTS] if sel.labels is not None else None
    cards += [_map_card(model, means, labels), _kl_card(ev, means, kl, wide=model.schema.kind != "table")]
    write_text(out, _page(model, run, sel, cards))
    return out


# the cards that show what a model of each kind makes of its data (keys: kinds.Kind.name)
KIND_CARDS: dict[str, Callable[[VAE, Selected], list[str]]] = {
    "image": lambda model, sel: _image_cards(model, sel.x, sel.condition),
    "table": lambda model, sel: _table_cards(model, sel.x, sel.condition),
    "sequence": lambda model, sel: _molecule_cards(model, sel),
}


# -- numbers ---------------------------------------------------------------------------------------------------
def _eval_results(run: Path, data: str | None, latent_dims: int, notes: list[str]) -> dict[str, Any]:
    """RUN/eval.json when it is about this data; else a fresh evaluation (not written). A damaged eval.json is
    evaluated afresh, damaged fields of a usable one are left out; both add a line to ``notes``."""
    path = run / "eval.json"
    ev = None
    if path.is_file():
        try:
            ev = bundle.read_json(path, bundle.MAX_CONFIG_BYTES)
        except VaekitError as e:
            notes.append(f"{e}; evaluated afresh for this page (`vaekit evaluate` rewrites it).")
        if ev is not None and not (isinstance(ev, dict) and _is_number(ev.get("elbo"))):
            notes.append(f"{path} holds no evaluation (no ELBO); evaluated afresh for this page.")
            ev = None
    if ev is None or (data is not None and ev.get("data") != data):
        return evaluate(run, data, write=False, iw_samples=0, disentanglement=False)  # a page, not a benchmark
    damaged = [k for k, v in ev.items() if not _eval_field_ok(k, v, latent_dims)]
    if damaged:
        notes.append(f"{path}: left out the damaged field(s) {', '.join(damaged)}.")
    return {k: v for k, v in ev.items() if k not in damaged}


def stored_evaluation(run: str | Path) -> dict[str, Any] | None:
    """RUN/eval.json when it is readable and holds an evaluation's headline numbers (split, ELBO, reconstruction,
    KL; NLL with its K when present), else None: what ``vaekit report`` may print after writing the page (a
    damaged eval.json is named on the page instead)."""
    path = Path(run) / "eval.json"
    try:
        ev = bundle.read_json(path, bundle.MAX_CONFIG_BYTES) if path.is_file() else None
    except VaekitError:
        return None
    needed = ["elbo", "reconstruction", "kl"] + (["nll", "iw_samples"] if isinstance(ev, dict) and "nll" in ev else [])
    ok = isinstance(ev, dict) and isinstance(ev.get("split"), str) and all(_is_number(ev.get(k)) for k in needed)
    return ev if ok else None


def _eval_field_ok(key: str, value: Any, latent_dims: int) -> bool:
    """A field of eval.json has the type the report needs (numbers; per-dimension lists of the right length)."""
    if key in ("kl_per_dim", "posterior_mean_variance"):
        return isinstance(value, list) and len(value) == latent_dims and all(map(_is_number, value))
    if key == "disentanglement":
        return _disentanglement_ok(value)
    return key not in EVAL_LABELS or _is_number(value)


def _disentanglement_ok(value: Any) -> bool:
    """eval.json's "disentanglement" has the numbers, names and per-dimension pairs its cards show."""
    if not isinstance(value, dict) or not isinstance(value.get("dci"), dict):
        return False
    numbers = [value.get("mig"), value.get("sap"), *(value["dci"].get(k) for k in DCI_PARTS)]
    factors, best, discrete = value.get("factors"), value.get("best_factor_per_dimension"), value.get("discrete")
    return (
        all(map(_is_number, numbers))
        and isinstance(factors, list)
        and all(isinstance(f, str) for f in factors)
        and isinstance(discrete, list)
        and len(discrete) == len(factors)
        and all(isinstance(d, bool) for d in discrete)
        and isinstance(best, list)
        and all(
            isinstance(b, list) and len(b) == 2 and (b[0] is None or b[0] in factors) and _is_number(b[1]) for b in best
        )
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _history(run: Path, notes: list[str]) -> list[dict[str, Any]]:
    """The training records of metrics.jsonl, the last one of each epoch (after a resume). Damaged lines are
    skipped with a note."""
    path = run / "metrics.jsonl"
    if not path.is_file():
        return []
    if path.stat().st_size > MAX_METRICS_BYTES:
        notes.append(f"{path} is larger than {MAX_METRICS_BYTES // 2**20} MB: not read (it is damaged).")
        return []
    rows, bad = [], []
    for i, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if line.strip():
            row = _record(line, str(path))
            (rows if row is not None else bad).append(row if row is not None else i)
    if bad:
        where = ", ".join(map(str, bad[:5])) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        notes.append(f"{path}: skipped {len(bad)} damaged line(s) (line {where}).")
    return list({r["epoch"]: r for r in rows}.values())


def _record(line: str, where: str) -> dict[str, Any] | None:
    """One line of metrics.jsonl when it is a training record (epoch and the curves' numbers), else None."""
    try:
        row = bundle.parse_json(line, where)
    except VaekitError:
        return None
    curves = [k for key, _ in CURVES for k in (key, f"val_{key}")]
    ok = (
        isinstance(row, dict)
        and isinstance(row.get("epoch"), int)
        and all(_is_number(row.get(key)) for key, _ in CURVES)
        and all(_is_number(row[k]) for k in curves if k in row)
    )
    return row if ok else None


def _first(y: torch.Tensor | None, n: int) -> torch.Tensor | None:
    """A conditional model's condition values of the first n inputs (None for an unconditional model)."""
    return None if y is None else y[:n]


@torch.no_grad()
def _encode(model: VAE, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior means (N, D) and per-dimension KL (N, D) of the inputs (each with its condition), in batches."""
    stats = [model.latent_stats(x[i : i + 1000], condition_rows(y, i, 1000)) for i in range(0, len(x), 1000)]
    return torch.cat([m for m, _ in stats]), torch.cat([kl for _, kl in stats])


def _fmt(value: Any, spec: str = ",.2f") -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return html.escape(str(value))
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return format(int(value) if spec.endswith("d") else value, spec)


# -- cards -------------------------------------------------------------------------------------------------------
def _card(title: str, body: str, caption: str = "", *, cls: str = "") -> str:
    """A titled box; cls "wide" spans the page, "tall" two rows of the grid."""
    cap = f'<p class="cap">{caption}</p>' if caption else ""
    return f'<section class="card {cls}"><h2>{html.escape(title)}</h2>{cap}{body}</section>'


def _table(header: list[str], rows: list[list[str]], cls: str = "") -> str:
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<div class="scroll"><table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _metrics_card(model: VAE, ev: dict[str, Any], history: list[dict[str, Any]]) -> str:
    scalars = {
        k: v for k, v in ev.items() if k not in SKIP_KEYS and not k.endswith("seconds") and isinstance(v, int | float)
    }
    order = [k for k in EVAL_LABELS if k in scalars] + [k for k in scalars if k not in EVAL_LABELS]
    rows = []
    for k in order:
        label, unit, spec = EVAL_LABELS.get(k, (k.replace("_", " ").capitalize(), "", ",.4g"))
        value = _fmt(scalars[k], spec) + (f" of {model.total_latent_dim}" if k == "active_units" else "")
        rows.append([html.escape(label), f'<b>{value}</b> <span class="unit">{unit}</span>'])
    split = html.escape(f"{ev.get('split', '?')} split")
    parts = [f"<div><h3>Evaluation · {split}</h3>{_table(['metric', 'value'], rows, 'metrics')}</div>"]
    if history:
        last, has_val = history[-1], "val_elbo" in history[-1]
        rows = [
            [name, _fmt(last.get(key)), _fmt(last.get(f"val_{key}")) if has_val else "–"]
            for name, key in (("ELBO", "elbo"), ("Reconstruction", "reconstruction"), ("KL", "kl"))
        ]
        table = _table([f"epoch {last['epoch']} (nats)", "train", "validation"], rows, "metrics")
        parts.append(f"<div><h3>Training · final epoch</h3>{table}{_result_line(model, history)}</div>")
    return _card("Metrics", f'<div class="split">{"".join(parts)}</div>', "Per-sample averages.", cls="wide")


def _notes_card(notes: list[str]) -> list[str]:
    """What the report skipped or worked around (damaged files), as a card of its own; none when all was well."""
    if not notes:
        return []
    items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return [_card("Notes", f'<ul class="notes">{items}</ul>', "Parts of the run that could not be used.", cls="wide")]


def _result_line(model: VAE, history: list[dict[str, Any]]) -> str:
    training = model.run_config.get("training", {})
    result = training.get("result", {})
    bits = [f"best epoch <b>{result.get('best_epoch', '?')}</b>"]
    if result.get("best_val") is not None:
        bits.append(f"best {result.get('selected_by', 'validation ELBO')} <b>{_fmt(result['best_val'])}</b> nats")
    bits.append(html.escape(_how_it_ended(result, training.get("options", {}), training.get("status"), history)))
    if _is_number(history[-1].get("samples_per_s")):
        bits.append(f"{_fmt(history[-1]['samples_per_s'], ',.0f')} samples/s")
    return f'<p class="note">{" · ".join(bits)}</p>'


def _how_it_ended(result: dict[str, Any], options: dict[str, Any], status: Any, history: list[dict[str, Any]]) -> str:
    """Why training stopped: all epochs, early stopping, the time limit, or an interruption (a killed run keeps
    the config of its last completed epoch, with training "status" "in_progress"). The time limit is read from
    result["stopped_by"] when recorded, else from the records (a partial last epoch, or the limit used up)."""
    done, planned, limit = result.get("epochs_completed"), options.get("epochs"), options.get("time_limit")
    of = f"{done} of {planned} epochs" if planned is not None else f"{done} epochs"
    stopped_by = result.get("stopped_by") or ("early_stopping" if result.get("stopped_early") else None)
    if done is None:
        return "how training ended is not recorded"
    if stopped_by == "early_stopping":
        return f"stopped early after {of} (no better validation score for {options.get('early_stopping', '?')} epochs)"
    if stopped_by == "time_limit" or (limit and history and _out_of_time(history, limit)):
        return f"stopped by the time limit{f' ({limit:g} min)' if limit else ''} after {of}"
    if planned is None or done >= planned:
        return "ran all epochs"
    if status == "finished":
        return f"stopped after {of}"
    return f"stopped after {of}: interrupted (killed or crashed) or still running; `vaekit train --resume` continues it"


def _out_of_time(history: list[dict[str, Any]], limit: float) -> bool:
    """The records show the time limit was reached: a partial last epoch, or the limit used up."""
    seconds = sum(r["seconds"] for r in history if _is_number(r.get("seconds")))
    return "fraction" in history[-1] or seconds >= 60 * limit


def _curves_card(history: list[dict[str, Any]]) -> str:
    if not history:
        body = '<p class="note">No training records (metrics.jsonl) in this run.</p>'
        return _card("Training curves", body, cls="wide")
    fig = Figure(figsize=(11, 3.1))
    epochs = [r["epoch"] for r in history]
    for ax, (key, title) in zip(fig.subplots(1, 3), CURVES, strict=True):
        ax.plot(epochs, [r[key] for r in history], "o-", ms=3, lw=1.8, color="#2563eb", label="train")
        if all(f"val_{key}" in r for r in history):
            ax.plot(epochs, [r[f"val_{key}"] for r in history], "o-", ms=3, lw=1.8, color="#f97316", label="validation")
        _style_axes(ax, title, "epoch", "nats")
        ax.legend(frameon=False, fontsize=8)
        ax.xaxis.set_major_locator(FixedLocator(epochs) if len(epochs) <= 12 else MaxNLocator(integer=True))
    fig.tight_layout()
    return _card("Training curves", _fig_img(fig, "training curves"), "Per-sample nats, by epoch.", cls="wide")


def _image_cards(model: VAE, x: torch.Tensor, y: torch.Tensor | None) -> list[str]:
    """Samples, reconstructions, interpolation, traversal; a conditional model samples with the conditions of the
    first 64 inputs and reconstructs, interpolates and traverses with the inputs' own."""
    d, xs = model.config.latent_dim, x[:16]
    samples = _grid_img(_samples(model, 64, y), 8, "samples")
    what = (
        "64 draws, decoded with the conditions of the first 64 inputs."
        if y is not None
        else "64 draws from the prior, decoded."
    )
    cards = [_card("Samples", samples, what, cls="tall")]
    recon = model.reconstruct(xs, given=_first(y, 16))
    rows = torch.cat([t for i in range(0, len(xs), 8) for t in (xs[i : i + 8], recon[i : i + 8])])
    cap = f"The first {len(xs)} inputs (odd rows) over their reconstructions (even rows)."
    cards.append(_card("Reconstructions", _grid_img(rows, 8, "reconstructions"), cap))
    if len(x) >= 2:
        cap = "Decoded straight line between the codes of data rows 0 and 1 (10 steps)."
        path = model.interpolate(x[0], x[1], 10, condition=_first(y, 1))
        cards.append(_card("Interpolation", _grid_img(path, 10, "interpolation"), cap))
    dims = list(range(min(d, 8)))
    trav = model.traverse(dims, span=3.0, steps=9, condition=_first(y, 1)).flatten(0, 1)
    cap = f"One row per latent dimension (0–{dims[-1]} of {d}), varied over ±3 prior standard deviations."
    return [*cards, _card("Latent traversal", _grid_img(trav, 9, "latent traversal"), cap)]


def _disentanglement_cards(model: VAE, scores: dict[str, Any] | None, sel: Selected) -> list[str]:
    """eval.json's disentanglement metrics, and for images a traversal of the dimensions that carry a factor,
    each row labelled with that factor (best first); none when the evaluated data had no known factors."""
    if not scores:
        return []
    rows = [["MIG", scores["mig"]], *(["DCI " + k, scores["dci"][k]] for k in DCI_PARTS), ["SAP", scores["sap"]]]
    table = _table(["metric", "value"], [[html.escape(k), f"<b>{_fmt(v, '.3f')}</b>"] for k, v in rows], "metrics")
    kinds = ", ".join(
        f"{html.escape(f)}{' (discrete)' * d}" for f, d in zip(scores["factors"], scores["discrete"], strict=True)
    )
    n = f"{_fmt(scores['n'], ',d')} inputs" if _is_number(scores.get("n")) else "the inputs"
    cap = (
        f"Posterior means of {n} scored against the known factors {kinds} (MIG, DCI and SAP as in "
        "disentanglement_lib; 0 to 1, higher is better)."
    )
    cards = [_card("Disentanglement", table, cap)]
    best = scores["best_factor_per_dimension"]
    if model.schema.kind == "image" and len(best) == model.config.latent_dim:
        cards.append(_factor_traversal_card(model, best, sel))
    return cards


def _factor_traversal_card(model: VAE, best: list[list[Any]], sel: Selected) -> str:
    """One traversal row per latent dimension that carries a factor, ordered by its share of that factor's
    information (best first; inactive dimensions left out), labelled in HTML beside the row."""
    dims = sorted((i for i, (name, _) in enumerate(best) if name is not None), key=lambda i: -best[i][1])
    shown = dims[:MAX_TRAVERSAL_ROWS]
    if not shown:
        body = '<p class="note">No latent dimension carries information about a known factor.</p>'
        return _card("Traversal by factor", body, cls="wide")
    y = sel.condition[:1] if sel.condition is not None else None  # a conditional model: the first input's y
    trav = model.traverse(shown, span=3.0, steps=9, condition=y)
    rows = "".join(
        f'<div class="tlabel"><b>{html.escape(best[i][0])}</b><span>z{i} · {_fmt(best[i][1], ".2f")}</span></div>'
        f"{_grid_img(trav[r], 9, f'traversal of z{i}')}"
        for r, i in enumerate(shown)
    )
    left = len(best) - len(dims)
    cap = (
        "Each row varies one latent dimension over ±3 prior standard deviations, labelled with the factor it "
        "carries most about and that mutual information as a share of the factor's entropy"
        + (f"; {len(dims) - len(shown)} more not shown" if len(dims) > len(shown) else "")
        + (f"; {left} inactive dimension(s) left out." if left else ".")
    )
    return _card("Traversal by factor", f'<div class="factors">{rows}</div>', cap, cls="wide")


def _samples(model: VAE, n: int, y: torch.Tensor | None) -> torch.Tensor:
    """n samples (seed 0); a conditional model's with the conditions of the first n inputs, repeated as needed."""
    if y is None:
        return model.sample(n, seed=0)
    return model.sample(n, seed=0, condition=y[torch.arange(n) % len(y)])


def _table_cards(model: VAE, x: torch.Tensor, y: torch.Tensor | None) -> list[str]:
    flat, n = x.reshape(len(x), -1), min(len(x), 6)
    recon = model.reconstruct(x[:n], given=_first(y, n)).reshape(n, -1)
    samples = _samples(model, 8, y).reshape(8, -1)
    cols = list(model.schema.columns or [f"x{i}" for i in range(flat.shape[1])])[:10]
    more = f" (first 10 of {flat.shape[1]} columns)" if flat.shape[1] > 10 else ""
    head, places = [html.escape(c) for c in cols], _decimals(flat[:MAX_POINTS, : len(cols)])
    wide = "wide" if len(cols) > 5 else ""  # many columns: one table per row of the page

    names = [(model.schema.categories or {}).get(c) for c in cols]  # categorical columns: category names

    def cell(v: float, k: int, name: tuple[str, ...] | None) -> str:
        if v != v:  # NaN: a missing value
            return ""
        return html.escape(name[min(max(round(v), 0), len(name) - 1)]) if name else f"{v:,.{k}f}"

    def cells(row: torch.Tensor) -> list[str]:
        return [cell(v, k, c) for v, k, c in zip(row[: len(cols)].tolist(), places, names, strict=True)]

    rows = [[str(i + 1), *cells(r)] for i, r in enumerate(samples)]
    cards = [
        _card("Samples", _table(["#", *head], rows, "data"), f"8 draws from the prior, in data units{more}.", cls=wide)
    ]
    rows = [r for i in range(n) for r in ([f"{i} original", *cells(flat[i])], ["reconstruction", *cells(recon[i])])]
    cap = f"The first {n} rows and their reconstructions (shaded), in data units{more}."
    return cards + [_card("Reconstructions", _table(["row", *head], rows, "data pairs"), cap, cls=wide)]


def _molecule_cards(model: VAE, sel: Selected) -> list[str]:
    """Samples, reconstructions and an interpolation of a sequence (molecule) model, drawn with RDKit."""
    from .molecules import interpolate_molecules, reconstruct_ids, sample_molecules

    cap = "12 draws from the prior, decoded token by token (temperature 1)."
    cards = [_card("Samples", _molecules_img(sample_molecules(model, 12, seed=0), 4, "samples"), cap)]
    n = min(len(sel.smiles), 4)
    if n:
        recon = reconstruct_ids(model, sel.x[:n])
        pairs = [s for pair in zip(sel.smiles[:n], recon, strict=True) for s in pair]
        legends = [t for a, b in zip(sel.smiles[:n], recon, strict=True) for t in (a, f"{b} (exact)" if a == b else b)]
        cap = f"The first {n} molecules (left), each beside the greedy decoding of its posterior mean (right)."
        cards.append(_card("Reconstructions", _molecules_img(pairs, 2, "reconstructions", legends), cap))
    if len(sel.smiles) >= 2:
        path = interpolate_molecules(model, sel.smiles[0], sel.smiles[1], steps=6)
        cap = "Greedy decodings along the straight line between the codes of molecules 0 and 1 (6 steps)."
        cards.append(_card("Interpolation", _molecules_img(path, 6, "interpolation"), cap, cls="wide"))
    return cards


def _decimals(x: torch.Tensor) -> list[int]:
    """Digits after the point for each column: about four significant digits at the column's largest value."""
    return (3 - x.nan_to_num().abs().amax(0).clamp_min(1e-12).log10().floor()).clamp(0, 6).int().tolist()


def _map_card(model: VAE, means: torch.Tensor, labels: torch.Tensor | None) -> str:
    d = means.shape[1]
    if d > 2:
        centred = means - means.mean(0)
        _, s, vh = torch.linalg.svd(centred, full_matrices=False)
        xy, share = centred @ vh[:2].T, (s**2 / (s**2).sum().clamp_min(1e-12))[:2].tolist()
        axes, how = (f"PC 1 ({share[0]:.0%})", f"PC 2 ({share[1]:.0%})"), "first two principal components"
    else:
        xy = means if d == 2 else torch.cat([means, torch.zeros_like(means)], 1)
        axes, how = ("z0", "z1" if d == 2 else ""), "the latent dimensions directly"
    fig = Figure(figsize=(5.6, 4.6))
    ax = fig.subplots()
    if labels is None:
        ax.scatter(xy[:, 0], xy[:, 1], color="#2563eb", linewidths=0, **_dots(len(xy)))
    else:
        _scatter_by_label(ax, xy, labels, model.schema.label_names)
    _style_axes(ax, "", *axes)
    fig.tight_layout()
    cap = f"Posterior means of {len(means):,} inputs, shown by {how}."
    return _card("Latent space", _fig_img(fig, "latent space map"), cap)


def _scatter_by_label(ax: Any, xy: torch.Tensor, labels: torch.Tensor, names: tuple[str, ...] | None) -> None:
    classes = sorted(int(c) for c in labels.unique())
    cmap = colormaps["tab10" if len(classes) <= 10 else "tab20"]
    for k, c in enumerate(classes):
        pts = xy[labels == c]
        name = names[c] if names is not None and 0 <= c < len(names) else str(c)
        ax.scatter(pts[:, 0], pts[:, 1], color=cmap(k % cmap.N), linewidths=0, label=name, **_dots(len(xy)))
    if len(classes) <= 20:
        legend = ax.legend(markerscale=2, fontsize=8, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
        for handle in legend.legend_handles:
            handle.set_alpha(1.0)


def _dots(n: int) -> dict[str, float]:
    return {"s": 5, "alpha": 0.45} if n > 1000 else {"s": 16, "alpha": 0.75}


def _kl_card(ev: dict[str, Any], means: torch.Tensor, kl: torch.Tensor, wide: bool) -> str:
    per_dim = torch.as_tensor(ev["kl_per_dim"]) if "kl_per_dim" in ev else kl.mean(0)
    var = torch.as_tensor(ev["posterior_mean_variance"]) if "posterior_mean_variance" in ev else means.var(0)
    active = (var > ACTIVE_VARIANCE).tolist() if len(means) > 1 else [False] * len(per_dim)
    fig = Figure(figsize=(11, 3.2) if wide else (5.6, 4.6))
    ax = fig.subplots()
    colours = ["#2563eb" if a else "#cbd5e1" for a in active]
    ax.bar(range(len(per_dim)), per_dim.tolist(), color=colours, width=0.8)
    if len(per_dim) <= 32:
        ax.set_xticks(range(len(per_dim)))
    _style_axes(ax, "", "latent dimension", "KL (nats)")
    fig.tight_layout()
    cap = (
        f"<b>{sum(active)} of {len(active)} active</b> (blue: posterior-mean variance over the data &gt; "
        f"{ACTIVE_VARIANCE}); grey dimensions are unused. Total {_fmt(float(per_dim.sum()))} nats."
    )
    return _card("KL per latent dimension", _fig_img(fig, "KL per dimension"), cap, cls="wide" * wide)


# -- images ------------------------------------------------------------------------------------------------------
def _style_axes(ax: Any, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title, fontsize=11, loc="left", color="#111827")
    ax.set_xlabel(xlabel, fontsize=9, color="#4b5563")
    ax.set_ylabel(ylabel, fontsize=9, color="#4b5563")
    ax.tick_params(labelsize=8, colors="#4b5563")
    ax.grid(alpha=0.25)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _fig_img(fig: Figure, alt: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white", bbox_inches="tight")
    return _img(buf.getvalue(), alt)


def _grid_img(x: torch.Tensor, ncol: int, alt: str) -> str:
    """Tile images and enlarge them (nearest neighbour) so each tile is at least ~64 pixels tall."""
    img, scale = grid(x, ncol), max(1, min(8, math.ceil(64 / x.shape[-2])))
    buf = io.BytesIO()
    img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST).save(buf, format="PNG")
    return _img(buf.getvalue(), alt, "px")


def _molecules_img(smiles: list[str], per_row: int, alt: str, legends: list[str] | None = None) -> str:
    from .molecules import molecule_grid

    buf = io.BytesIO()
    molecule_grid(smiles, per_row, legends, size=220).save(buf, format="PNG")
    return _img(buf.getvalue(), alt)


def _img(png: bytes, alt: str, cls: str = "fig") -> str:
    return f'<img class="{cls}" alt="{alt}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


# -- page --------------------------------------------------------------------------------------------------------
def _page(model: VAE, run: Path, sel: Selected, cards: list[str]) -> str:
    info, cfg = model.run_config.get("training", {}), model.config
    arch = cfg.architecture
    if arch.kind == "mlp":
        body = f"MLP {'-'.join(map(str, arch.hidden))}"
    elif arch.kind == "sequence":
        body = f"GRU encoder {arch.encoder_hidden} · decoder {arch.decoder_hidden}"
    else:
        body = f"conv {arch.channels} ch, fc {arch.hidden}"
    facts = {
        "data": f"{info.get('data', '?')} · {sel.split} ({len(sel.x):,} × {'×'.join(map(str, model.schema.shape))})",
        "model": f"{info.get('preset') or 'custom'} preset · {body}{' · autoencoder' if cfg.autoencoder else ''}",
        "latent dim": str(cfg.latent_dim) + (f" + top {cfg.top_latent_dim}" if cfg.top_latent_dim else ""),
        "epochs": str(info.get("result", {}).get("epochs_completed", "?")),
        "likelihood": cfg.likelihood.kind,
    }
    chips = "".join(f"<div><dt>{k}</dt><dd>{html.escape(v)}</dd></div>" for k, v in facts.items())
    name = html.escape(run.resolve().name)
    stamp = datetime.now().strftime("%Y-%m-%d %H:%M")
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{name} · vaekit report</title>'
        f'<style>{CSS}</style></head><body><main><header><p class="kicker">vaekit report</p><h1>{name}</h1>'
        f'<dl>{chips}</dl></header><div class="grid">{"".join(cards)}</div>'
        f"<footer>vaekit {__version__} · {html.escape(str(run))} · {stamp}</footer></main></body></html>\n"
    )


CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f3f4f6;color:#111827;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,Arial,
"DejaVu Sans",sans-serif}
main{max-width:1200px;margin:0 auto;padding:32px 24px 48px}
header,.card{background:#fff;border-radius:14px;padding:20px 24px;box-shadow:0 1px 3px rgba(0,0,0,.08);min-width:0}
header{padding:24px 28px;margin-bottom:20px;border-top:4px solid #2563eb}
.kicker{margin:0;text-transform:uppercase;letter-spacing:.08em;font-size:12px;color:#2563eb;font-weight:600}
h1{margin:2px 0 14px;font-size:30px;letter-spacing:-.01em} h2{margin:0 0 2px;font-size:18px}
dl{display:flex;flex-wrap:wrap;gap:10px;margin:0} dl div{background:#f3f4f6;border-radius:8px;padding:6px 12px}
dt,h3{font-size:11px;text-transform:uppercase;letter-spacing:.06em;color:#6b7280} h3{margin:10px 0 6px;font-size:13px}
dd{margin:0;font-weight:600;font-size:14px;overflow-wrap:anywhere}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(440px,1fr));gap:20px}
.wide{grid-column:1/-1} .tall{grid-row:span 2}
.split{display:grid;grid-template-columns:repeat(auto-fit,minmax(380px,1fr));gap:28px}
.cap,.note{margin:0 0 12px;color:#6b7280;font-size:13px} .note{margin-top:10px} .unit{color:#9ca3af;font-size:12px}
.scroll{overflow-x:auto} ul.notes{margin:0;padding-left:20px;color:#92400e}
img{display:block;max-width:100%;height:auto;margin:0 auto}
img.px{image-rendering:pixelated;width:100%;border-radius:6px}
table{border-collapse:collapse;width:100%;font-size:14px;font-variant-numeric:tabular-nums}
th{text-align:left;font-weight:600;color:#6b7280;font-size:12px;border-bottom:2px solid #e5e7eb;padding:6px 8px}
td{padding:6px 8px;border-bottom:1px solid #f0f1f3} th+th,td+td{text-align:right} table.data{font-size:13px}
table.pairs tbody tr:nth-child(even){background:#f8fafc;color:#6b7280}
.factors{display:grid;grid-template-columns:max-content 1fr;gap:6px 14px;align-items:center}
.tlabel{text-align:right;font-size:14px} .tlabel span{display:block;color:#6b7280;font-size:12px}
footer{margin-top:24px;text-align:center;color:#9ca3af;font-size:12px}
"""
