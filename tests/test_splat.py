"""The compiled splat of flow extrapolation gives exactly what the numpy code it replaces gives: random and realistic
displacements, every image shape, any layer map; zero motion redraws every pixel on itself; NaN drops a pixel;
where nothing lands, the label of a landed pixel as near as the nearest."""

from __future__ import annotations

import numpy as np
import pytest

from swiftcast.forecast.splat import splat_labels, splat_sources, warm_up


def reference(mx: np.ndarray, my: np.ndarray, layer: np.ndarray, drop_nan: bool = False) -> np.ndarray:
    """The numpy splat of ``LabelProjection.ahead`` (the middle part), verbatim; ``drop_nan`` leaves out the pixels
    whose displacement is NaN, which it cannot handle itself (it indexes out of bounds or wraps around int32)."""
    height, width = mx.shape
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    tx, ty = (xs + mx).ravel(), (ys + my).ravel()
    stride = width + 2
    fx, fy = np.floor(tx), np.floor(ty)
    with np.errstate(invalid="ignore"):  # inf - inf below, NaN cast to int32 (for pixels then left out)
        x0 = np.clip(fx, -1, width).astype(np.int32) + 1
        y0 = np.clip(fy, -1, height).astype(np.int32) * stride + stride
        x1 = np.clip(np.ceil(tx), -1, width).astype(np.int32) + 1
        y1 = np.clip(np.ceil(ty), -1, height).astype(np.int32) * stride + stride
        nearest = np.where(ty - fy < 0.5, y0, y1) + np.where(tx - fx < 0.5, x0, x1)
        apart_x, apart_y = np.diff(mx, axis=1) > 0, np.diff(my, axis=0) > 0
    spreading = np.zeros((height, width), bool)
    spreading[:, :-1] |= apart_x
    spreading[:, 1:] |= apart_x
    spreading[:-1] |= apart_y
    spreading[1:] |= apart_y
    spreading = spreading.ravel()
    flat_layer = layer.ravel()
    layers = [np.flatnonzero(flat_layer == v).astype(np.int32) for v in np.flatnonzero(np.bincount(flat_layer))]
    if drop_nan:
        drawn = ~(np.isnan(tx) | np.isnan(ty))
        layers = [pixels[drawn[pixels]] for pixels in layers]
    canvas = np.full((height + 2) * stride, -1, np.int32)
    for pixels in layers:  # farthest first
        spread = pixels[spreading[pixels]]
        left, right, top, bottom = x0[spread], x1[spread], y0[spread], y1[spread]
        for at in (top + left, top + right, bottom + left, bottom + right):
            canvas[at] = spread
        canvas[nearest[pixels]] = pixels
    return canvas.reshape(height + 2, stride)[1:-1, 1:-1]


def _check(mx: np.ndarray, my: np.ndarray, layer: np.ndarray, drop_nan: bool = False) -> np.ndarray:
    got = splat_sources(mx, my, layer)
    assert got.dtype == np.int32 and got.shape == mx.shape
    np.testing.assert_array_equal(got, reference(mx, my, layer, drop_nan))
    return got


SHAPES = [(1, 1), (1, 13), (13, 1), (2, 2), (7, 9), (31, 17), (48, 64)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("scale", [1e-3, 0.3, 2.0, 40.0, 1e7])
def test_random_displacements(shape: tuple[int, int], scale: float) -> None:
    """Noise: many collisions between layers, corners and nearest writes; 1e-3 spreads on tiny differences, 1e7
    lands nearly all off the image."""
    rng = np.random.default_rng([*shape, int(scale * 1000)])
    mx, my = (rng.standard_normal((2, *shape)) * scale).astype(np.float32)
    for layer in (np.zeros(shape, np.uint8), rng.integers(0, 4, shape).astype(np.uint8),
                  rng.choice(np.array([0, 7, 255], np.uint8), shape)):
        _check(mx, my, layer)


@pytest.mark.parametrize("shape", SHAPES)
def test_ties_and_exact_landings(shape: tuple[int, int]) -> None:
    """Displacements on quarter pixels: exact landings (floor == ceil) and nearest ties at .5, both signs."""
    rng = np.random.default_rng(shape)
    mx, my = (rng.integers(-12, 13, (2, *shape)) / 4).astype(np.float32)
    _check(mx, my, rng.integers(0, 3, shape).astype(np.uint8))


@pytest.mark.parametrize("shape", SHAPES)
def test_zero_motion_is_identity(shape: tuple[int, int]) -> None:
    zeros = np.zeros(shape, np.float32)
    layer = np.random.default_rng(0).integers(0, 5, shape).astype(np.uint8)
    got = _check(zeros, zeros, layer)
    np.testing.assert_array_equal(got, np.arange(shape[0] * shape[1]).reshape(shape))


def _looming(height: int, width: int, sign: float) -> tuple[np.ndarray, np.ndarray]:
    """The backward flow of driving ahead, -0.1 (pixel - centre), carried 9 spans (``sign`` -1: backing away), with
    a block moving sideways across it."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    mx = sign * 9 * -0.1 * (xs - (width - 1) / 2)
    my = sign * 9 * -0.1 * (ys - (height - 1) / 2)
    mx[height // 3:height // 2, width // 5:width // 2] += 23.7
    return mx.astype(np.float32), my.astype(np.float32)


@pytest.mark.parametrize("sign", [-1.0, 1.0])
def test_realistic_field(sign: float) -> None:
    height, width = 60, 97
    mx, my = _looming(height, width, sign)
    bands = np.zeros((height, width), np.uint8)
    bands[height // 2:] = 2  # the road, nearer than the sky
    near_block, far_block = bands.copy(), bands.copy()
    near_block[height // 3:height // 2, width // 5:width // 2] = 5
    far_block[height // 3:height // 2, width // 5:width // 2] = 1
    for layer in (np.zeros((height, width), np.uint8), bands, near_block, far_block):
        got = _check(mx, my, layer)
        if sign == -1.0:  # expanding: the corners leave no cracks in the middle of the image
            assert (got[height // 4:-height // 4, width // 4:-width // 4] >= 0).all()


def test_label_projection_displacement() -> None:
    """The real input: LabelProjection's displacement and layers of a flow that turns and approaches."""
    from swiftcast.forecast.motion import TRAIN_ID_LAYERS, LabelProjection

    height, width = 48, 80
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 19, (height // 8, width // 8)).astype(np.uint8).repeat(8, 0).repeat(8, 1)
    mx, my = _looming(height, width, 1.0)
    flow = np.stack([mx / 9 + 0.7, my / 9], -1).astype(np.float32)
    projection = LabelProjection(labels, flow)
    for steps in (1.0, 3.0, 9.0):
        dx, dy = projection.displacement(steps)
        _check(dx.astype(np.float32), dy.astype(np.float32), TRAIN_ID_LAYERS[labels])


def test_infinite_displacements_land_off_the_image() -> None:
    rng = np.random.default_rng(4)
    mx, my = rng.standard_normal((2, 9, 11)).astype(np.float32)
    mx[2, 3], my[4, 5], mx[6, 7], my[6, 7] = np.inf, -np.inf, -np.inf, np.inf
    got = _check(mx, my, rng.integers(0, 3, (9, 11)).astype(np.uint8))
    assert not np.isin([2 * 11 + 3, 4 * 11 + 5, 6 * 11 + 7], got).any()


def test_nan_drops_the_pixel() -> None:
    """NaN in x, in y or in both: that pixel is drawn nowhere, everything else as the numpy code draws it."""
    rng = np.random.default_rng(5)
    mx, my = (rng.standard_normal((2, 16, 20)) * 3).astype(np.float32)
    mx[3, 4] = my[5, 6] = mx[7, 8] = my[7, 8] = np.nan
    mx[0, :] = np.nan  # a whole row, on the border
    got = _check(mx, my, rng.integers(0, 3, (16, 20)).astype(np.uint8), drop_nan=True)
    assert not np.isin([3 * 20 + 4, 5 * 20 + 6, 7 * 20 + 8, *range(20)], got).any()


def test_any_strides_and_dtypes() -> None:
    """Non-contiguous views and float64 are converted, not compiled anew or misread."""
    rng = np.random.default_rng(6)
    mx, my = (rng.standard_normal((2, 20, 30)) * 2)
    layer = rng.integers(0, 3, (20, 30)).astype(np.uint8)
    want = reference(mx.astype(np.float32), my.astype(np.float32), layer)
    np.testing.assert_array_equal(splat_sources(mx, my, layer), want)
    wide = np.zeros((20, 60), np.float32)
    wide[:, ::2] = mx
    np.testing.assert_array_equal(splat_sources(wide[:, ::2], my.astype(np.float32), layer), want)


def test_shapes_must_agree() -> None:
    zeros = np.zeros((4, 5), np.float32)
    with pytest.raises(ValueError, match="alike"):
        splat_sources(zeros, zeros[:, :4], np.zeros((4, 5), np.uint8))
    with pytest.raises(ValueError, match="alike"):
        splat_sources(zeros.ravel(), zeros.ravel(), np.zeros(20, np.uint8))


def test_warm_up() -> None:
    assert warm_up() >= 0


def _nearest_landed_distance(landed: np.ndarray) -> np.ndarray:
    """(H, W): the distance from every pixel to the nearest landed pixel, by brute force."""
    ys, xs = np.nonzero(landed)
    grid_y, grid_x = np.mgrid[0:landed.shape[0], 0:landed.shape[1]]
    return np.sqrt((grid_y[..., None] - ys) ** 2 + (grid_x[..., None] - xs) ** 2).min(-1)


@pytest.mark.parametrize("seed", range(6))
def test_splat_labels_draws_the_sources_and_fills_with_a_nearest_label(seed: int) -> None:
    """Where a pixel lands, its label; where none does, the label of a landed pixel as near as the nearest one
    (vector propagation is Euclidean up to ties and, rarely, a pixel or so)."""
    rng = np.random.default_rng(seed)
    height, width = rng.integers(5, 40, 2)
    mx, my = (rng.standard_normal((2, height, width)) * rng.uniform(0.5, 6)).astype(np.float32)
    mx += np.float32(rng.uniform(-8, 8))  # a shift: whole columns uncovered at one edge
    layer = rng.integers(0, 3, (height, width)).astype(np.uint8)
    # blocks of one label, so a fill's label can be told apart
    labels = rng.integers(0, 19, (height // 4 + 1, width // 4 + 1)).astype(np.uint8).repeat(4, 0).repeat(4, 1)
    labels = np.ascontiguousarray(labels[:height, :width])
    source = splat_sources(mx, my, layer)
    landed = source >= 0
    got = splat_labels(mx, my, layer, labels)
    assert got.dtype == np.uint8 and got.shape == labels.shape
    np.testing.assert_array_equal(got[landed], labels.ravel()[source[landed]])
    if landed.all() or not landed.any():
        return
    drawn = np.where(landed, got, 255)
    nearest = _nearest_landed_distance(landed)
    for y, x in zip(*np.nonzero(~landed)):
        # the landed pixels at most a pixel and a half farther than the nearest: the fill took one of their labels
        reach = np.sqrt((np.arange(height)[:, None] - y) ** 2 + (np.arange(width) - x) ** 2) <= nearest[y, x] + 1.5
        assert got[y, x] in drawn[reach & landed], (y, x)


def test_splat_labels_without_holes_or_without_anything_landing() -> None:
    labels = np.arange(12, dtype=np.uint8).reshape(3, 4)
    zeros = np.zeros((3, 4), np.float32)
    np.testing.assert_array_equal(splat_labels(zeros, zeros, np.zeros((3, 4), np.uint8), labels), labels)
    far = np.full((3, 4), 1e6, np.float32)
    np.testing.assert_array_equal(splat_labels(far, far, np.zeros((3, 4), np.uint8), labels), 0)
    with pytest.raises(ValueError, match="alike"):
        splat_labels(zeros, zeros, np.zeros((3, 4), np.uint8), labels[:, :3])


def test_read_back_of_no_motion_is_the_fine_labels() -> None:
    from swiftcast.forecast.motion import labels_on_grid
    from swiftcast.forecast.splat import splat_read_back

    rng = np.random.default_rng(5)
    fine = rng.integers(0, 19, (40, 72)).astype(np.uint8)
    grid = labels_on_grid(fine, 18)
    zeros = np.zeros(grid.shape, np.float32)
    assert grid.shape == (10, 18)
    assert np.array_equal(splat_read_back(zeros, zeros, grid % 5, grid, fine), fine)


def test_read_back_follows_what_landed_on_each_cell() -> None:
    """A car moves over the road: it is read back where it lands, at the fine size, and what the motion uncovers
    takes the label drawn nearest on the grid."""
    from swiftcast.forecast.motion import labels_on_grid
    from swiftcast.forecast.splat import splat_read_back

    fine = np.zeros((32, 64), np.uint8)
    fine[8:24, 8:24] = 13  # a car, nearer than the road
    grid = labels_on_grid(fine, 16)
    layer = np.where(grid == 13, 4, 1).astype(np.uint8)
    mx = np.where(grid == 13, np.float32(2.0), np.float32(0.0)).astype(np.float32)  # the car: 2 cells = 8 px right
    my = np.zeros_like(mx)
    got = splat_read_back(mx, my, layer, grid, fine)
    want = np.zeros_like(fine)
    want[8:24, 16:32] = 13
    assert np.array_equal(got[:, 16:], want[:, 16:])
    # uncovered (nothing lands on those cells): the label drawn nearest on the grid, in whole cells
    uncovered = got[:, 8:16].reshape(8, 4, 2, 4)
    assert (uncovered == uncovered[:, :1, :, :1]).all()


def test_read_back_needs_labels_on_the_displacements_grid() -> None:
    from swiftcast.forecast.splat import splat_read_back

    zeros = np.zeros((4, 6), np.float32)
    with pytest.raises(ValueError, match="alike"):
        splat_read_back(zeros, zeros, np.zeros((4, 6), np.uint8), np.zeros((8, 12), np.uint8),
                        np.zeros((8, 12), np.uint8))
    with pytest.raises(ValueError, match="fine labels"):
        splat_read_back(zeros, zeros, np.zeros((4, 6), np.uint8), np.zeros((4, 6), np.uint8),
                        np.zeros((8, 12, 3), np.uint8))
