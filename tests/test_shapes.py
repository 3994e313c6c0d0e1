"""The generated ``shapes`` dataset: deterministic factors, rendering checked from pixels, spec parsing and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vaekit.data.schema import Schema
from vaekit.data.shapes import (
    COLOUR_RGB,
    COLOURS,
    FACTORS,
    GRID,
    ORIENTATIONS,
    SCALES,
    SHAPES,
    canonical_shapes_spec,
    factor_indices,
    is_shapes_spec,
    load_shapes,
    measure_position,
    measure_scale,
    parse_shapes_spec,
    render_shapes,
    shape_attributes,
    shape_factors,
)
from vaekit.errors import DataError


def _pose(shape: int, scale: float = 1.0, orientation: float = 0.0, x: float = 0.5, y: float = 0.5) -> list[float]:
    return [shape, scale, orientation, x, y]


def test_factors_are_deterministic_and_on_the_grid() -> None:
    a, b = shape_factors(500, seed=3), shape_factors(500, seed=3)
    assert a.dtype == np.float32 and a.shape == (500, len(FACTORS))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, shape_factors(500, seed=4))
    for j, grid in enumerate(GRID):
        assert np.isin(a[:, j], grid.astype(np.float32)).all(), FACTORS[j]
        assert len(np.unique(a[:, j])) > len(grid) // 2  # drawn across the grid, not one value
    assert a[:, 1].min() >= 0.5 and a[:, 1].max() <= 1 and a[:, 2].min() >= 0 and a[:, 2].max() < 2 * math.pi
    c = shape_factors(500, colour=True, seed=3)
    assert c.shape == (500, 6) and np.array_equal(c[:, :5], a)  # colour only adds a column
    assert set(np.unique(c[:, 5])) == set(range(len(COLOURS)))
    idx = factor_indices(a)
    for j, grid in enumerate(GRID):
        assert np.allclose(grid[idx[:, j]], a[:, j], atol=1e-6)
    assert shape_factors(0).shape == (0, 5)
    with pytest.raises(DataError):
        shape_factors(-1)


def test_render_is_deterministic_with_right_shape_and_range() -> None:
    f = shape_factors(40, seed=1)
    for size in (16, 32, 128):
        x = render_shapes(f, size=size)
        assert x.shape == (40, 1, size, size) and x.dtype == np.float32
        assert x.min() >= 0 and x.max() <= 1
        assert (x.reshape(40, -1).max(axis=1) > 0.99).all()  # every image shows a solid shape
        assert (x.reshape(40, -1) > 0).mean() < 0.5  # on a black background
        edge = np.concatenate([x[..., 0, :], x[..., -1, :], x[..., :, 0], x[..., :, -1]], axis=-1)
        assert edge.max() < 0.6  # the shape stays inside the frame
        assert np.array_equal(x, render_shapes(torch.from_numpy(f), size=size))
    assert not np.array_equal(render_shapes(f), render_shapes(shape_factors(40, seed=2)))


def test_whole_grid_corners_stay_inside_the_frame() -> None:
    rows = [_pose(s, 1.0, o, x, y) for s in range(3) for o in ORIENTATIONS[::3] for x in (0, 1) for y in (0, 1)]
    x = render_shapes(np.array(rows, dtype=np.float32), size=32)[:, 0]
    edge = np.concatenate([x[:, 0], x[:, -1], x[:, :, 0], x[:, :, -1]], axis=1)
    assert edge.max() < 0.1


def test_measured_scale_grows_with_the_scale_factor() -> None:
    rng = np.random.default_rng(0)
    for shape in range(3):
        for _ in range(3):
            o, px, py = rng.choice(ORIENTATIONS), rng.uniform(), rng.uniform()
            f = np.array([_pose(shape, s, o, px, py) for s in SCALES], dtype=np.float32)
            m = measure_scale(render_shapes(f, size=32))
            assert (np.diff(m) > 0).all(), (SHAPES[shape], m)
            big = measure_scale(render_shapes(f[[0, -1]], size=64))
            assert big[1] / big[0] == pytest.approx(2.0, rel=0.03)  # sqrt(area) is proportional to scale


def test_shape_geometry_read_back_from_pixels() -> None:
    f = np.array([_pose(s) for s in range(3)], dtype=np.float32)
    x = render_shapes(f, size=64)
    square, ellipse, _ = measure_scale(x) ** 2
    assert ellipse / square == pytest.approx((math.pi / 2) / 2, rel=0.03)  # ellipse 1 x 1/2 vs square of diagonal 2
    ellipse_cols = (x[1, 0] > 0.5).any(axis=0).sum() / 64
    square_cols = (x[0, 0] > 0.5).any(axis=0).sum() / 64
    assert 0.4 <= ellipse_cols <= 0.56 and 0.3 <= square_cols <= 0.42  # a sensible part of the frame
    rows = (x[1, 0] > 0.5).any(axis=1).sum() / 64
    assert ellipse_cols / rows == pytest.approx(2.0, rel=0.15)  # 2:1 ellipse, lying flat at orientation 0


def test_measured_position_tracks_x_and_y() -> None:
    f = shape_factors(300, seed=5)
    p = measure_position(render_shapes(f, size=32))
    assert p.shape == (300, 2)
    assert np.corrcoef(p[:, 0], f[:, 3])[0, 1] > 0.95
    assert np.corrcoef(p[:, 1], f[:, 4])[0, 1] > 0.95  # y runs downwards, like the rows
    assert abs(np.corrcoef(p[:, 0], f[:, 4])[0, 1]) < 0.3
    assert np.isnan(measure_position(np.zeros((1, 1, 8, 8)))).all()


def test_the_three_shapes_are_distinguishable() -> None:
    rng = np.random.default_rng(1)
    for _ in range(5):
        pose = [rng.choice(SCALES), rng.choice(ORIENTATIONS), rng.uniform(), rng.uniform()]
        x = render_shapes(np.array([[s, *pose] for s in range(3)], dtype=np.float32), size=32)
        mass = x.sum(axis=(1, 2, 3))
        for a, b in ((0, 1), (0, 2), (1, 2)):
            assert np.abs(x[a] - x[b]).sum() > 0.2 * min(mass[a], mass[b]), (SHAPES[a], SHAPES[b], pose)
    # point symmetry: square and ellipse look the same turned by 180 degrees, the heart does not
    x = render_shapes(np.array([_pose(s, 1.0, ORIENTATIONS[3]) for s in range(3)], dtype=np.float32), size=32)[:, 0]
    turned = x[:, ::-1, ::-1]
    diff = np.abs(x - turned).sum(axis=(1, 2)) / x.sum(axis=(1, 2))
    assert diff[0] < 0.02 and diff[1] < 0.02 and diff[2] > 0.3


def test_orientation_turns_the_shapes() -> None:
    def diff(shape: int, a: int, b: int) -> float:
        f = np.array([_pose(shape, 1.0, ORIENTATIONS[a]), _pose(shape, 1.0, ORIENTATIONS[b])], dtype=np.float32)
        x = render_shapes(f, size=32)
        return float(np.abs(x[0] - x[1]).sum() / x[0].sum())

    square, ellipse, heart = 0, 1, 2
    assert diff(square, 0, 5) > 0.1 and diff(square, 0, 10) < 0.01  # 45 degrees changes it; 90 is a symmetry
    assert diff(ellipse, 0, 10) > 0.5 and diff(ellipse, 0, 20) < 0.01  # 180 degrees is a symmetry
    assert diff(heart, 0, 10) > 0.2 and diff(heart, 0, 20) > 0.25  # no symmetry
    # orientation 0: the heart's lobes (wide part) are at the top, its tip at the bottom
    h = render_shapes(np.array([_pose(heart)], dtype=np.float32), size=64)[0, 0]
    width = (h > 0.5).sum(axis=1)
    rows = np.flatnonzero(width)
    assert width[rows[: len(rows) // 3]].mean() > 2 * width[rows[-len(rows) // 6 :]].mean()


def test_colour_variant_paints_the_right_channels() -> None:
    f = shape_factors(60, colour=True, seed=2)
    x = render_shapes(f, size=24, colour=True)
    gray = render_shapes(f, size=24)
    assert x.shape == (60, 3, 24, 24) and x.dtype == np.float32
    assert np.allclose(x.max(axis=1), gray[:, 0])  # same shape, only coloured
    assert np.allclose(measure_scale(x), measure_scale(gray))
    mass = x.sum(axis=(2, 3))  # (n, 3)
    for i in range(60):
        rgb = COLOUR_RGB[int(f[i, 5])]
        assert np.allclose(mass[i][rgb == 0], 0) and np.allclose(mass[i][rgb == 1], gray[i].sum(), rtol=1e-4)
    assert int(mass[f[:, 5] == 0].argmax(axis=1).max()) == 0  # red images: channel 0 dominates
    with pytest.raises(DataError, match="factors"):
        render_shapes(f[:, :5], colour=True)


def test_render_rejects_bad_factors_and_sizes() -> None:
    good = np.array([_pose(0)], dtype=np.float32)
    for bad in ([[3, 1, 0, 0.5, 0.5]], [[0.5, 1, 0, 0.5, 0.5]], [[0, 0, 0, 0.5, 0.5]], [[0, 1, np.nan, 0.5, 0.5]]):
        with pytest.raises(DataError):
            render_shapes(np.array(bad, dtype=np.float32))
    with pytest.raises(DataError):
        render_shapes(good[:, :4])
    with pytest.raises(DataError, match="colour"):
        render_shapes(np.array([[0, 1, 0, 0.5, 0.5, 6]]), colour=True)
    for size in (4, 1000, 32.0, True):
        with pytest.raises(DataError, match="size"):
            render_shapes(good, size=size)  # type: ignore[arg-type]
    # off-grid values render (attribute editing): a scale between grid values gives a size in between
    m = measure_scale(render_shapes(np.array([_pose(1, 0.6), _pose(1, 0.65), _pose(1, 0.7)], dtype=np.float32)))
    assert m[0] < m[1] < m[2]


def test_load_shapes_builds_a_dataset() -> None:
    d = load_shapes("shapes:200")
    assert set(d.splits) == {"train", "test"} and d.train_split == "train"
    assert d.splits["train"].shape == (200, 1, 32, 32) and d.splits["test"].shape == (1000, 1, 32, 32)
    assert d.splits["train"].dtype == torch.float32 and d.labels["train"].dtype == torch.int64
    assert d.schema.kind == "image" and d.schema.shape == (1, 32, 32) and d.schema.label_names == SHAPES
    assert "200" in d.schema.source and "32 px" in d.schema.source
    assert d.attribute_info == shape_attributes() and d.attribute_info.names == FACTORS
    for split in ("train", "test"):
        assert d.attributes[split].shape == (len(d.splits[split]), 5) and d.attributes[split].dtype == torch.float32
        assert torch.equal(d.labels[split], d.attributes[split][:, 0].long())
        again = render_shapes(d.attributes[split].numpy())
        assert np.array_equal(again, d.splits[split].numpy())  # the attributes describe the images
    assert not torch.equal(d.attributes["train"][:200], d.attributes["test"][:200])  # another seed
    assert torch.equal(load_shapes("shapes:200").splits["train"], d.splits["train"])
    c = load_shapes(" SHAPES-Colour:150 ", image_size=16)
    assert c.splits["train"].shape == (150, 3, 16, 16) and c.attributes["train"].shape == (150, 6)
    assert c.attribute_info is not None and c.attribute_info.categories["colour"] == COLOURS
    assert c.attribute_info.types == ("categorical", "numeric", "numeric", "numeric", "numeric", "categorical")
    assert c.attribute_info.width == 3 + 4 + 6
    big = load_shapes("shapes:12000", image_size=8)
    assert len(big.splits["test"]) == 1200


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("shapes", (False, 20000)), ("shapes-colour", (True, 20000)), ("Shapes-Color:5_000", (True, 5000))],
)
def test_parse_shapes_spec(spec: str, expected: tuple[bool, int]) -> None:
    assert parse_shapes_spec(spec) == expected
    assert is_shapes_spec(spec)
    assert parse_shapes_spec(canonical_shapes_spec(spec)) == expected


@pytest.mark.parametrize("spec", ["shapes:abc", "shapes:0", "shapes:", "shapes:-5", "shapes-foo", "shapes-colour:x"])
def test_bad_specs_name_the_grammar(spec: str) -> None:
    assert is_shapes_spec(spec)
    with pytest.raises(DataError) as e:
        load_shapes(spec)
    assert "\n" not in str(e.value) and "shapes-colour" in str(e.value) and ":N" in str(e.value)


def test_specs_that_are_paths_or_too_big() -> None:
    for path in ("shapes.csv", "./shapes", "data/shapes", "mnist", "myshapes"):
        assert not is_shapes_spec(path)
    with pytest.raises(DataError, match="at most 2,000,000"):
        load_shapes("shapes:2000001")
    with pytest.raises(DataError, match="GiB"):
        load_shapes("shapes-colour:2000000", image_size=128)


def test_schema_sets_the_size_or_refuses() -> None:
    d = load_shapes("shapes:20", schema=Schema("image", (1, 28, 28)))
    assert d.splits["train"].shape == (20, 1, 28, 28) and d.schema.shape == (1, 28, 28)
    d = load_shapes("shapes-colour:20", schema=Schema("image", (3, 16, 16)), image_size=16)
    assert d.splits["test"].shape == (1000, 3, 16, 16)
    with pytest.raises(DataError, match="use shapes-colour") as e:
        load_shapes("shapes:20", schema=Schema("image", (3, 32, 32)))
    assert "\n" not in str(e.value)
    with pytest.raises(DataError, match="use shapes$"):
        load_shapes("shapes-colour:20", schema=Schema("image", (1, 32, 32)))
    with pytest.raises(DataError, match="table"):
        load_shapes("shapes:20", schema=Schema("table", (5,), columns=tuple("abcde")))
    with pytest.raises(DataError, match="conflicts"):
        load_shapes("shapes:20", schema=Schema("image", (1, 32, 32)), image_size=16)
    with pytest.raises(DataError, match="size"):
        load_shapes("shapes:20", image_size=4)
