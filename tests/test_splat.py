"""The compiled splat of flow extrapolation gives exactly what the numpy code it replaces gives: random and realistic
displacements, every image shape, any layer map; zero motion redraws every pixel on itself; NaN drops a pixel."""

from __future__ import annotations

import numpy as np
import pytest

from swiftcast.forecast.splat import splat_cells, splat_sources, warm_up


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


# --- splat_cells: the same writes, over whole cells of one label ---------------------------------------------------


def _edge(a: tuple[float, float], b: tuple[float, float], px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Twice the signed area of (a, b, p), from the lexicographically smaller of a and b (so (b, a) negates it)."""
    if (a[0], a[1]) <= (b[0], b[1]):
        return (b[0] - a[0]) * (py - a[1]) - (b[1] - a[1]) * (px - a[0])
    return -((a[0] - b[0]) * (py - b[1]) - (a[1] - b[1]) * (px - b[0]))


def _triangle(canvas: np.ndarray, layers: np.ndarray, pixel: int, layer: int, a: tuple, b: tuple, c: tuple) -> None:
    """Draw ``pixel`` (and ``layer`` on ``layers``) on every pixel of ``canvas`` whose centre lies in the closed
    triangle (none if degenerate)."""
    height, width = canvas.shape
    area = float(_edge(a, b, np.float64(c[0]), np.float64(c[1])))
    if area == 0:
        return
    if area < 0:
        b, c = c, b
    xs = np.arange(max(np.ceil(min(a[0], b[0], c[0])), 0), min(np.floor(max(a[0], b[0], c[0])), width - 1) + 1)
    ys = np.arange(max(np.ceil(min(a[1], b[1], c[1])), 0), min(np.floor(max(a[1], b[1], c[1])), height - 1) + 1)
    px, py = np.meshgrid(xs, ys)
    inside = (_edge(a, b, px, py) >= 0) & (_edge(b, c, px, py) >= 0) & (_edge(c, a, px, py) >= 0)
    canvas[py[inside].astype(int), px[inside].astype(int)] = pixel
    layers[py[inside].astype(int), px[inside].astype(int)] = layer


def reference_cells(mx: np.ndarray, my: np.ndarray, layer: np.ndarray, labels: np.ndarray, max_cell: float = 16.0,
                    drop_nan: bool = False) -> np.ndarray:
    """What :func:`splat_cells` should give, written plainly: the cells of every layer (each in the farthest layer
    of its four pixels; farthest first, pixels in order, the last one drawn wins), under :func:`reference` wherever
    its winner is in the same or a nearer layer."""
    height, width = mx.shape
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    tx, ty = (xs + mx).astype(np.float64), (ys + my).astype(np.float64)  # float32 sums, exact in float64
    cells = np.full((height, width), -1, np.int64)
    cell_layer = np.zeros((height, width), int)
    farthest = np.minimum.reduce([layer[:-1, :-1], layer[:-1, 1:], layer[1:, :-1], layer[1:, 1:]])
    for value in np.unique(farthest):
        for i, j in zip(*np.nonzero(farthest == value)):
            block = (slice(i, i + 2), slice(j, j + 2))
            finite = np.isfinite(tx[block]).all() and np.isfinite(ty[block]).all()
            if (labels[block] != labels[i, j]).any() or not finite:
                continue
            corners = [(tx[i, j], ty[i, j]), (tx[i, j + 1], ty[i, j + 1]), (tx[i + 1, j + 1], ty[i + 1, j + 1]),
                       (tx[i + 1, j], ty[i + 1, j])]
            cx, cy = zip(*corners)
            if max(cx) - min(cx) > max_cell or max(cy) - min(cy) > max_cell:
                continue
            for a, b, c in ((0, 1, 2), (0, 2, 3)):
                _triangle(cells, cell_layer, i * width + j, value, corners[a], corners[b], corners[c])
    base = reference(mx, my, layer, drop_nan).astype(np.int64)
    cells_win = (cells >= 0) & ((base < 0) | (cell_layer > layer.ravel().astype(int)[base]))
    return np.where(cells_win, cells, base).astype(np.int32)


def _check_cells(mx: np.ndarray, my: np.ndarray, layer: np.ndarray, labels: np.ndarray, max_cell: float = 16.0,
                 drop_nan: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """splat_cells against the plain reference, and the properties that hold whatever the reference: where it
    differs from splat_sources a cell of one label won, over nothing or over a farther layer only."""
    got = splat_cells(mx, my, layer, labels, max_cell)
    assert got.dtype == np.int32 and got.shape == mx.shape
    np.testing.assert_array_equal(got, reference_cells(mx, my, layer, labels, max_cell, drop_nan))
    np.testing.assert_array_equal(got, splat_cells(mx, my, layer, labels, max_cell))  # deterministic
    base = splat_sources(mx, my, layer)
    width = mx.shape[1]
    changed = got != base
    winners = got[changed]
    i, j = winners // width, winners % width
    assert ((i + 1 < mx.shape[0]) & (j + 1 < width)).all()
    flat_labels = labels.ravel()
    for di, dj in ((0, 1), (1, 0), (1, 1)):
        assert (flat_labels[(i + di) * width + j + dj] == flat_labels[winners]).all()
    flat_layer = layer.ravel().astype(int)
    under = base[changed]
    farthest = np.minimum.reduce([flat_layer[(i + di) * width + j + dj] for di in (0, 1) for dj in (0, 1)])
    assert ((under < 0) | (flat_layer[np.maximum(under, 0)] < farthest)).all()
    return got, base


@pytest.mark.parametrize("shape", SHAPES)
def test_cells_zero_motion_is_identity(shape: tuple[int, int]) -> None:
    zeros = np.zeros(shape, np.float32)
    rng = np.random.default_rng(1)
    layer = rng.integers(0, 5, shape).astype(np.uint8)
    for labels in (np.zeros(shape, np.uint8), layer * 3, rng.integers(0, 2, shape).astype(np.uint8)):
        got, _ = _check_cells(zeros, zeros, layer, labels)
        np.testing.assert_array_equal(got, np.arange(shape[0] * shape[1]).reshape(shape))


def _magnified(height: int, width: int, scale: float, turn: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Displacement that magnifies the image ``scale`` times about its centre, turning it by ``turn`` radians."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    dx, dy = xs - (width - 1) / 2, ys - (height - 1) / 2
    cos, sin = np.cos(turn) * scale, np.sin(turn) * scale
    return (cos * dx - sin * dy - dx).astype(np.float32), (sin * dx + cos * dy - dy).astype(np.float32)


@pytest.mark.parametrize("shape", [(40, 64), (41, 63)])
def test_cells_close_magnified_regions(shape: tuple[int, int]) -> None:
    """Magnified 2.5x about the centre (landings 2.5 px apart): the corners leave gaps all over the magnified
    region, the cells none, border ring included."""
    mx, my = _magnified(*shape, 2.5)
    ones = np.zeros(shape, np.uint8)
    got, base = _check_cells(mx, my, ones, ones)
    inner = (slice(shape[0] // 4, -shape[0] // 4), slice(shape[1] // 4, -shape[1] // 4))
    assert (base[inner] < 0).mean() > 0.2
    assert (got >= 0).all()
    assert (got[0] >= 0).all() and (got[-1] >= 0).all() and (got[:, 0] >= 0).all() and (got[:, -1] >= 0).all()


@pytest.mark.parametrize("scale,turn", [(2.0, 0.0), (2.0, np.pi / 2), (2.0, np.pi / 6), (1.7, 0.3), (3.0, -1.1)])
def test_cells_leave_no_seams(scale: float, turn: float) -> None:
    """Magnified and turned: cell edges slanting across the pixel grid, or (x2 about an integer centre, turned by a
    right angle) running exactly through pixel centres, where a half-open or inconsistent inside test would crack.
    The magnified image covers the view, so every pixel is drawn."""
    for shape in ((41, 65), (40, 64)):
        mx, my = _magnified(*shape, scale, turn)
        ones = np.full(shape, 7, np.uint8)
        got, _ = _check_cells(mx, my, ones, ones)
        assert (got >= 0).all()


def _moving_block(shift: float = 5.0) -> tuple[np.ndarray, ...]:
    """Label 13 (layer 4) on label 0 (layer 1); the block moves ``shift`` px right, the background stays."""
    height, width = 30, 40
    block = (slice(8, 20), slice(10, 25))
    labels = np.zeros((height, width), np.uint8)
    labels[block] = 13
    layer = np.where(labels == 13, 4, 1).astype(np.uint8)
    mx, my = np.zeros((2, height, width), np.float32)
    mx[block] = shift
    return mx, my, layer, labels


def test_cells_do_not_cross_labels() -> None:
    """The strip the block uncovers stays empty (no cell joins block and background; the background's own cells do
    not move); the block is drawn whole where it lands; everything else is as splat_sources draws it."""
    mx, my, layer, labels = _moving_block()
    got, base = _check_cells(mx, my, layer, labels)
    strip = (slice(8, 20), slice(10, 15))
    assert (base[strip] < 0).all() and (got[strip] < 0).all()
    np.testing.assert_array_equal(got, base)  # a rigid shift by whole pixels: the nearest writes cover it all
    # by a fraction: landings between pixels, cells still only within each label
    mx, my, layer, labels = _moving_block(5.4)
    got, base = _check_cells(mx, my, layer, labels)
    assert (got[strip] < 0).all()
    assert (labels.ravel()[got[8:20, 15:30]] == 13).all()


def test_max_cell_skips_far_corners() -> None:
    """The lower rows torn 12 px down from the upper ones: the cells across the tear (13 px tall) fill it where
    max_cell allows them, and are skipped (leaving what splat_sources leaves) where it does not."""
    height, width = 24, 20
    mx, my = np.zeros((2, height, width), np.float32)
    my[6:] = 12.0
    labels = np.zeros((height, width), np.uint8)
    got, base = _check_cells(mx, my, labels, labels, max_cell=16.0)
    tear = (slice(7, 18), slice(None))
    assert (base[tear] < 0).all() and (got[tear] // width == 5).all()
    got, base = _check_cells(mx, my, labels, labels, max_cell=12.5)
    np.testing.assert_array_equal(got, base)


def test_cells_drop_nan_and_infinite() -> None:
    """A NaN or infinite displacement drops every cell it touches (and its pixel, as splat_sources does)."""
    height, width = 30, 40
    mx, my = _magnified(height, width, 2.5)
    labels = np.zeros((height, width), np.uint8)
    mx[10, 12] = np.nan
    my[20, 30] = np.inf
    got, base = _check_cells(mx, my, labels, labels, drop_nan=True)
    assert not np.isin([10 * width + 12, 20 * width + 30], got).any()
    # the cells touching them are not drawn: where their top-left pixel wins, it is by its own corner or nearest
    touching = [i * width + j for i in (9, 10) for j in (11, 12)] + [i * width + j for i in (19, 20) for j in (29, 30)]
    for cell in touching:
        assert (base[got == cell] == cell).all()
    assert (got < 0).sum() < (base < 0).sum() / 10


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("scale", [0.3, 2.0, 8.0, 40.0])
def test_cells_random_displacements(shape: tuple[int, int], scale: float) -> None:
    """Noise on blocky labels and layers: collisions of cells with corners, nearest writes and other layers."""
    rng = np.random.default_rng([*shape, int(scale * 10), 7])
    mx, my = (rng.standard_normal((2, *shape)) * scale).astype(np.float32)
    labels = rng.integers(0, 3, ((shape[0] + 3) // 4, (shape[1] + 3) // 4)).astype(np.uint8)
    labels = labels.repeat(4, 0).repeat(4, 1)[:shape[0], :shape[1]]
    for layer in (np.zeros(shape, np.uint8), labels * 2, rng.integers(0, 3, shape).astype(np.uint8)):
        _check_cells(mx, my, layer, labels)


@pytest.mark.parametrize("sign", [-1.0, 1.0])
def test_cells_realistic_field(sign: float) -> None:
    height, width = 60, 97
    mx, my = _looming(height, width, sign)
    labels = np.zeros((height, width), np.uint8)
    labels[height // 2:] = 1
    labels[height // 3:height // 2, width // 5:width // 2] = 13
    layer = np.array([0, 2] + [0] * 11 + [5], np.uint8)[labels]
    got, base = _check_cells(mx, my, layer, labels)
    assert not ((got < 0) & (base >= 0)).any()
    if sign == -1.0:  # expanding: the only holes are where the block would have landed had it not moved aside
        block = (slice(height // 3, height // 2), slice(width // 5, width // 2))  # (no cell joins it to the sky)
        ys, xs = np.mgrid[0:height, 0:width]
        still_x, still_y = (xs + mx - 23.7)[block], (ys + my)[block]
        holes_y, holes_x = np.nonzero(got < 0)
        assert len(holes_y) > 0
        assert (holes_x >= np.floor(still_x.min())).all() and (holes_x <= np.ceil(still_x.max())).all()
        assert (holes_y >= np.floor(still_y.min())).all() and (holes_y <= np.ceil(still_y.max())).all()


def test_cells_shapes_must_agree() -> None:
    zeros = np.zeros((4, 5), np.float32)
    with pytest.raises(ValueError, match="alike"):
        splat_cells(zeros, zeros, np.zeros((4, 5), np.uint8), np.zeros((4, 4), np.uint8))
