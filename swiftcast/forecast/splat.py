"""The drawing of flow extrapolation as compiled sweeps: which pixel of the present lands on each pixel of the future,
and what the forecast shows where none does.

:meth:`swiftcast.forecast.motion.LabelProjection.ahead` draws every pixel where its displacement sends it, nearer
drawing layers over farther ones. In numpy that is some twenty full-image temporaries per horizon (~11 ms at 256x512
on one thread, nearly all of it allocation and indexing overhead); here it is two loops over the pixels (numba,
compiled once and cached on disk) that give exactly the same result.

The drawing order, which decides every collision (the last write wins): layers from the farthest (0) up; within a
layer, four passes over its *spreading* pixels (those moving away from a neighbour), each writing one corner of the
pixel cell around where the pixel lands (top-left, top-right, bottom-left, bottom-right), so expanding regions have
no cracks; then one pass over all its pixels writing the nearest pixel, so zero motion redraws the present exactly;
pixels in ascending (row-major) order within each pass. Whatever lands off the image is dropped.

"The last write wins" in that order is "the write with the largest (layer, pass, pixel) wins", whatever order the
writes come in: so one sweep over the pixels writes a key per write, keeping the largest on every pixel (no sorting
by layer, no pass per layer), and a second sweep reads the pixel index back out of the keys.

A displacement that is NaN drops its pixel (nothing is drawn for it; its neighbours do not spread on its account);
the numpy code this replaces would index out of bounds (NaN in x) or wrap around int32 and draw it somewhere
arbitrary (NaN in y). Infinite displacements land off the image like any large one.

:func:`splat_read_back` draws on a coarse grid and reads the labels back at their own size, so the drawing's cost does
not grow with the camera's.

Where nothing lands (:func:`splat_labels`), the label drawn nearest: a vector propagation that visits only those
pixels. Reading the labels out and filling them takes about 0.2 ms at 256x512, where the labels read out in numpy and
OpenCV's distance transform of the whole image took 1.2.
"""

from __future__ import annotations

import time

import numpy as np

from swiftcast.forecast.compiled import compiled, kernel_array

__all__ = ["splat_labels", "splat_read_back", "splat_sources", "warm_up"]

#: writes per pixel, in drawing order within a layer: the four corners of its cell (if spreading), then its nearest
_PASSES = 5


@compiled
def _cell(t: np.float32, size: int) -> tuple[int, int, int]:
    """The pixels around coordinate ``t`` (float32) along one axis: floor, ceil and nearest, clipped to [-1, size]
    (-1 and ``size`` are off the image); all -1 for NaN, which then lands nowhere."""
    if np.isnan(t):
        return -1, -1, -1
    floor, ceil = np.floor(t), np.ceil(t)
    low = -1 if floor < -1 else (size if floor > size else int(floor))
    high = -1 if ceil < -1 else (size if ceil > size else int(ceil))
    # t - floor in float32 like the numpy code; for an infinite t it is NaN, which picks the high side as there
    return low, high, (low if t - floor < np.float32(0.5) else high)


@compiled
def _draw(keys: np.ndarray, at: int, key: int) -> None:
    """Write ``key`` at ``at`` unless a later write (a larger key) is there already; branch-free: on scattered
    displacements a branch here is mispredicted half the time (nearly twice as slow), on smooth ones it gains ~5%."""
    keys[at] = max(keys[at], key)


@compiled
def _keys(mx: np.ndarray, my: np.ndarray, layer: np.ndarray) -> tuple[np.ndarray, int]:
    """The winning key of every pixel of the canvas (the image with a one-pixel border for what lands off it,
    row-major, ``width + 2`` wide; -1 where nothing lands) and how many low bits of a key are the pixel index."""
    height, width = mx.shape
    bits = 1  # key = (layer * _PASSES + pass) << bits | pixel
    while (1 << bits) < height * width:
        bits += 1
    # a one-pixel frame takes whatever lands off the image (coordinates are clipped to it) and is dropped
    stride = width + 2
    keys = np.full((height + 2) * stride, -1, np.int64)
    for i in range(height):
        for j in range(width):
            pixel = i * width + j
            left, right, near_x = _cell(np.float32(j) + mx[i, j], width)
            top, bottom, near_y = _cell(np.float32(i) + my[i, j], height)
            first = np.int64(layer[i, j]) * _PASSES
            # moving away from a neighbour: the differences np.diff(...) > 0 takes (NaN and infinities alike)
            if ((j + 1 < width and mx[i, j + 1] - mx[i, j] > 0) or (j > 0 and mx[i, j] - mx[i, j - 1] > 0)
                    or (i + 1 < height and my[i + 1, j] - my[i, j] > 0) or (i > 0 and my[i, j] - my[i - 1, j] > 0)):
                upper, lower = (top + 1) * stride + 1, (bottom + 1) * stride + 1
                _draw(keys, upper + left, (first << bits) | pixel)
                _draw(keys, upper + right, ((first + 1) << bits) | pixel)
                _draw(keys, lower + left, ((first + 2) << bits) | pixel)
                _draw(keys, lower + right, ((first + 3) << bits) | pixel)
            _draw(keys, (near_y + 1) * stride + near_x + 1, ((first + 4) << bits) | pixel)
    return keys, bits


@compiled
def _splat(mx: np.ndarray, my: np.ndarray, layer: np.ndarray) -> np.ndarray:
    """:func:`splat_sources` on contiguous float32, float32, uint8 (H, W) arrays."""
    height, width = mx.shape
    keys, bits = _keys(mx, my, layer)
    mask, stride = (1 << bits) - 1, width + 2
    out = np.empty((height, width), np.int32)
    for i in range(height):
        for j in range(width):
            key = keys[(i + 1) * stride + j + 1]
            out[i, j] = key & mask if key >= 0 else -1
    return out


@compiled
def _nearer(seeds: np.ndarray, distances: np.ndarray, hole: int, neighbour: int, width: int) -> None:
    """Pixel ``hole`` takes the seed of pixel ``neighbour`` if that is nearer to it than its own."""
    seed = seeds[neighbour]
    if seed < 0:
        return
    di, dj = seed // width - hole // width, seed % width - hole % width
    distance = di * di + dj * dj
    if distance < distances[hole]:
        seeds[hole], distances[hole] = seed, distance


@compiled
def _fill_nearest(drawn: np.ndarray, holes: np.ndarray) -> None:
    """Every pixel of ``drawn`` (H, W) that ``holes`` lists (flat indices, ascending: where nothing landed) takes the
    label of the landed pixel nearest to it.

    Each hole takes the nearest of the seeds its neighbours found, in two sweeps (down, then up, each also along
    every row both ways): Danielsson's vector propagation (Comput. Graph. Image Process. 1980), Euclidean up to
    rare ties and near-misses of a pixel or so far from any seed. Landed pixels are their own seeds, so only the
    holes are visited."""
    height, width = drawn.shape
    flat = drawn.ravel()
    seeds = np.arange(height * width)
    distances = np.zeros(height * width, np.int64)
    for hole in holes:
        seeds[hole], distances[hole] = -1, np.iinfo(np.int64).max
    count = len(holes)
    # where each row's holes start in ``holes``
    starts = np.searchsorted(holes, np.arange(height + 1) * width)
    for down in (True, False):
        for r in range(height):
            i = r if down else height - 1 - r
            first, last = starts[i], starts[i + 1]
            if first == last:
                continue
            before = i - 1 if down else i + 1  # the row the sweep comes from
            if 0 <= before < height:
                for k in range(first, last):
                    hole = holes[k]
                    j = hole % width
                    for dj in (-1, 0, 1):
                        if 0 <= j + dj < width:
                            _nearer(seeds, distances, hole, before * width + j + dj, width)
            for k in range(first, last):  # along the row, rightwards then leftwards
                hole = holes[k]
                if hole % width > 0:
                    _nearer(seeds, distances, hole, hole - 1, width)
            for k in range(last - 1, first - 1, -1):
                hole = holes[k]
                if hole % width < width - 1:
                    _nearer(seeds, distances, hole, hole + 1, width)
    for k in range(count):
        hole = holes[k]
        if seeds[hole] >= 0:  # a landed pixel's index: only those are ever propagated
            flat[hole] = flat[seeds[hole]]


@compiled
def _drawn_and_sources(mx: np.ndarray, my: np.ndarray, layer: np.ndarray, labels: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`splat_labels` and :func:`splat_sources` of one drawing, on contiguous float32, float32, uint8, uint8
    (H, W) arrays."""
    height, width = mx.shape
    keys, bits = _keys(mx, my, layer)
    mask, stride = (1 << bits) - 1, width + 2
    flat_labels = labels.ravel()
    drawn = np.zeros((height, width), np.uint8)
    sources = np.empty((height, width), np.int32)
    holes = np.empty(height * width, np.int64)
    count = 0
    for i in range(height):
        for j in range(width):
            key = keys[(i + 1) * stride + j + 1]
            if key >= 0:
                sources[i, j] = key & mask
                drawn[i, j] = flat_labels[key & mask]
            else:
                sources[i, j] = -1
                holes[count] = i * width + j
                count += 1
    if 0 < count < height * width:
        _fill_nearest(drawn, holes[:count])
    return drawn, sources


@compiled
def _splat_labels(mx: np.ndarray, my: np.ndarray, layer: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """:func:`splat_labels` on contiguous float32, float32, uint8, uint8 (H, W) arrays."""
    return _drawn_and_sources(mx, my, layer, labels)[0]


@compiled
def _read_back(mx: np.ndarray, my: np.ndarray, layer: np.ndarray, labels: np.ndarray, fine: np.ndarray
               ) -> np.ndarray:
    """:func:`splat_read_back` on contiguous float32, float32, uint8, uint8, uint8 arrays."""
    height, width = mx.shape
    fine_height, fine_width = fine.shape
    drawn, sources = _drawn_and_sources(mx, my, layer, labels)
    # per grid cell, where what landed on it came from, in fine pixels relative to where it landed (plus a half, so
    # that flooring rounds); NaN where nothing landed
    scale_x, scale_y = np.float32(fine_width / width), np.float32(fine_height / height)
    back_x = np.empty((height, width), np.float32)
    back_y = np.empty((height, width), np.float32)
    flat_x, flat_y = mx.ravel(), my.ravel()
    for i in range(height):
        for j in range(width):
            source = sources[i, j]
            if source < 0:
                back_x[i, j] = np.nan
            else:  # finite: a NaN displacement is not drawn, an infinite one lands off the image
                back_x[i, j] = np.float32(0.5) - flat_x[source] * scale_x
                back_y[i, j] = np.float32(0.5) - flat_y[source] * scale_y
    columns = np.empty(fine_width, np.int64)  # the grid column every fine column lies in
    for fj in range(fine_width):
        columns[fj] = min(int((fj + 0.5) * width / fine_width), width - 1)
    top, right = np.float32(fine_height - 1), np.float32(fine_width - 1)
    out = np.empty((fine_height, fine_width), np.uint8)
    for fi in range(fine_height):
        i = min(int((fi + 0.5) * height / fine_height), height - 1)
        for fj in range(fine_width):
            j = columns[fj]
            dx = back_x[i, j]
            if np.isnan(dx):  # nothing landed: the label drawn nearest, as on the grid
                out[fi, fj] = drawn[i, j]
            else:
                x = min(max(np.float32(fj) + dx, np.float32(0)), right)
                y = min(max(np.float32(fi) + back_y[i, j], np.float32(0)), top)
                out[fi, fj] = fine[int(y), int(x)]
    return out


def splat_sources(mx: np.ndarray, my: np.ndarray, layer: np.ndarray) -> np.ndarray:
    """(H, W) int32: which pixel of the present (flat index) lands on every pixel of the future, -1 where none does.

    Args:
        mx, my: (H, W) float32 displacement (x, y) of every pixel; a pixel with a NaN in either is not drawn.
        layer: (H, W) uint8 drawing layer of every pixel (0 farthest; nearer layers are drawn over farther ones).
    """
    return _splat(*_contiguous(mx, my, layer))


def splat_labels(mx: np.ndarray, my: np.ndarray, layer: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(H, W) uint8: ``labels`` drawn where :func:`splat_sources` sends them, and where nothing lands the label drawn
    nearest (all zeros where nothing lands at all): what a forecast of flow extrapolation shows.

    Where nothing lands is mostly gaps inside what the forecast magnifies (an approaching car spreads wider than
    its pixels cover) or the edges of the view; the rest is what something moving uncovers. On the synthetic val
    the nearest label forecasts 0.4-1.0 mIoU better at +9 frames than reading the labels back along the flow, and
    preferring the farther layer (what is behind) loses 2-4: the gaps in a magnified car are car.
    """
    if labels.shape != mx.shape:
        raise ValueError(f"labels {labels.shape} and displacement {mx.shape} must be (H, W) alike")
    return _splat_labels(*_contiguous(mx, my, layer), kernel_array(labels, np.uint8))


def splat_read_back(mx: np.ndarray, my: np.ndarray, layer: np.ndarray, labels: np.ndarray,
                    fine_labels: np.ndarray) -> np.ndarray:
    """(H', W') uint8: a drawing made on a coarse grid, read back at the size of ``fine_labels``.

    ``labels`` (H, W) are ``fine_labels`` (H', W') brought down to the grid of the displacement. The drawing on that
    grid decides which pixel of the present lands where (nearer layers over farther ones, as :func:`splat_labels`);
    every fine pixel then reads its label from ``fine_labels`` where the pixel that landed on its grid cell sends
    it back (its own displacement, scaled to the fine size). So the drawing costs what the grid costs, and the
    forecast keeps the fine labels' detail and their positions between cells: on the synthetic val, a 192-wide grid
    read back at 512 forecasts within 0.1 mIoU of drawing at 512 at +3 frames and 0.3-0.5 below it at +9, where a
    nearest upscale of the grid's drawing loses 1-3 at +3. Where nothing lands on a cell, the label drawn nearest
    on the grid. Zero motion reads back ``fine_labels`` exactly.
    """
    if labels.shape != mx.shape:
        raise ValueError(f"labels {labels.shape} and displacement {mx.shape} must be (H, W) alike")
    if fine_labels.ndim != 2:
        raise ValueError(f"fine labels must be (H, W), got {fine_labels.shape}")
    return _read_back(*_contiguous(mx, my, layer), kernel_array(labels, np.uint8),
                      kernel_array(fine_labels, np.uint8))


def _contiguous(mx: np.ndarray, my: np.ndarray, layer: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The kernels' one compiled signature (float32, float32, uint8, see :func:`kernel_array`); (H, W) alike or
    ValueError."""
    if mx.ndim != 2 or mx.shape != my.shape or mx.shape != layer.shape:
        raise ValueError(f"mx, my and layer must be (H, W) alike, got {mx.shape}, {my.shape}, {layer.shape}")
    return kernel_array(mx, np.float32), kernel_array(my, np.float32), kernel_array(layer, np.uint8)


def warm_up() -> float:
    """Compile the kernels, or load them from numba's cache, on a tiny input so that the first real frame does not
    pay for it; returns the seconds it took."""
    t0 = time.perf_counter()
    zeros = np.zeros((2, 3), np.float32)
    splat_sources(zeros, zeros, np.zeros((2, 3), np.uint8))
    splat_labels(zeros + np.float32(1), zeros, np.zeros((2, 3), np.uint8), np.zeros((2, 3), np.uint8))  # a hole
    splat_read_back(zeros + np.float32(1), zeros, np.zeros((2, 3), np.uint8), np.zeros((2, 3), np.uint8),
                    np.zeros((4, 6), np.uint8))
    return time.perf_counter() - t0
