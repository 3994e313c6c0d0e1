"""``shapes``: a dSprites-like dataset generated from known factors, for disentanglement metrics and conditioning.

Like dSprites (Matthey et al., 2017) every image shows one shape on black, set by five factors on a fixed grid:
shape (square, ellipse, heart), scale (6 values in [0.5, 1]), orientation (40 values in [0, 2π)) and position
x, y (32 values each in [0, 1]); the ``shapes-colour`` variant adds a colour (6 saturated colours, RGB images).
Unlike dSprites the factors of each image are drawn at random from the grid with a seeded generator (not the
full product), so any number of images can be made, deterministically.

Rendering works from the factor values alone, so off-grid values (attribute editing, interpolation) render too.
Each shape is a signed distance function in its own frame (bounding radius 1 at scale 1): pixel centres are mapped
into that frame (translate, rotate by the orientation, divide by the scale) and a pixel's intensity is its
approximate coverage, ``clip(0.5 - distance in pixels, 0, 1)`` (light antialiasing, one sample per pixel, fully
vectorized). At scale 1 the bounding circle's diameter is 0.52 of the image side (the ellipse's long axis; the
square's side is 0.37), and x, y map to centres in [0.29, 0.71] so every shape stays inside the frame at any
orientation. The heart is a square turned 45° with two half discs on its upper sides, centred on its centroid;
orientation 0 shows it upright, and orientation turns shapes counter-clockwise.

``measure_scale`` / ``measure_position`` read size and centre back from the pixels, so tests and benchmarks can
check generated images without trusting their labels.
"""

from __future__ import annotations

import math
import re

import numpy as np
import torch

from ..errors import DataError
from .schema import Attributes, Dataset, Schema

FACTORS = ("shape", "scale", "orientation", "x", "y")
SHAPES = ("square", "ellipse", "heart")
COLOURS = ("red", "green", "blue", "yellow", "magenta", "cyan")
COLOUR_RGB = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1]], dtype=np.float32)
SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = np.arange(40) * (2 * math.pi / 40)
POSITIONS = np.linspace(0.0, 1.0, 32)
GRID = (np.arange(len(SHAPES)), SCALES, ORIENTATIONS, POSITIONS, POSITIONS)  # values of each factor, FACTORS order

RADIUS = 0.26  # bounding radius of a shape at scale 1, as a fraction of the image side
MARGIN = RADIUS + 0.03  # x, y in [0, 1] map to centres in [MARGIN, 1 - MARGIN]
DEFAULT_SIZE = 32
SIZE_RANGE = (8, 256)
DEFAULT_N = 20000
MAX_N = 2_000_000
MAX_BYTES = 16 * 2**30  # refuse datasets whose float32 images would exceed this
TRAIN_SEED, TEST_SEED = 0, 1
GRAMMAR = "expected 'shapes' or 'shapes-colour', optionally with ':N' training images (e.g. 'shapes-colour:5000')"
_SPEC = re.compile(r"shapes(?P<variant>-[^:]*)?(?::(?P<n>.*))?")
_PIXEL_BUDGET = 2**22  # pixels rendered per vectorized chunk (memory ~ 16 MB per temporary)

# The heart in units of its square's side L = 1: diamond of half-diagonal √2/2 with discs of radius 1/2 on the
# midpoints of its upper edges; shifted so its centroid is the origin, and scaled so its bounding radius is 1.
_H_MID = math.sqrt(2) / 4  # coordinates of an upper edge's midpoint (±_H_MID, _H_MID)
_H_CY = 2 * (math.pi / 8) * (_H_MID + 2 / (3 * math.pi) / math.sqrt(2)) / (1 + math.pi / 4)  # centroid height
_H_RB = max(math.sqrt(2) / 2 + _H_CY, math.hypot(_H_MID, _H_MID - _H_CY) + 0.5)  # bounding radius about centroid


def _box_sdf(u: np.ndarray, v: np.ndarray, half: float) -> np.ndarray:
    """Signed distance to the axis-aligned square of half-side ``half`` (negative inside)."""
    qx, qy = np.abs(u) - half, np.abs(v) - half
    outside = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0))
    return outside + np.minimum(np.maximum(qx, qy), 0)


def _square_sdf(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return _box_sdf(u, v, 1 / math.sqrt(2))


def _ellipse_sdf(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Approximate signed distance to the ellipse with semi-axes 1 and 1/2 (first order, exact on the boundary)."""
    k0 = np.hypot(u, v * 2)
    k1 = np.hypot(u, v * 4)
    d = k0 * (k0 - 1) / np.maximum(k1, 1e-6)
    return np.where(k0 < 0.5, np.float32(-1.0), d)  # deep inside (the formula is 0/0 at the centre)


def _heart_sdf(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    x, y = u * _H_RB, v * _H_RB + _H_CY
    diamond = _box_sdf((x + y) * math.sqrt(0.5), (y - x) * math.sqrt(0.5), 0.5)
    lobes = np.hypot(np.abs(x) - _H_MID, y - _H_MID) - 0.5
    return np.minimum(diamond, lobes) / _H_RB


_SDF = (_square_sdf, _ellipse_sdf, _heart_sdf)


def shape_attributes(colour: bool = False) -> Attributes:
    """The factors as attributes: shape (and colour) categorical, scale/orientation/x/y numeric."""
    names = FACTORS + (("colour",) if colour else ())
    types = tuple("categorical" if n in ("shape", "colour") else "numeric" for n in names)
    cats = {"shape": SHAPES, **({"colour": COLOURS} if colour else {})}
    return Attributes(names, types, cats)  # type: ignore[arg-type]


def _count(n: object, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise DataError(f"{what} must be a non-negative integer, got {n!r}")
    return int(n)


def shape_factors(n: int, *, colour: bool = False, seed: int = 0) -> np.ndarray:
    """``(n, 5)`` float32 factors (``(n, 6)`` with colour) drawn uniformly from the dSprites grid, FACTORS order.

    Categorical columns hold the category index; scale, orientation (radians), x and y hold their values. The
    first five columns are the same with and without colour for the same seed."""
    n = _count(n, "the number of images")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, [len(g) for g in GRID], size=(n, len(GRID)))
    cols = [grid[idx[:, j]] for j, grid in enumerate(GRID)]
    if colour:
        cols.append(rng.integers(0, len(COLOURS), size=n))
    return np.stack(cols, axis=1).astype(np.float32) if n else np.zeros((0, len(cols)), np.float32)


def factor_indices(factors: np.ndarray | torch.Tensor) -> np.ndarray:
    """``(n, K)`` int64 grid indices of factors (nearest grid value; categorical columns as they are).

    For metrics that need discrete factors (MIG, DCI): orientation wraps around, so 2π - ε maps to 0."""
    f = _check_factors(factors, colour=False)
    out = np.empty(f.shape, dtype=np.int64)
    for j in range(f.shape[1]):
        if j == 0 or j == len(FACTORS):
            out[:, j] = f[:, j].astype(np.int64)
            continue
        grid = GRID[j]
        dist = np.abs(f[:, j : j + 1].astype(np.float64) - grid[None, :])
        if FACTORS[j] == "orientation":
            dist = np.minimum(dist, 2 * math.pi - dist)
        out[:, j] = dist.argmin(axis=1)
    return out


def _check_categorical(column: np.ndarray, name: str, count: int) -> None:
    bad = (column != np.round(column)) | (column < 0) | (column >= count)
    if bad.any():
        raise DataError(f"the {name} factor must hold category indices 0..{count - 1}, got {column[bad][0]:g}")


def _check_factors(factors: np.ndarray | torch.Tensor, colour: bool) -> np.ndarray:
    """Factors as a float64 ``(n, K)`` array, validated; DataError naming the problem."""
    f = np.asarray(factors.detach().cpu() if isinstance(factors, torch.Tensor) else factors, dtype=np.float64)
    k = len(FACTORS) + int(colour)
    if f.ndim != 2 or f.shape[1] < k or f.shape[1] > len(FACTORS) + 1:
        want = f"(n, {k})" if colour else f"(n, {k}) or (n, {k + 1})"
        raise DataError(f"shape factors must be an array of shape {want} ({', '.join(FACTORS)}), got {f.shape}")
    if not np.isfinite(f).all():
        raise DataError("shape factors must be finite numbers")
    _check_categorical(f[:, 0], "shape", len(SHAPES))
    if f.shape[1] > len(FACTORS):
        _check_categorical(f[:, len(FACTORS)], "colour", len(COLOURS))
    if f.size and f[:, 1].min() <= 0:
        raise DataError(f"the scale factor must be positive, got {f[:, 1].min()}")
    return f


def _check_size(size: object) -> int:
    lo, hi = SIZE_RANGE
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or not lo <= size <= hi:
        raise DataError(f"shapes image size must be an integer in {lo}..{hi}, got {size!r}")
    return int(size)


def _coverage(f: np.ndarray, size: int) -> np.ndarray:
    """``(m, size, size)`` float32 coverage of ``m`` images of one shape (``f`` rows of that shape)."""
    t = ((np.arange(size, dtype=np.float32) + 0.5) / size)[None]
    cx = (MARGIN + (1 - 2 * MARGIN) * f[:, 3]).astype(np.float32)[:, None]
    cy = (MARGIN + (1 - 2 * MARGIN) * f[:, 4]).astype(np.float32)[:, None]
    k = (f[:, 1] * RADIUS).astype(np.float32)  # image-side units per shape unit
    cos, sin = (np.cos(f[:, 2]) / k).astype(np.float32), (np.sin(f[:, 2]) / k).astype(np.float32)
    dx = (t - cx)[:, None, :]  # (m, 1, W), to the right
    dy = (cy - t)[:, :, None]  # (m, H, 1), upwards (rows run down)
    c, s = cos[:, None, None], sin[:, None, None]
    u, v = c * dx + s * dy, c * dy - s * dx  # rotated by -orientation: the shape turns counter-clockwise
    d = _SDF[int(f[0, 0])](u, v) * (k * size)[:, None, None]  # distance in pixels
    return np.clip(0.5 - d, 0, 1, dtype=np.float32)


def render_shapes(factors: np.ndarray | torch.Tensor, size: int = DEFAULT_SIZE, colour: bool = False) -> np.ndarray:
    """Images ``(n, C, size, size)`` float32 in [0, 1] of the factors (``shape_factors`` columns); deterministic.

    C is 1 (intensity) or, with ``colour``, 3 (the colour column's RGB on black; factors need that column)."""
    f = _check_factors(factors, colour)
    size = _check_size(size)
    gray = np.zeros((len(f), size, size), dtype=np.float32)
    chunk = max(1, _PIXEL_BUDGET // (size * size))
    for shape in range(len(SHAPES)):
        rows = np.flatnonzero(f[:, 0] == shape)
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            gray[part] = _coverage(f[part], size)
    if not colour:
        return gray[:, None]
    rgb = COLOUR_RGB[f[:, len(FACTORS)].astype(np.int64)]  # (n, 3)
    return gray[:, None] * rgb[:, :, None, None]


def _intensity(images: np.ndarray | torch.Tensor) -> np.ndarray:
    """``(n, H, W)`` per-pixel foreground: the maximum over channels of ``(n, C, H, W)`` (or ``(n, H, W)``)."""
    x = np.asarray(images.detach().cpu() if isinstance(images, torch.Tensor) else images, dtype=np.float64)
    if x.ndim == 3:
        return x
    if x.ndim != 4 or x.shape[1] < 1:
        raise DataError(f"images must have shape (n, C, H, W) or (n, H, W), got {x.shape}")
    return x.max(axis=1)


def measure_scale(images: np.ndarray | torch.Tensor) -> np.ndarray:
    """``(n,)``: sqrt of each image's foreground area (summed max-over-channels intensity) over the image side.

    Proportional to the scale factor for a given shape (a shape at scale 1 measures ``0.26 * sqrt(area)``, with
    areas 2, π/2 and ≈2.07 for square, ellipse and heart in units of the bounding radius)."""
    g = _intensity(images)
    return (np.sqrt(g.sum(axis=(1, 2))) / math.sqrt(g.shape[1] * g.shape[2])).astype(np.float32)


def measure_position(images: np.ndarray | torch.Tensor) -> np.ndarray:
    """``(n, 2)``: each image's intensity-weighted centre (x to the right, y downwards) as fractions of the side.

    An empty image gives NaN. A factor x maps to the centre ``0.29 + 0.42 x``, and so does y."""
    g = _intensity(images)
    h, w = g.shape[1:]
    mass = g.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        x = (g.sum(axis=1) @ ((np.arange(w) + 0.5) / w)) / mass
        y = (g.sum(axis=2) @ ((np.arange(h) + 0.5) / h)) / mass
    return np.stack([x, y], axis=1).astype(np.float32)


def is_shapes_spec(spec: str) -> bool:
    """True when ``spec`` names the generated dataset (``shapes...`` without a dot or path separator), so that
    a malformed one (``shapes:abc``) gets the grammar error rather than "no such file"."""
    s = spec.strip().lower()
    return bool(re.fullmatch(r"shapes([-:][^./\\]*)?", s))


def parse_shapes_spec(spec: str) -> tuple[bool, int]:
    """``(colour, number of training images)`` of a spec ``shapes[-colour][:N]``; DataError naming the grammar."""
    m = _SPEC.fullmatch(spec.strip().lower())
    if m is None or (m["variant"] or "-colour") not in ("-colour", "-color"):
        raise DataError(f"unknown dataset spec {spec!r}: {GRAMMAR}")
    if m["n"] is None:
        return m["variant"] is not None, DEFAULT_N
    text = m["n"].replace("_", "").replace(",", "")
    if not text.isdigit() or int(text) < 1:
        raise DataError(f"bad number of images in {spec!r}: {GRAMMAR}, with N a positive integer")
    n = int(text)
    if n > MAX_N:
        raise DataError(f"{spec!r} asks for {n:,} images: at most {MAX_N:,} are generated (memory)")
    return m["variant"] is not None, n


def canonical_shapes_spec(spec: str) -> str:
    """The spec in canonical form, e.g. ``shapes-colour:5000`` (``shapes`` when defaults are used)."""
    colour, n = parse_shapes_spec(spec)
    return "shapes" + ("-colour" if colour else "") + (f":{n}" if n != DEFAULT_N else "")


def _target_size(name: str, colour: bool, image_size: int | None, schema: Schema | None) -> int:
    """The image side to render: the schema's (which must fit the variant), else ``image_size``, else 32."""
    if schema is None:
        return _check_size(DEFAULT_SIZE if image_size is None else image_size)
    shape = tuple(schema.shape)
    channels = 3 if colour else 1
    if schema.kind != "image" or len(shape) != 3 or shape[1] != shape[2]:
        raise DataError(f"{name} holds square images but the model was trained on {schema.kind} data of shape {shape}")
    if shape[0] != channels:
        other = "shapes" if colour else "shapes-colour"
        raise DataError(
            f"{name} has {channels}-channel images but the model was trained on {shape[0]}-channel ones: use {other}"
            if shape[0] in (1, 3)
            else f"{name} has {channels}-channel images but the model was trained on {shape[0]}-channel ones"
        )
    if image_size is not None and image_size != shape[1]:
        raise DataError(f"image size {image_size} conflicts with the model, trained on {shape[1]}×{shape[2]} images")
    return _check_size(shape[1])


def load_shapes(spec: str = "shapes", *, image_size: int | None = None, schema: Schema | None = None) -> Dataset:
    """The generated dataset ``spec`` (``shapes[-colour][:N]``): splits "train" (N images, default 20,000) and
    "test" (max(1000, N // 10), another seed), float32 ``(N, C, size, size)`` in [0, 1].

    Labels are the shape index; ``attributes`` hold the factors (``shape_factors`` columns) described by
    ``attribute_info``. ``schema`` (a trained model's) sets the size and must have the variant's channels."""
    colour, n = parse_shapes_spec(spec)
    name = canonical_shapes_spec(spec)
    size = _target_size(name, colour, image_size, schema)
    n_test = max(1000, n // 10)
    channels = 3 if colour else 1
    need = (n + n_test) * channels * size * size * 4
    if need > MAX_BYTES:
        raise DataError(
            f"{name} at {size} px would take {need / 2**30:.1f} GiB: ask for fewer images or a smaller size"
        )
    splits: dict[str, torch.Tensor] = {}
    labels: dict[str, torch.Tensor] = {}
    attributes: dict[str, torch.Tensor] = {}
    for split, count, seed in (("train", n, TRAIN_SEED), ("test", n_test, TEST_SEED)):
        f = shape_factors(count, colour=colour, seed=seed)
        splits[split] = torch.from_numpy(render_shapes(f, size=size, colour=colour))
        labels[split] = torch.from_numpy(f[:, 0].astype(np.int64))
        attributes[split] = torch.from_numpy(f)
    source = f"{'shapes-colour' if colour else 'shapes'} ({n:,} generated, {size} px)"
    meta = Schema("image", (channels, size, size), label_names=SHAPES, source=source)
    return Dataset(splits, meta, labels, attributes, shape_attributes(colour))


def grid_factors(
    spec: str, info: Attributes | None, values: np.ndarray | torch.Tensor
) -> tuple[np.ndarray, list[bool]] | None:
    """The generated data's attributes as factors for disentanglement metrics: ``values`` (N, K) described by
    ``info``, with the factors (and colour) replaced by their grid indices (``factor_indices``) and marked
    discrete, as disentanglement_lib scores dSprites; other columns (``label``) as they are, discrete when
    categorical. None for other data (``spec`` not shapes, or ``info`` without its factors)."""
    if info is None or not is_shapes_spec(spec):
        return None
    names = FACTORS + (("colour",) if "colour" in info.names else ())
    if not set(names) <= set(info.names):
        return None
    cols = [info.names.index(n) for n in names]
    out = (values.detach().cpu().double().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)).copy()
    out = out.astype(np.float64, copy=False)
    out[:, cols] = factor_indices(out[:, cols])
    discrete = [n in names or t == "categorical" for n, t in zip(info.names, info.types, strict=True)]
    return out, discrete
