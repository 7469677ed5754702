"""The splat of flow extrapolation as one compiled sweep: which pixel of the present lands on each pixel of the future.

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

:func:`splat_cells` draws the same and, under it, whole cells: every 2x2 block of neighbouring pixels with one label
is a quadrilateral where its four pixels land, and every target pixel whose centre lies in it (closed: edges count)
takes the block's top-left pixel. Where a region is magnified 2-3x the corner writes leave gaps between neighbouring
landings; the cells close them without guessing, and never across a label boundary (a car's cells do not bridge to
the road behind it). A cell is drawn in the farthest layer of its four pixels (one layer where layers follow labels)
and within a layer the cells are the first pass (the lowest priority), so every corner and nearest write of
:func:`splat_sources` stands over them: zero motion still redraws the present exactly, and wherever no cell wins the
two give the same (cells only fill what the corners leave empty or what a farther layer drew).

The quadrilateral is two triangles (top-left, top-right, bottom-right) and (top-left, bottom-right, bottom-left); a
target pixel on an edge shared by two triangles is inside both, and every edge function is evaluated from its
endpoints in one canonical order, so both triangles of a shared edge (within a cell or across neighbouring cells)
see exactly the same value with opposite signs: no seams, whatever the rounding. A cell whose landings span more than
``max_cell`` pixels is not drawn (noisy displacements, or a point about to hit the camera); a folded one (neighbours
landing crosswise) is drawn as its two triangles, each whichever way round it is.
"""

from __future__ import annotations

import time
from typing import Callable

import numba
import numpy as np

__all__ = ["splat_cells", "splat_sources", "warm_up"]

#: writes per pixel, in drawing order within a layer: the four corners of its cell (if spreading), then its nearest
_PASSES = 5
#: the same for :func:`splat_cells`: the whole cell first, then the four corners, then the nearest
_CELL_PASSES = 6


def _jit(func: Callable) -> Callable:
    """``numba.njit``, cached on disk (a first compile takes about a second, loading it from the cache a third of
    that) and without the GIL (the forecast node may project in a worker thread); uncached where numba finds no
    writable cache directory (a read-only install without a home), rather than failing at import."""
    try:
        return numba.njit(cache=True, nogil=True)(func)
    except RuntimeError:  # numba: "cannot cache function ...: no locator available"
        return numba.njit(nogil=True)(func)


def _inlined(func: Callable) -> Callable:
    """A part of both kernels, inlined into each by numba (as a call, the sweep of :func:`splat_sources` on scattered
    displacements is 5-10% slower than written out in one function)."""
    return numba.njit(nogil=True, inline="always")(func)


@_jit
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


@_jit
def _draw(keys: np.ndarray, at: int, key: int) -> None:
    """Write ``key`` at ``at`` unless a later write (a larger key) is there already; branch-free: on scattered
    displacements a branch here is mispredicted half the time (nearly twice as slow), on smooth ones it gains ~5%."""
    keys[at] = max(keys[at], key)


@_jit
def _key_bits(size: int) -> int:
    """Bits of a key that hold the pixel index (key = (layer * passes + pass) << bits | pixel)."""
    bits = 1
    while (1 << bits) < size:
        bits += 1
    return bits


@_inlined
def _draw_pixels(mx: np.ndarray, my: np.ndarray, layer: np.ndarray, keys: np.ndarray, bits: int, passes: int,
                 offset: int) -> None:
    """The corner and nearest writes of every pixel into ``keys`` (padded by one pixel all round), as passes
    ``offset`` to ``offset + 4`` of ``passes`` per layer."""
    height, width = mx.shape
    stride = width + 2
    for i in range(height):
        for j in range(width):
            pixel = i * width + j
            left, right, near_x = _cell(np.float32(j) + mx[i, j], width)
            top, bottom, near_y = _cell(np.float32(i) + my[i, j], height)
            first = np.int64(layer[i, j]) * passes + offset
            # moving away from a neighbour: the differences np.diff(...) > 0 takes (NaN and infinities alike)
            if ((j + 1 < width and mx[i, j + 1] - mx[i, j] > 0) or (j > 0 and mx[i, j] - mx[i, j - 1] > 0)
                    or (i + 1 < height and my[i + 1, j] - my[i, j] > 0) or (i > 0 and my[i, j] - my[i - 1, j] > 0)):
                upper, lower = (top + 1) * stride + 1, (bottom + 1) * stride + 1
                _draw(keys, upper + left, (first << bits) | pixel)
                _draw(keys, upper + right, ((first + 1) << bits) | pixel)
                _draw(keys, lower + left, ((first + 2) << bits) | pixel)
                _draw(keys, lower + right, ((first + 3) << bits) | pixel)
            _draw(keys, (near_y + 1) * stride + near_x + 1, ((first + 4) << bits) | pixel)


@_inlined
def _read_back(keys: np.ndarray, bits: int, height: int, width: int) -> np.ndarray:
    """The pixel index of the winning key on every pixel, -1 where none was written."""
    stride = width + 2
    mask = (1 << bits) - 1
    out = np.empty((height, width), np.int32)
    for i in range(height):
        for j in range(width):
            key = keys[(i + 1) * stride + j + 1]
            out[i, j] = key & mask if key >= 0 else -1
    return out


@_jit
def _splat(mx: np.ndarray, my: np.ndarray, layer: np.ndarray) -> np.ndarray:
    """:func:`splat_sources` on contiguous float32, float32, uint8 (H, W) arrays."""
    height, width = mx.shape
    bits = _key_bits(height * width)
    # a one-pixel frame takes whatever lands off the image (coordinates are clipped to it) and is dropped
    keys = np.full((height + 2) * (width + 2), -1, np.int64)
    _draw_pixels(mx, my, layer, keys, bits, _PASSES, 0)
    return _read_back(keys, bits, height, width)


@_inlined
def _edge(ax: float, ay: float, bx: float, by: float) -> tuple[float, float, float, float, float]:
    """The edge function of a -> b as (x0, y0, dx, dy, sign): at p it is sign * (dx * (py - y0) - dy * (px - x0)),
    twice the signed area of (a, b, p), positive where p is left of a -> b (x right, y down: clockwise on screen).
    (x0, y0) is the lexicographically smaller endpoint, so that b -> a gives exactly the negated value everywhere."""
    if ax < bx or (ax == bx and ay <= by):
        return ax, ay, bx - ax, by - ay, 1.0
    return bx, by, ax - bx, ay - by, -1.0


@_jit
def _draw_triangle(keys: np.ndarray, key: int, width: int, height: int, ax: float, ay: float, bx: float, by: float,
                   cx: float, cy: float) -> None:
    """Write ``key`` on every pixel of the image whose centre (integer coordinates) lies in the closed triangle;
    nothing for a degenerate (zero-area) one."""
    x0, y0, dx, dy, sign = _edge(ax, ay, bx, by)
    area = sign * (dx * (cy - y0) - dy * (cx - x0))
    if area == 0 or np.isnan(area):
        return
    if area < 0:  # one orientation for the inside test
        bx, by, cx, cy = cx, cy, bx, by
    ax0, ay0, adx, ady, asign = _edge(ax, ay, bx, by)
    bx0, by0, bdx, bdy, bsign = _edge(bx, by, cx, cy)
    cx0, cy0, cdx, cdy, csign = _edge(cx, cy, ax, ay)
    left = max(int(np.ceil(min(ax, bx, cx))), 0)
    right = min(int(np.floor(max(ax, bx, cx))), width - 1)
    top = max(int(np.ceil(min(ay, by, cy))), 0)
    bottom = min(int(np.floor(max(ay, by, cy))), height - 1)
    stride = width + 2
    for y in range(top, bottom + 1):
        py = float(y)
        a_row, b_row, c_row = adx * (py - ay0), bdx * (py - by0), cdx * (py - cy0)
        entered = False
        for x in range(left, right + 1):
            px = float(x)
            # each edge's value is monotone along a row, rounding included: the inside is one run of pixels
            if (asign * (a_row - ady * (px - ax0)) >= 0 and bsign * (b_row - bdy * (px - bx0)) >= 0
                    and csign * (c_row - cdy * (px - cx0)) >= 0):
                _draw(keys, (y + 1) * stride + x + 1, key)
                entered = True
            elif entered:
                break


@_jit
def _splat_cells(mx: np.ndarray, my: np.ndarray, layer: np.ndarray, labels: np.ndarray,
                 max_cell: float) -> np.ndarray:
    """:func:`splat_cells` on contiguous float32, float32, uint8, uint8 (H, W) arrays."""
    height, width = mx.shape
    bits = _key_bits(height * width)
    keys = np.full((height + 2) * (width + 2), -1, np.int64)
    _draw_pixels(mx, my, layer, keys, bits, _CELL_PASSES, 1)
    for i in range(height - 1):
        for j in range(width - 1):
            label = labels[i, j]
            if labels[i, j + 1] != label or labels[i + 1, j] != label or labels[i + 1, j + 1] != label:
                continue
            # where the four land, in float32 like the corner and nearest writes (then exact in float64)
            x00, y00 = np.float32(j) + mx[i, j], np.float32(i) + my[i, j]
            x01, y01 = np.float32(j + 1) + mx[i, j + 1], np.float32(i) + my[i, j + 1]
            x11, y11 = np.float32(j + 1) + mx[i + 1, j + 1], np.float32(i + 1) + my[i + 1, j + 1]
            x10, y10 = np.float32(j) + mx[i + 1, j], np.float32(i + 1) + my[i + 1, j]
            if not (np.isfinite(x00) and np.isfinite(y00) and np.isfinite(x01) and np.isfinite(y01)
                    and np.isfinite(x11) and np.isfinite(y11) and np.isfinite(x10) and np.isfinite(y10)):
                continue
            low_x, high_x = min(x00, x01, x11, x10), max(x00, x01, x11, x10)
            low_y, high_y = min(y00, y01, y11, y10), max(y00, y01, y11, y10)
            # too large (noise, or about to hit the camera), or wholly off the image
            if (high_x - low_x > max_cell or high_y - low_y > max_cell or high_x < 0 or high_y < 0
                    or low_x > width - 1 or low_y > height - 1):
                continue
            # in the farthest layer of the four, so that it never covers any of them (layers follow labels anyway)
            depth = min(layer[i, j], layer[i, j + 1], layer[i + 1, j], layer[i + 1, j + 1])
            key = ((np.int64(depth) * _CELL_PASSES) << bits) | (i * width + j)
            ax, ay, bx, by = np.float64(x00), np.float64(y00), np.float64(x01), np.float64(y01)
            cx, cy, dx, dy = np.float64(x11), np.float64(y11), np.float64(x10), np.float64(y10)
            _draw_triangle(keys, key, width, height, ax, ay, bx, by, cx, cy)
            _draw_triangle(keys, key, width, height, ax, ay, cx, cy, dx, dy)
    return _read_back(keys, bits, height, width)


def splat_sources(mx: np.ndarray, my: np.ndarray, layer: np.ndarray) -> np.ndarray:
    """(H, W) int32: which pixel of the present (flat index) lands on every pixel of the future, -1 where none does.

    Args:
        mx, my: (H, W) float32 displacement (x, y) of every pixel; a pixel with a NaN in either is not drawn.
        layer: (H, W) uint8 drawing layer of every pixel (0 farthest; nearer layers are drawn over farther ones).
    """
    if mx.ndim != 2 or mx.shape != my.shape or mx.shape != layer.shape:
        raise ValueError(f"mx, my and layer must be (H, W) alike, got {mx.shape}, {my.shape}, {layer.shape}")
    # one compiled signature (contiguous float32, float32, uint8): a copy only where the caller's arrays differ
    return _splat(np.ascontiguousarray(mx, np.float32), np.ascontiguousarray(my, np.float32),
                  np.ascontiguousarray(layer, np.uint8))


def splat_cells(mx: np.ndarray, my: np.ndarray, layer: np.ndarray, labels: np.ndarray,
                max_cell: float = 16.0) -> np.ndarray:
    """(H, W) int32 source pixel of every target pixel, -1 where none: like splat_sources, and every cell of four
    neighbouring pixels with one label is also drawn whole where it lands, so magnified regions have no gaps.

    Args:
        mx, my, layer: as :func:`splat_sources` (the same writes, over the cells).
        labels: (H, W) uint8 label of every pixel; a cell (a pixel and its right, lower and lower-right neighbours)
            is drawn only where all four have one label and finite displacements, as its top-left pixel, in the
            farthest layer of the four (under that layer's corner and nearest writes: it never covers any of its
            own four, so zero motion redraws the present exactly even where layers do not follow labels).
        max_cell: a cell whose landing points span more than this many pixels across or down is not drawn (noise,
            or a point about to hit the camera).
    """
    if mx.ndim != 2 or not mx.shape == my.shape == layer.shape == labels.shape:
        raise ValueError(f"mx, my, layer and labels must be (H, W) alike, got {mx.shape}, {my.shape}, "
                         f"{layer.shape}, {labels.shape}")
    return _splat_cells(np.ascontiguousarray(mx, np.float32), np.ascontiguousarray(my, np.float32),
                        np.ascontiguousarray(layer, np.uint8), np.ascontiguousarray(labels, np.uint8),
                        float(max_cell))


def warm_up() -> float:
    """Compile the kernels (:func:`splat_sources`, :func:`splat_cells`), or load them from numba's cache, on a tiny
    input so that the first real frame does not pay for it; returns the seconds it took."""
    t0 = time.perf_counter()
    zeros = np.zeros((2, 3), np.float32)
    splat_sources(zeros, zeros, np.zeros((2, 3), np.uint8))
    splat_cells(zeros, zeros, np.zeros((2, 3), np.uint8), np.zeros((2, 3), np.uint8))
    return time.perf_counter() - t0
