"""Video data: the generated moving-MNIST clips (determinism, physics, rendering, specs) and user video (.npy/.npz,
frame folders, GIF and MP4 files) with the clip writers."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from PIL import Image

from vaekit.data.moving_mnist import (
    STEP,
    canonical_moving_mnist_spec,
    digit_side,
    is_moving_mnist_spec,
    load_moving_mnist,
    moving_mnist_clips,
)
from vaekit.data.schema import Schema
from vaekit.data.video import clip_grid, is_video_path, load_video, write_clips_gif, write_clips_mp4
from vaekit.errors import DataError

# --- moving MNIST ---------------------------------------------------------------------------------------------


def test_clips_are_deterministic_per_seed_split_and_variant() -> None:
    a = moving_mnist_clips(40, frames=8, size=32)
    b = moving_mnist_clips(40, frames=8, size=32)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y)
    clips, pos, classes = a
    assert clips.dtype == np.uint8 and clips.shape == (40, 8, 32, 32) and clips.max() > 200
    assert pos.shape == (40, 8, 2, 2) and classes.shape == (40, 2) and classes.dtype == np.int64
    assert set(np.unique(classes)) <= set(range(10)) and len(np.unique(classes)) > 5
    assert not np.array_equal(clips, moving_mnist_clips(40, frames=8, size=32, seed=1)[0])
    assert not np.array_equal(clips, moving_mnist_clips(40, frames=8, size=32, split="test")[0])
    assert not np.array_equal(clips, moving_mnist_clips(40, frames=8, size=32, stochastic=True)[0])
    one = moving_mnist_clips(3, frames=5, size=16, digits=1)
    assert one[0].shape == (3, 5, 16, 16) and one[1].shape == (3, 5, 1, 2) and one[2].shape == (3, 1)


def _free(size: int) -> int:
    return size - digit_side(size)


def _walls(pos: np.ndarray, free: int) -> np.ndarray:
    return (pos <= 0) | (pos >= free)


def test_digits_stay_inside_and_deterministic_bounces_only_flip_signs() -> None:
    size = 64
    _, pos, _ = moving_mnist_clips(300, frames=20, size=size)
    free = _free(size)
    assert pos.min() >= 0 and pos.max() <= free
    wall = _walls(pos, free)
    assert wall[:, 1:].mean() > 0.02  # bounces happen
    step = np.diff(pos, axis=1)  # (n, T-1, digits, 2): step t goes from frame t to t + 1
    inside = ~wall[:, 1:-1] & ~wall[:, 2:]  # frame t and t + 1 off the wall in that component
    assert np.allclose(step[:, 1:][inside], step[:, :-1][inside])  # constant velocity between bounces
    free_steps = ~wall[:, 1:].any(axis=-1)  # steps that end off every wall: the whole velocity
    speeds = np.hypot(step[..., 0], step[..., 1])[free_steps]
    assert np.allclose(speeds, STEP * free)  # one speed: bounces only flip signs
    at_low, at_high = (pos[:, 1:-1] <= 0) & ~wall[:, 2:], (pos[:, 1:-1] >= free) & ~wall[:, 2:]
    assert (step[:, 1:][at_low] > 0).all() and (step[:, 1:][at_high] < 0).all()  # away from the wall after it


def test_stochastic_digits_change_velocity_only_at_walls() -> None:
    size = 64
    _, pos, _ = moving_mnist_clips(300, frames=20, size=size, stochastic=True)
    free = _free(size)
    assert pos.min() >= 0 and pos.max() <= free
    wall = _walls(pos, free)
    step = np.diff(pos, axis=1)
    off = ~wall[:, 1:-1].any(axis=-1) & ~wall[:, 2:].any(axis=-1)  # frames t, t + 1 off every wall
    assert np.allclose(step[:, 1:][off], step[:, :-1][off])
    free_steps = ~wall[:, 1:].any(axis=-1)
    speeds = np.hypot(step[..., 0], step[..., 1])[free_steps]
    assert speeds.std() > 0.05 * STEP * free  # a bounce draws a new speed
    at_low, at_high = (pos[:, 1:-1] <= 0) & ~wall[:, 2:], (pos[:, 1:-1] >= free) & ~wall[:, 2:]
    assert (step[:, 1:][at_low] > 0).all() and (step[:, 1:][at_high] < 0).all()
    _, det, _ = moving_mnist_clips(300, frames=20, size=size)
    assert np.array_equal(det[:, 0], pos[:, 0])  # same start as the deterministic variant
    before = ~wall[:, 1].any(axis=-1)  # and the same first step, where it ends off the walls
    assert before.mean() > 0.5 and np.array_equal(det[:, 1][before], pos[:, 1][before])


def test_rendering_draws_each_digit_in_its_box() -> None:
    clips, pos, _ = moving_mnist_clips(20, frames=10, size=64, digits=1)
    side = digit_side(64)
    corner = np.floor(pos[:, :, 0]).astype(int)
    for i in range(20):
        boxes = []
        for t in range(10):
            y, x = corner[i, t]
            frame = clips[i, t].copy()
            boxes.append(frame[y : y + side, x : x + side].copy())
            frame[y : y + side, x : x + side] = 0
            assert frame.max() == 0  # nothing outside the box
        assert all(np.array_equal(b, boxes[0]) for b in boxes) and boxes[0].max() > 200  # one digit, moved
    two, pos2, _ = moving_mnist_clips(20, frames=4, size=32)
    side = digit_side(32)
    assert side == 14
    for i in range(20):
        for t in range(4):
            mask = np.zeros((32, 32), bool)
            for k in range(2):
                y, x = np.floor(pos2[i, t, k]).astype(int)
                mask[y : y + side, x : x + side] = True
            assert two[i, t][~mask].max() == 0


def test_load_moving_mnist_splits_and_schema() -> None:
    data = load_moving_mnist("moving-mnist:30", frames=6, size=32)
    train, test = data.splits["train"], data.splits["test"]
    assert train.dtype == torch.float32 and train.shape == (30, 6, 1, 32, 32) and test.shape == (100, 6, 1, 32, 32)
    assert train.min() >= 0 and train.max() <= 1 and not data.labels
    assert data.schema.kind == "video" and data.schema.shape == (6, 1, 32, 32)
    clips, _, _ = moving_mnist_clips(30, frames=6, size=32)
    assert torch.equal(train[:, :, 0], torch.from_numpy(clips).float() / 255)
    again = load_moving_mnist("Moving-MNIST:30", schema=data.schema)
    assert torch.equal(again.splits["train"], train) and torch.equal(again.splits["test"], test)
    stochastic = load_moving_mnist("moving-mnist-stochastic:30", frames=6, size=32)
    assert not torch.equal(stochastic.splits["train"], train)
    assert load_moving_mnist("moving-mnist:5", frames=3, size=16, digits=3).splits["train"].shape == (5, 3, 1, 16, 16)
    with pytest.raises(DataError, match="trained on image"):
        load_moving_mnist("moving-mnist:5", schema=Schema("image", (1, 32, 32)))
    with pytest.raises(DataError, match="conflicts"):
        load_moving_mnist("moving-mnist:5", frames=7, schema=data.schema)


def test_moving_mnist_specs_and_bad_arguments() -> None:
    assert is_moving_mnist_spec("moving-mnist") and is_moving_mnist_spec("Moving-MNIST-stochastic:2000")
    assert is_moving_mnist_spec("moving-mnist:abc") and not is_moving_mnist_spec("moving-mnist.npy")
    assert not is_moving_mnist_spec("mnist") and not is_moving_mnist_spec("data/moving-mnist")
    assert canonical_moving_mnist_spec("moving-mnist:10000") == "moving-mnist"
    assert canonical_moving_mnist_spec("MOVING-MNIST-stochastic:2_000") == "moving-mnist-stochastic:2000"
    for spec in ("moving-mnist:abc", "moving-mnist:0", "moving-mnist-colour", "moving-mnist:99999999"):
        with pytest.raises(DataError) as e:
            load_moving_mnist(spec)
        assert "\n" not in str(e.value) and "moving-mnist" in str(e.value)
    for kwargs in ({"size": 8}, {"frames": 0}, {"digits": 0}, {"size": 32.0}):
        with pytest.raises(DataError, match="must be an integer"):
            load_moving_mnist("moving-mnist:2", **kwargs)
    with pytest.raises(DataError, match="split"):
        moving_mnist_clips(2, split="validation")
    with pytest.raises(DataError, match="number of clips"):
        moving_mnist_clips(-1)


# --- user video -----------------------------------------------------------------------------------------------


def _gray_clips(n: int = 3, t: int = 5, h: int = 12, w: int = 16, seed: int = 0) -> np.ndarray:
    """uint8 (n, t, h, w) clips with distinct frames."""
    return np.random.default_rng(seed).integers(0, 256, size=(n, t, h, w), dtype=np.uint8)


def test_npy_and_npz_clips(tmp_path) -> None:
    raw = _gray_clips()
    np.save(tmp_path / "gray.npy", raw)
    data = load_video(tmp_path / "gray.npy")
    assert data.schema.kind == "video" and data.schema.shape == (5, 1, 12, 16) and not data.labels
    assert torch.allclose(data.splits["all"][:, :, 0], torch.from_numpy(raw).float() / 255)
    colour = np.random.default_rng(1).random((2, 4, 6, 7, 3)).astype(np.float32)
    np.savez(tmp_path / "colour.npz", clips=colour, y=np.array([1, 0]))
    data = load_video(tmp_path / "colour.npz")
    assert data.splits["all"].shape == (2, 4, 3, 6, 7) and data.labels["all"].tolist() == [1, 0]
    assert torch.equal(data.splits["all"], torch.from_numpy(colour).permute(0, 1, 4, 2, 3))
    np.save(tmp_path / "first.npy", colour.transpose(0, 1, 4, 2, 3))  # (N, T, C, H, W) also reads
    assert load_video(tmp_path / "first.npy").splits["all"].shape == (2, 4, 3, 6, 7)
    conformed = load_video(tmp_path / "gray.npy", schema=Schema("video", (3, 3, 24, 32)))
    assert conformed.splits["all"].shape == (3, 3, 3, 24, 32)  # cut to 3 frames, resized, 3 channels


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((2, 3, 4), np.uint8), "expected video clips"),
        (np.zeros((2, 3, 4, 5, 6, 7), np.uint8), "expected video clips"),
        (np.full((2, 3, 4, 5), 2.0, np.float32), r"values in \[2, 2\]"),
        (np.full((2, 3, 4, 5), 255, np.int64), "expected uint8 0-255"),
        (np.full((2, 3, 4, 5), np.nan, np.float32), "NaN"),
    ],
)
def test_bad_arrays_are_one_line_errors(tmp_path, array, message) -> None:
    np.save(tmp_path / "x.npy", array)
    with pytest.raises(DataError, match=message) as e:
        load_video(tmp_path / "x.npy")
    assert "\n" not in str(e.value)


def _save_frames(folder, frames: np.ndarray, names=None) -> None:
    folder.mkdir(parents=True)
    for t, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / (names[t] if names else f"frame{t}.png"))


def test_frame_folders_natural_order_labels_and_cut(tmp_path) -> None:
    clips = _gray_clips(n=2, t=11)
    names = [f"f{t}.png" for t in range(11)]  # f10 sorts after f9 only in natural order
    for i in range(2):
        _save_frames(tmp_path / "clips" / f"clip{i}", clips[i], names)
    data = load_video(tmp_path / "clips")
    assert data.splits["all"].shape == (2, 11, 1, 12, 16) and not data.labels
    assert torch.equal(data.splits["all"][:, :, 0], torch.from_numpy(clips).float() / 255)
    one = load_video(tmp_path / "clips" / "clip0")  # a folder of frames is one clip
    assert torch.equal(one.splits["all"][0], data.splits["all"][0])
    _save_frames(tmp_path / "labelled" / "b" / "x", clips[0])
    _save_frames(tmp_path / "labelled" / "a" / "y", clips[1][:7])
    labelled = load_video(tmp_path / "labelled")
    assert labelled.schema.label_names == ("a", "b") and sorted(labelled.labels["all"].tolist()) == [0, 1]
    assert labelled.splits["all"].shape == (2, 7, 1, 12, 16)  # cut to the shortest clip
    with pytest.raises(DataError, match="has 7 frames but the model was trained on clips of 9"):
        load_video(tmp_path / "labelled", schema=Schema("video", (9, 1, 12, 16)))
    colour = np.random.default_rng(2).integers(0, 256, size=(3, 12, 16, 3), dtype=np.uint8)
    _save_frames(tmp_path / "rgb" / "c", colour)
    assert load_video(tmp_path / "rgb").splits["all"].shape == (1, 3, 3, 12, 16)


def test_bad_folders_are_one_line_errors(tmp_path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no video clips found"):
        load_video(tmp_path / "empty")
    _save_frames(tmp_path / "ragged" / "c", _gray_clips(n=1, t=2)[0])
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(tmp_path / "ragged" / "c" / "frame2.png")
    with pytest.raises(DataError, match="frames of .* have different sizes"):
        load_video(tmp_path / "ragged")
    _save_frames(tmp_path / "sizes" / "a", _gray_clips(n=1, t=2)[0])
    _save_frames(tmp_path / "sizes" / "b", _gray_clips(n=1, t=2, h=8)[0])
    with pytest.raises(DataError, match="clips have different frame sizes"):
        load_video(tmp_path / "sizes")
    _save_frames(tmp_path / "mixed" / "clip", _gray_clips(n=1, t=2)[0])
    (tmp_path / "mixed" / "cls").mkdir()
    (tmp_path / "mixed" / "cls" / "v.gif").write_bytes(b"GIF89a")  # refused before it is read
    with pytest.raises(DataError, match="both at its top level"):
        load_video(tmp_path / "mixed")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="is not video"):
        load_video(tmp_path / "notes.txt")
    with pytest.raises(DataError, match="no such file"):
        load_video(tmp_path / "missing.gif")
    with pytest.raises(DataError, match="trained on table"):
        load_video(tmp_path / "sizes", schema=Schema("table", (3,)))


def test_gif_round_trip_and_grid(tmp_path) -> None:
    pytest.importorskip("imageio")
    gray = _gray_clips(n=3, t=6).astype(np.float32)[:, :, None] / 255
    for i in range(3):
        write_clips_gif(tmp_path / "gifs" / f"clip{i}.gif", gray[i : i + 1], fps=20)
    assert not [p for p in (tmp_path / "gifs").iterdir() if p.suffix != ".gif"]  # no temporary files left
    back = load_video(tmp_path / "gifs")
    assert back.splits["all"].shape == (3, 6, 1, 12, 16)
    assert torch.equal(back.splits["all"], torch.from_numpy(gray))  # gray GIFs are exact
    yy, xx = np.mgrid[0:12, 0:16] / 16.0
    smooth = np.stack([np.stack([yy, xx, (yy + xx + t / 6) % 1]) for t in range(6)])[None].astype(np.float32)
    write_clips_gif(tmp_path / "colour.gif", smooth)
    colour = load_video(tmp_path / "colour.gif").splits["all"]
    assert colour.shape == (1, 6, 3, 12, 16)
    assert (colour - torch.from_numpy(smooth)).abs().mean() < 0.03  # within the palette's error
    grid = clip_grid(gray, padding=2)
    assert grid.shape == (6, 2 * 12 + 2, 2 * 16 + 2, 1) and grid.dtype == np.uint8
    assert np.array_equal(grid[:, 14:26, :16, 0], np.round(gray[2, :, 0] * 255).astype(np.uint8))
    write_clips_gif(tmp_path / "grid.gif", torch.from_numpy(gray), columns=3, padding=1)
    assert load_video(tmp_path / "grid.gif").splits["all"].shape == (1, 6, 1, 12, 3 * 16 + 2)
    assert is_video_path(tmp_path / "grid.gif") and is_video_path(tmp_path / "gifs") and is_video_path(tmp_path)
    _save_frames(tmp_path / "frames" / "c", _gray_clips(n=1, t=2)[0])
    np.save(tmp_path / "a.npy", np.zeros((1, 2, 3, 4)))
    assert not is_video_path(tmp_path / "frames") and not is_video_path(tmp_path / "a.npy")
    assert not is_video_path(tmp_path / "missing.gif")


def test_writers_refuse_bad_clips(tmp_path) -> None:
    for clips in (np.zeros((2, 3, 4, 4)), np.zeros((1, 2, 2, 4, 4)), np.full((1, 2, 1, 4, 4), np.nan)):
        with pytest.raises(DataError) as e:
            write_clips_gif(tmp_path / "x.gif", clips)
        assert "\n" not in str(e.value)
    with pytest.raises(DataError, match="fps"):
        write_clips_gif(tmp_path / "x.gif", np.zeros((1, 2, 1, 4, 4)), fps=0)
    assert not (tmp_path / "x.gif").exists()


def test_mp4_round_trip(tmp_path) -> None:
    pytest.importorskip("imageio")
    pytest.importorskip("imageio_ffmpeg")
    yy, xx = np.mgrid[0:32, 0:48] / 48.0
    clip = np.stack([((yy + xx + t / 8) % 1)[None] for t in range(8)])[None].astype(np.float32)  # (1, 8, 1, 32, 48)
    write_clips_mp4(tmp_path / "mp4" / "a.mp4", clip, fps=8)
    write_clips_mp4(tmp_path / "mp4" / "b.mp4", clip[:, ::-1].copy(), fps=8)
    back = load_video(tmp_path / "mp4")
    assert back.splits["all"].shape == (2, 8, 1, 32, 48)
    assert (back.splits["all"][0] - torch.from_numpy(clip[0])).abs().mean() < 0.02
    rgb = np.random.default_rng(0).random((3, 4, 3, 9, 9)).astype(np.float32)
    write_clips_mp4(tmp_path / "grid.mp4", rgb, columns=3)  # a 9×31 grid, padded to even sides
    assert load_video(tmp_path / "grid.mp4").splits["all"].shape == (1, 4, 3, 10, 32)


def test_mp4_without_the_ffmpeg_plugin_is_one_line(tmp_path, monkeypatch) -> None:
    pytest.importorskip("imageio")
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "imageio_ffmpeg" else find_spec(name, *a)
    )
    with pytest.raises(DataError, match="pip install imageio-ffmpeg"):
        write_clips_mp4(tmp_path / "a.mp4", np.zeros((1, 2, 1, 4, 4)))
    (tmp_path / "b.mp4").write_bytes(b"not really")
    with pytest.raises(DataError, match="pip install imageio-ffmpeg"):
        load_video(tmp_path / "b.mp4")
