"""Video clips as datasets: ``.npy``/``.npz`` arrays, folders of frame folders, GIF/MP4 files; and clip writers.

Every source becomes split "all" of float32 ``(N, T, C, H, W)`` in [0, 1] (C = 1 or 3), kind ``"video"``.

* An ``.npy`` array ``(N, T, H, W)`` (gray) or ``(N, T, H, W, C)``, C in {1, 3} (also ``(N, T, C, H, W)`` when only
  that reading fits; when both fit, channels last unless a trained model's shape says otherwise). uint8 is divided
  by 255; any other dtype must already lie in [0, 1]. An ``.npz`` holds the clips as ``x``/``data``/``clips``/
  ``video`` (else its first non-label array) and optional labels as ``y``/``labels``/``targets``.
* A folder of clips: GIF/MP4 files (each file one clip) or subfolders of PNG/JPEG frames (each subfolder one clip,
  frames in natural order of their names: ``f2.png`` before ``f10.png``); a folder whose own files are frames is
  one clip. One more level makes labels: ``folder/<class>/<clip>.gif`` or ``folder/<class>/<clip>/<frame>.png``,
  class names sorted, as for images. A single GIF/MP4 file is one clip.
* Files are read with imageio (``imageio.v3.imread(path, index=None)``); MP4 and the other ffmpeg formats (.avi,
  .mov, .mkv, .webm) need its ffmpeg plugin, ``pip install imageio-ffmpeg``. Frames go through RGB: a source
  whose frames all have equal R, G and B (gray PNGs, our own gray GIFs) gives C = 1, anything else C = 3;
  transparent pixels are composited on white.
* Clips of different lengths are cut to the shortest (their first frames); frame sizes must agree (a DataError
  otherwise), unless a trained model's schema is given: then every clip is cut to its T frames (a shorter one is
  an error) and frames are resized (bilinear) and converted to its channels, as images are.

Which paths are video (``is_video_path``): a GIF/MP4/... file, or a folder holding such files at its top level or
in its subfolders. A folder of frame folders looks exactly like a folder of images in class subfolders, and a
4-D ``.npy`` like ``(N, H, W, C)`` images: for those the caller says the data is video and calls ``load_video``.

Writers: ``write_clips_gif`` / ``write_clips_mp4`` show N clips side by side in ONE animation (a grid per frame,
``clip_grid``), written atomically. GIF limits: 256 colours per frame (gray clips are exact, colour ones are
quantized), and Pillow merges consecutive identical frames into one longer frame, so such a clip reads back
shorter. MP4 (H.264, yuv420p, near-lossless crf 5) pads the grid with black to even sides.
"""

from __future__ import annotations

import importlib.util
import math
import re
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
from PIL import Image

from .._io import atomic_path
from ..errors import DataError
from .arrays import (
    DATA_KEYS,
    check_numeric,
    encode_labels,
    error_text,
    float_tensor,
    label_codes,
    label_tensor,
    read_npy,
    unit_values,
)
from .pixels import conform_images
from .schema import Dataset, Schema

GIF_SUFFIXES = (".gif",)
FFMPEG_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")
VIDEO_SUFFIXES = GIF_SUFFIXES + FFMPEG_SUFFIXES
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg")
ARRAY_SUFFIXES = (".npy", ".npz")
CLIP_KEYS = DATA_KEYS + ("clips", "video", "videos")
FORMATS = "a .npy/.npz array, GIF/MP4 files or folders of PNG/JPEG frames"
MAX_FPS = 100
MP4_QUALITY = 9  # imageio-ffmpeg's 1..10 scale: crf 5 for H.264
_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}


def _imageio() -> ModuleType:
    try:
        import imageio.v3 as iio
    except ImportError:
        raise DataError(
            "reading and writing GIF/MP4 video needs imageio, which is not installed: pip install imageio"
        ) from None
    return iio


def _require_ffmpeg(what: object) -> None:
    if importlib.util.find_spec("imageio_ffmpeg") is None:
        raise DataError(f"{what} needs imageio's ffmpeg plugin, which is not installed: pip install imageio-ffmpeg")


def natural_key(name: str) -> list[str | int]:
    """Sort key putting ``f2.png`` before ``f10.png`` (digit runs compare as numbers, the rest without case)."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def _children(folder: Path) -> list[Path]:
    """Non-hidden entries of ``folder`` in natural order."""
    try:
        entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    except OSError as e:
        raise DataError(f"cannot read folder {folder}: {error_text(e)}") from None
    return sorted(entries, key=lambda p: natural_key(p.name))


def _files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    return [p for p in _children(folder) if p.is_file() and p.suffix.lower() in suffixes]


def _subfolders(folder: Path) -> list[Path]:
    return [p for p in _children(folder) if p.is_dir()]


def is_video_path(path: str | Path) -> bool:
    """True for a GIF/MP4/AVI/MOV/MKV/WebM file, or a folder holding such files at its top level or in a subfolder
    (module docstring: frame folders and ``.npy`` arrays are video only when the caller says so)."""
    path = Path(path)
    if path.is_file():
        return path.suffix.lower() in VIDEO_SUFFIXES
    if not path.is_dir():
        return False
    try:
        return bool(_files(path, VIDEO_SUFFIXES)) or any(_files(d, VIDEO_SUFFIXES) for d in _subfolders(path))
    except DataError:
        return False


# --- reading --------------------------------------------------------------------------------------------------


def _frame_rgb(path: Path) -> np.ndarray:
    """One PNG/JPEG frame -> ``(H, W, 3)`` uint8 RGB (16-bit and float gray rescaled, transparency on white)."""
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode.startswith("I") or im.mode == "F":
                scale = 65535.0 if im.mode.startswith("I") else 1.0
                gray = np.clip(np.asarray(im, dtype=np.float64) / scale, 0.0, 1.0)
                return np.repeat(np.round(gray * 255).astype(np.uint8)[..., None], 3, axis=2)
            if im.mode in _ALPHA_MODES or "transparency" in im.info:
                rgba = im.convert("RGBA")
                im = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
            return np.asarray(im.convert("RGB"))
    except Exception as e:
        raise DataError(f"cannot read frame {path}: {error_text(e)}") from None


def _read_frame_folder(folder: Path) -> np.ndarray:
    """A folder of PNG/JPEG frames -> ``(T, H, W, 3)`` uint8; DataError when frame sizes differ."""
    files = _files(folder, FRAME_SUFFIXES)
    if not files:
        raise DataError(f"no PNG or JPEG frames found in {folder}")
    frames = [_frame_rgb(f) for f in files]
    for f, frame in zip(files, frames, strict=True):
        if frame.shape != frames[0].shape:
            (h0, w0), (h, w) = frames[0].shape[:2], frame.shape[:2]
            raise DataError(
                f"frames of {folder} have different sizes ({w0}×{h0} in {files[0].name}, {w}×{h} in {f.name}): "
                "every frame of a clip needs the same size"
            )
    return np.stack(frames)


def _rgb_frames(frames: np.ndarray, where: object) -> np.ndarray:
    """Decoded frames ``(T, H, W)`` / ``(T, H, W, 1|3|4)`` uint8 -> ``(T, H, W, 3)`` (alpha composited on white)."""
    if frames.dtype != np.uint8:
        raise DataError(f"{where} decodes to {frames.dtype} frames: expected 8-bit video")
    if frames.ndim == 3:
        return np.repeat(frames[..., None], 3, axis=3)
    if frames.ndim != 4 or frames.shape[3] not in (1, 3, 4):
        raise DataError(f"{where} decodes to frames of shape {frames.shape}: expected (T, H, W[, 1|3|4])")
    if frames.shape[3] == 1:
        return np.repeat(frames, 3, axis=3)
    if frames.shape[3] == 4:
        alpha = frames[..., 3:].astype(np.float32) / 255
        rgb = frames[..., :3].astype(np.float32) * alpha + 255 * (1 - alpha)
        return np.round(rgb).astype(np.uint8)
    return frames


def _read_video_file(path: Path) -> np.ndarray:
    """A GIF/MP4/... file -> ``(T, H, W, 3)`` uint8 frames, read with imageio."""
    iio = _imageio()
    if path.suffix.lower() in FFMPEG_SUFFIXES:
        _require_ffmpeg(f"reading {path.suffix.lower()} video ({path})")
    try:
        with warnings.catch_warnings():
            # imageio-ffmpeg leaves the pipes of a finished ffmpeg process to the garbage collector
            warnings.simplefilter("ignore", ResourceWarning)
            frames = np.asarray(iio.imread(path, index=None))
    except DataError:
        raise
    except Exception as e:
        raise DataError(f"cannot read video {path}: {error_text(e)}") from None
    if frames.size == 0:
        raise DataError(f"video {path} holds no frames")
    return _rgb_frames(frames, path)


def _read_clip(source: Path) -> np.ndarray:
    return _read_frame_folder(source) if source.is_dir() else _read_video_file(source)


def _class_clips(folder: Path) -> list[Path]:
    """The clips inside a class folder: its video files and its frame folders."""
    return _files(folder, VIDEO_SUFFIXES) + [d for d in _subfolders(folder) if _files(d, FRAME_SUFFIXES)]


def _collect(folder: Path) -> tuple[list[Path], list[str] | None]:
    """(clip sources: video files or frame folders, class name per clip or None) of a folder (module docstring)."""
    if _files(folder, FRAME_SUFFIXES):
        if _files(folder, VIDEO_SUFFIXES) or any(_files(d, FRAME_SUFFIXES) for d in _subfolders(folder)):
            raise DataError(
                f"{folder} holds both frames at its top level and other clips: a folder is one clip of frames, "
                "or a folder of clips"
            )
        return [folder], None
    plain = _files(folder, VIDEO_SUFFIXES)
    classes: list[tuple[str, list[Path]]] = []
    for d in _subfolders(folder):
        if _files(d, FRAME_SUFFIXES):
            plain.append(d)
        elif clips := _class_clips(d):
            classes.append((d.name, clips))
    if plain and classes:
        raise DataError(
            f"{folder} has clips both at its top level ({plain[0].name}) and in class folders ({classes[0][0]}/): "
            "put every clip in a class folder, or none"
        )
    if classes:
        return [c for _, clips in classes for c in clips], [name for name, clips in classes for _ in clips]
    if not plain:
        raise DataError(
            f"no video clips found in {folder}: expected GIF/MP4 files, or subfolders of PNG/JPEG frames (one per clip)"
        )
    return plain, None


def _is_gray(frames: np.ndarray) -> bool:
    return bool((frames[..., 0] == frames[..., 1]).all() and (frames[..., 1] == frames[..., 2]).all())


def _check_length(clips: list[np.ndarray], sources: list[Path], schema: Schema | None) -> int:
    """The number of frames every clip is cut to: the schema's T, else the shortest clip's."""
    lengths = [len(c) for c in clips]
    shortest = min(lengths)
    if schema is None:
        return shortest
    frames = int(schema.shape[0])
    if shortest < frames:
        source = sources[lengths.index(shortest)]
        raise DataError(f"clip {source} has {shortest} frames but the model was trained on clips of {frames}")
    return frames


def _check_sizes(clips: list[np.ndarray], sources: list[Path]) -> None:
    for clip, source in zip(clips, sources, strict=True):
        if clip.shape[1:3] != clips[0].shape[1:3]:
            (h0, w0), (h, w) = clips[0].shape[1:3], clip.shape[1:3]
            raise DataError(
                f"clips have different frame sizes ({w0}×{h0} in {sources[0].name}, {w}×{h} in {source.name}): "
                "every clip needs the same frame size"
            )


def _stack_clips(clips: list[np.ndarray], sources: list[Path], schema: Schema | None) -> np.ndarray:
    """RGB uint8 clips ``(T_i, H, W, 3)`` -> float32 ``(N, T, C, H, W)`` in [0, 1], cut to one length and, with
    ``schema``, conformed to its channels and frame size."""
    frames = _check_length(clips, sources, schema)
    if schema is None:
        _check_sizes(clips, sources)
        channels = 1 if all(_is_gray(c) for c in clips) else 3
        shape = (channels, *clips[0].shape[1:3])
    else:
        shape = tuple(int(s) for s in schema.shape[1:])
    x = np.empty((len(clips), frames, *shape), dtype=np.float32)
    for i, clip in enumerate(clips):
        pixels = clip[:frames].transpose(0, 3, 1, 2).astype(np.float32)
        pixels /= 255
        if schema is None:
            x[i] = pixels[:, :1] if shape[0] == 1 else pixels
        else:
            x[i] = conform_images(pixels, channels=shape[0], size=shape[1:])
    return x


def _layout(raw: np.ndarray, where: object, schema: Schema | None) -> np.ndarray:
    """A clips array -> ``(N, T, C, H, W)`` (a view where possible), module docstring's rules."""
    if raw.ndim == 4:
        return raw[:, :, None]
    if raw.ndim == 5:
        last, first = raw.shape[4] in (1, 3), raw.shape[2] in (1, 3)
        if last and first and schema is not None:  # ambiguous: let the model's shape decide
            last = tuple(raw.shape[2:]) != tuple(schema.shape[1:])
        if last:
            return np.moveaxis(raw, 4, 2)
        if first:
            return raw
    raise DataError(
        f"{where} has shape {raw.shape}: expected video clips (N, T, H, W) or (N, T, H, W, C) with C = 1 or 3"
    )


def _conform(x: np.ndarray, where: object, schema: Schema | None) -> np.ndarray:
    """Clips ``(N, T, C, H, W)`` cut to the schema's T frames and converted to its channels and frame size."""
    if schema is None:
        return x
    frames, channels, h, w = (int(s) for s in schema.shape)
    if x.shape[1] < frames:
        raise DataError(f"{where} has clips of {x.shape[1]} frames but the model was trained on clips of {frames}")
    x = x[:, :frames]
    n, t = x.shape[:2]
    flat = conform_images(x.reshape(n * t, *x.shape[2:]), channels=channels, size=(h, w))
    return flat.reshape(n, t, *flat.shape[1:])


def _check_schema(where: object, schema: Schema | None) -> None:
    if schema is not None and (schema.kind != "video" or len(schema.shape) != 4):
        raise DataError(
            f"{where} holds video clips but the model was trained on {schema.kind} data of shape {tuple(schema.shape)}"
        )


def _array_clips(path: Path, schema: Schema | None) -> tuple[np.ndarray, np.ndarray | None, tuple[str, ...] | None]:
    raw, y = read_npy(path, CLIP_KEYS)
    check_numeric(raw, path)
    clips = unit_values(_layout(raw, path, schema), path, "clips", "expected uint8 0-255 or values in [0, 1]")
    x = _conform(clips, path, schema)
    known = schema.label_names if schema is not None else None
    codes, names = label_codes(y, len(x), path, known) if y is not None else (None, known)
    return x, codes, names


def _source_clips(path: Path, schema: Schema | None) -> tuple[np.ndarray, np.ndarray | None, tuple[str, ...] | None]:
    sources, classes = _collect(path) if path.is_dir() else ([path], None)
    x = _stack_clips([_read_clip(s) for s in sources], sources, schema)
    names = schema.label_names if schema is not None else None
    if classes is None:
        return x, None, names
    codes, names = encode_labels(np.array(classes), names)
    return x, codes, names


def load_video(path: str | Path, *, schema: Schema | None = None) -> Dataset:
    """Video clips (module docstring) as split "all": float32 ``(N, T, C, H, W)`` in [0, 1].

    Labels come from class folders or an ``.npz``'s labels. ``schema`` (a trained model's, kind "video") sets the
    number of frames (longer clips are cut, shorter ones refused), the channels and the frame size (resized)."""
    path = Path(path)
    _check_schema(path, schema)
    if not path.exists():
        raise DataError(f"no such file or directory: {path}")
    if path.is_file() and path.suffix.lower() in ARRAY_SUFFIXES:
        x, codes, names = _array_clips(path, schema)
    elif path.is_dir() or path.suffix.lower() in VIDEO_SUFFIXES:
        x, codes, names = _source_clips(path, schema)
    else:
        raise DataError(f"{path} is not video: expected {FORMATS}")
    meta = Schema("video", tuple(int(s) for s in x.shape[1:]), label_names=names, source=str(path))
    labels = {"all": label_tensor(codes)} if codes is not None else {}
    return Dataset(splits={"all": float_tensor(x)}, schema=meta, labels=labels)


# --- writing --------------------------------------------------------------------------------------------------


def _clips_uint8(clips: np.ndarray | torch.Tensor) -> np.ndarray:
    """Clips ``(N, T, C, H, W)`` with values in [0, 1] (clipped) -> uint8 ``(N, T, H, W, C)``."""
    x = np.asarray(clips.detach().cpu() if isinstance(clips, torch.Tensor) else clips)
    if x.ndim != 5 or x.shape[2] not in (1, 3) or 0 in x.shape:
        raise DataError(f"clips to write must have shape (N, T, C, H, W) with C = 1 or 3, got {x.shape}")
    if x.dtype.kind not in "biuf":
        raise DataError(f"clips to write must hold numbers, got {x.dtype}")
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise DataError("clips to write hold NaN or infinite values: expected values in [0, 1]")
    return np.round(np.clip(x, 0.0, 1.0) * 255).astype(np.uint8).transpose(0, 1, 3, 4, 2)


def clip_grid(clips: np.ndarray | torch.Tensor, *, columns: int | None = None, padding: int = 2) -> np.ndarray:
    """N clips ``(N, T, C, H, W)`` in [0, 1] -> their frames side by side: uint8 ``(T, H', W', C)``.

    Row-major grid of ``columns`` (default ``ceil(sqrt(N))``) tiles, ``padding`` white pixels between tiles
    (none around the grid, so one clip gives its own frames)."""
    u8 = _clips_uint8(clips)
    n, t, h, w, c = u8.shape
    if columns is not None and (isinstance(columns, bool) or not isinstance(columns, int) or columns < 1):
        raise DataError(f"columns must be a positive integer, got {columns!r}")
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise DataError(f"padding must be a non-negative integer, got {padding!r}")
    cols = min(n, columns or math.ceil(math.sqrt(n)))
    rows = math.ceil(n / cols)
    grid = np.full((t, rows * (h + padding) - padding, cols * (w + padding) - padding, c), 255, dtype=np.uint8)
    for i in range(n):
        top, left = (i // cols) * (h + padding), (i % cols) * (w + padding)
        grid[:, top : top + h, left : left + w] = u8[i]
    return grid


def _check_fps(fps: object) -> float:
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not 0 < fps <= MAX_FPS:
        raise DataError(f"fps must be a number in (0, {MAX_FPS}], got {fps!r}")
    return float(fps)


def write_clips_gif(
    path: str | Path,
    clips: np.ndarray | torch.Tensor,
    *,
    fps: float = 10,
    columns: int | None = None,
    padding: int = 2,
) -> Path:
    """Write N clips ``(N, T, C, H, W)`` in [0, 1] as ONE looping animated GIF, a ``clip_grid`` per frame.

    Gray clips (C = 1) are written exactly; colour ones get a 256-colour palette per frame. Atomic: a temporary
    file beside ``path``, then renamed. Returns ``path``."""
    path = Path(path)
    fps = _check_fps(fps)
    grid = clip_grid(clips, columns=columns, padding=padding)
    iio = _imageio()
    frames = grid[..., 0] if grid.shape[3] == 1 else grid
    try:
        with atomic_path(path) as tmp:
            iio.imwrite(tmp, frames, extension=".gif", duration=round(1000 / fps), loop=0)
    except Exception as e:
        raise DataError(f"cannot write {path}: {error_text(e)}") from None
    return path


def write_clips_mp4(
    path: str | Path,
    clips: np.ndarray | torch.Tensor,
    *,
    fps: float = 10,
    columns: int | None = None,
    padding: int = 2,
) -> Path:
    """Write N clips ``(N, T, C, H, W)`` in [0, 1] as ONE H.264 MP4, a ``clip_grid`` per frame (padded with black
    to even sides). Needs imageio's ffmpeg plugin (``pip install imageio-ffmpeg``). Atomic. Returns ``path``."""
    path = Path(path)
    fps = _check_fps(fps)
    grid = clip_grid(clips, columns=columns, padding=padding)
    iio = _imageio()
    _require_ffmpeg(f"writing {path}")
    t, h, w, c = grid.shape
    frames = np.zeros((t, h + h % 2, w + w % 2, 3), dtype=np.uint8)
    frames[:, :h, :w] = grid
    try:
        with warnings.catch_warnings(), atomic_path(path) as tmp:
            warnings.simplefilter("ignore", ResourceWarning)
            iio.imwrite(
                tmp, frames, extension=".mp4", fps=fps, codec="libx264", quality=MP4_QUALITY, macro_block_size=1,
                output_params=["-f", "mp4"],
            )  # fmt: skip
    except Exception as e:
        raise DataError(f"cannot write {path}: {error_text(e)}") from None
    return path
