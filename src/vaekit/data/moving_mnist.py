"""``moving-mnist``: clips of MNIST digits bouncing inside a frame, generated from the MNIST we ship.

Specs: ``moving-mnist`` (Srivastava et al., 2015: deterministic bounces) and ``moving-mnist-stochastic`` (Denton &
Fergus, 2018, "SVG": a new random velocity at every bounce), each with an optional ``:N`` number of training clips
(``moving-mnist:2000``; default 10,000). The test split holds ``max(100, N // 10)`` clips (1,000 by default), the
training clips use MNIST's training digits and seed 0, the test clips its test digits and seed 1. Clip length,
frame size and number of digits are keyword arguments, not part of the spec: ``frames`` (T, default 20), ``size``
(side of the square frame, default 64) and ``digits`` (default 2); a trained model's schema sets T and the size.

The recipe (Srivastava's generator, vectorized): every digit of a clip is a random MNIST digit of the split, its
box (28×28 at 64 px) starts at a uniformly random position of the frame and moves with a random direction at 0.1
of the free range (``size`` - digit side, 3.6 px at 64 px) per frame. A box that would leave the frame is put back
on the edge and its velocity component across that edge changes sign (deterministic), or (stochastic) the digit
gets a new random velocity as in SVG: the component across the edge points away from it with a magnitude drawn
uniformly from [1/32, 1/8] of the free range, the other one uniformly from [-1/8, 1/8]. Between bounces velocity
is constant. A frame is the pixelwise maximum of its digits. For the same seed both variants start alike (same
digits, positions and velocities) and differ from the first bounce on.

Other frame sizes scale the digits to ``round(28 * size / 64)`` pixels with Pillow (box filter when shrinking: at
32 px that is the exact 2×2 mean; bilinear when growing). Same arguments, same seed: bit-identical clips.

Memory: clips are rendered as uint8 (``moving_mnist_clips``: 0.8 GB for 10,000 clips of 20 frames at 64 px);
``load_moving_mnist`` converts them to float32 in [0, 1], chunk by chunk, and that is 4× larger (3.3 GB for the
default training split, 3.6 GB with the test split): use ``:N`` or ``size=32`` for less.

Time (measured on 2 shared cores of an AMD EPYC server, MNIST already read): ``moving_mnist_clips(10000)`` 0.4-1.1 s
(the first call in a process pays for touching fresh memory); ``load_moving_mnist()`` (11,000 clips as float32)
about 3 s; ``load_moving_mnist(size=32)`` 0.6 s.
"""

from __future__ import annotations

import re

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

from ..errors import DataError
from .mnist import mnist_arrays
from .schema import Dataset, Schema

DEFAULT_N = 10_000
DEFAULT_FRAMES = 20
DEFAULT_SIZE = 64
DEFAULT_DIGITS = 2
DIGIT_SIDE = 28  # the digit box at DEFAULT_SIZE; other sizes scale it
STEP = 0.1  # deterministic speed, as a fraction of the free range per frame (Srivastava's step_length)
BOUNCE_RANGE = (1 / 32, 1 / 8)  # stochastic: |velocity across the edge| after a bounce, fraction of the free range
FRAMES_RANGE = (1, 1000)
SIZE_RANGE = (16, 512)
DIGITS_RANGE = (1, 10)
MAX_N = 1_000_000
MAX_BYTES = 16 * 2**30  # refuse datasets whose float32 clips would exceed this
TRAIN_SEED, TEST_SEED = 0, 1
SPLITS = ("train", "test")
GRAMMAR = (
    "expected 'moving-mnist' or 'moving-mnist-stochastic', optionally with ':N' training clips "
    "(e.g. 'moving-mnist:2000')"
)
_SPEC = re.compile(r"moving-mnist(?P<variant>-[^:]*)?(?::(?P<n>.*))?")
_CHUNK = 1000  # clips rendered at a time (the float32 conversion holds one chunk of uint8 besides its output)


def is_moving_mnist_spec(spec: str) -> bool:
    """True when ``spec`` names the generated clips (``moving-mnist...`` without a dot or path separator), so that
    a malformed one (``moving-mnist:abc``) gets the grammar error rather than "no such file"."""
    return bool(re.fullmatch(r"moving-mnist([-:][^./\\]*)?", spec.strip().lower()))


def parse_moving_mnist_spec(spec: str) -> tuple[bool, int]:
    """``(stochastic, number of training clips)`` of ``moving-mnist[-stochastic][:N]``; DataError naming the
    grammar."""
    m = _SPEC.fullmatch(spec.strip().lower())
    if m is None or (m["variant"] or "-stochastic") != "-stochastic":
        raise DataError(f"unknown dataset spec {spec!r}: {GRAMMAR}")
    stochastic = m["variant"] is not None
    if m["n"] is None:
        return stochastic, DEFAULT_N
    text = m["n"].replace("_", "").replace(",", "")
    if not text.isdigit() or int(text) < 1:
        raise DataError(f"bad number of clips in {spec!r}: {GRAMMAR}, with N a positive integer")
    n = int(text)
    if n > MAX_N:
        raise DataError(f"{spec!r} asks for {n:,} clips: at most {MAX_N:,} are generated (memory)")
    return stochastic, n


def canonical_moving_mnist_spec(spec: str) -> str:
    """The spec in canonical form, e.g. ``moving-mnist-stochastic:2000`` (``moving-mnist`` for the defaults)."""
    stochastic, n = parse_moving_mnist_spec(spec)
    return "moving-mnist" + ("-stochastic" if stochastic else "") + (f":{n}" if n != DEFAULT_N else "")


def _integer(value: object, what: str, bounds: tuple[int, int]) -> int:
    lo, hi = bounds
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not lo <= value <= hi:
        raise DataError(f"{what} must be an integer from {lo} to {hi}, got {value!r}")
    return int(value)


def digit_side(size: int) -> int:
    """The side of a digit's box in frames of ``size`` pixels: 28 at 64 px, scaled with the frame."""
    return max(1, round(DIGIT_SIDE * size / DEFAULT_SIZE))


def _digit_images(images: np.ndarray, side: int) -> np.ndarray:
    """``(n, 28, 28)`` uint8 digits resized to ``side`` pixels (module docstring); unchanged at 28."""
    if side == images.shape[-1]:
        return np.ascontiguousarray(images)
    method = Image.Resampling.BOX if side < images.shape[-1] else Image.Resampling.BILINEAR
    out = np.empty((len(images), side, side), dtype=np.uint8)
    for i, img in enumerate(images):
        out[i] = np.asarray(Image.fromarray(img).resize((side, side), method))
    return out


def _trajectories(
    rng: np.random.Generator, n: int, frames: int, digits: int, free: int, stochastic: bool
) -> np.ndarray:
    """``(n, frames, digits, 2)`` float64 top-left corners (row, column) in [0, free] pixels."""
    pos = rng.uniform(0.0, free, size=(n, digits, 2))
    theta = rng.uniform(0.0, 2 * np.pi, size=(n, digits))
    vel = STEP * free * np.stack([np.sin(theta), np.cos(theta)], axis=-1)
    out = np.empty((n, frames, digits, 2), dtype=np.float64)
    out[:, 0] = pos
    lo_speed, hi_speed = BOUNCE_RANGE[0] * free, BOUNCE_RANGE[1] * free
    for t in range(1, frames):
        pos = pos + vel
        low, high = pos < 0, pos > free
        hit = low | high
        pos = np.clip(pos, 0.0, free)
        if stochastic:  # drawn every frame, so the stream does not depend on where bounces happen
            across = np.where(low, 1.0, -1.0) * rng.uniform(lo_speed, hi_speed, size=pos.shape)
            along = rng.uniform(-hi_speed, hi_speed, size=pos.shape)
            vel = np.where(hit, across, np.where(hit.any(axis=-1, keepdims=True), along, vel))
        else:
            vel = np.where(hit, -vel, vel)
        out[:, t] = pos
    return out


def _render(images: np.ndarray, corners: np.ndarray, out: np.ndarray) -> None:
    """Draw digits ``(n, digits, d, d)`` at integer corners ``(n, T, digits, 2)`` into zeroed ``(n, T, S, S)``
    uint8 frames, combining overlapping digits by their maximum."""
    n, frames = out.shape[:2]
    side = images.shape[-1]
    windows = sliding_window_view(out, (side, side), axis=(2, 3), writeable=True)  # (n, T, S-d+1, S-d+1, d, d)
    clip, frame = np.arange(n)[:, None], np.arange(frames)[None, :]
    for k in range(images.shape[1]):
        rows, cols = corners[:, :, k, 0], corners[:, :, k, 1]
        patch = windows[clip, frame, rows, cols]  # a copy: (n, T, d, d)
        np.maximum(patch, images[:, None, k], out=patch)
        windows[clip, frame, rows, cols] = patch


def _plan(
    n: int, split: str, seed: int, frames: int, size: int, digits: int, stochastic: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(digit images ``(n, digits, d, d)`` uint8, corners ``(n, T, digits, 2)`` float64, classes ``(n, digits)``)."""
    images, labels = mnist_arrays()[split]
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(images), size=(n, digits))
    side = digit_side(size)
    corners = _trajectories(rng, n, frames, digits, size - side, stochastic)
    used, inverse = np.unique(pick, return_inverse=True)
    drawn = _digit_images(images[used], side)[inverse.reshape(pick.shape)]
    return drawn, corners, labels[pick].astype(np.int64)


def _check_arguments(
    n: object, split: object, seed: object, frames: object, size: object, digits: object
) -> tuple[int, int, int, int]:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or not 0 <= n <= MAX_N:
        raise DataError(f"the number of clips must be an integer from 0 to {MAX_N:,}, got {n!r}")
    if split not in SPLITS:
        raise DataError(f"split must be 'train' or 'test' (the MNIST digits drawn from), got {split!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise DataError(f"seed must be a non-negative integer, got {seed!r}")
    frames = _integer(frames, "the number of frames", FRAMES_RANGE)
    size = _integer(size, "the frame size", SIZE_RANGE)
    digits = _integer(digits, "the number of digits", DIGITS_RANGE)
    need = int(n) * frames * size * size
    if need > MAX_BYTES:
        raise DataError(f"{n:,} clips of {frames} frames at {size} px would take {need / 2**30:.1f} GiB")
    return int(n), frames, size, digits


def moving_mnist_clips(
    n: int,
    *,
    split: str = "train",
    seed: int = TRAIN_SEED,
    frames: int = DEFAULT_FRAMES,
    size: int = DEFAULT_SIZE,
    digits: int = DEFAULT_DIGITS,
    stochastic: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` clips of ``digits`` MNIST digits of ``split`` bouncing in ``size``×``size`` frames (module docstring).

    Returns (clips ``(n, frames, size, size)`` uint8 0-255, positions ``(n, frames, digits, 2)`` float64: each
    digit box's top-left corner (row, column) in pixels, in [0, size - digit_side(size)], drawn at its floor,
    classes ``(n, digits)`` int64: the digits shown). Bit-identical for the same arguments."""
    n, frames, size, digits = _check_arguments(n, split, seed, frames, size, digits)
    images, corners, classes = _plan(n, split, int(seed), frames, size, digits, bool(stochastic))
    clips = np.zeros((n, frames, size, size), dtype=np.uint8)
    pixels = np.floor(corners).astype(np.intp)
    for start in range(0, n, _CHUNK):
        stop = start + _CHUNK
        _render(images[start:stop], pixels[start:stop], clips[start:stop])
    return clips, corners, classes


def _float_clips(n: int, split: str, seed: int, frames: int, size: int, digits: int, stochastic: bool) -> torch.Tensor:
    """``moving_mnist_clips`` as float32 ``(n, frames, 1, size, size)`` in [0, 1], converted chunk by chunk."""
    images, corners, _ = _plan(n, split, seed, frames, size, digits, stochastic)
    pixels = np.floor(corners).astype(np.intp)
    out = np.empty((n, frames, 1, size, size), dtype=np.float32)
    chunk = np.empty((min(n, _CHUNK), frames, size, size), dtype=np.uint8)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        part = chunk[: stop - start]
        part.fill(0)
        _render(images[start:stop], pixels[start:stop], part)
        np.divide(part, np.float32(255), out=out[start:stop, :, 0], dtype=np.float32)
    return torch.from_numpy(out)


def _target(name: str, frames: int | None, size: int | None, schema: Schema | None) -> tuple[int, int]:
    """(frames, size): the schema's (a single-channel square video), else the arguments, else the defaults."""
    if schema is None:
        frames = _integer(DEFAULT_FRAMES if frames is None else frames, "the number of frames", FRAMES_RANGE)
        return frames, _integer(DEFAULT_SIZE if size is None else size, "the frame size", SIZE_RANGE)
    shape = tuple(schema.shape)
    if schema.kind != "video" or len(shape) != 4 or shape[1] != 1 or shape[2] != shape[3]:
        raise DataError(
            f"{name} holds single-channel square video clips but the model was trained on {schema.kind} data of "
            f"shape {shape}"
        )
    if frames is not None and frames != shape[0]:
        raise DataError(f"{frames} frames conflicts with the model, trained on clips of {shape[0]} frames")
    if size is not None and size != shape[2]:
        raise DataError(f"frame size {size} conflicts with the model, trained on {shape[2]}×{shape[3]} frames")
    return _integer(shape[0], "the number of frames", FRAMES_RANGE), _integer(shape[2], "the frame size", SIZE_RANGE)


def load_moving_mnist(
    spec: str = "moving-mnist",
    *,
    frames: int | None = None,
    size: int | None = None,
    digits: int | None = None,
    schema: Schema | None = None,
) -> Dataset:
    """The generated clips ``spec`` (``moving-mnist[-stochastic][:N]``): splits "train" (N clips, default 10,000)
    and "test" (``max(100, N // 10)``), float32 ``(N, T, 1, size, size)`` in [0, 1], no labels.

    ``frames`` (default 20), ``size`` (default 64) and ``digits`` (default 2) as in ``moving_mnist_clips``;
    ``schema`` (a trained model's) must describe single-channel square clips and sets T and the size."""
    stochastic, n = parse_moving_mnist_spec(spec)
    name = canonical_moving_mnist_spec(spec)
    frames, size = _target(name, frames, size, schema)
    digits = _integer(DEFAULT_DIGITS if digits is None else digits, "the number of digits", DIGITS_RANGE)
    n_test = max(100, n // 10)
    need = (n + n_test) * frames * size * size * 4
    if need > MAX_BYTES:
        raise DataError(
            f"{name} with {frames} frames at {size} px would take {need / 2**30:.1f} GiB: ask for fewer clips, "
            "fewer frames or a smaller size"
        )
    splits = {
        split: _float_clips(count, split, seed, frames, size, digits, stochastic)
        for split, count, seed in (("train", n, TRAIN_SEED), ("test", n_test, TEST_SEED))
    }
    source = f"{name} ({n:,} generated clips of {frames} frames, {size} px, {digits} digits)"
    return Dataset(splits=splits, schema=Schema("video", (frames, 1, size, size), source=source))
