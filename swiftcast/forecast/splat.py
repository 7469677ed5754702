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
"""

from __future__ import annotations

import time
from typing import Callable

import numba
import numpy as np

__all__ = ["splat_sources", "warm_up"]

#: writes per pixel, in drawing order within a layer: the four corners of its cell (if spreading), then its nearest
_PASSES = 5


def _jit(func: Callable) -> Callable:
    """``numba.njit``, cached on disk (a first compile takes about a second, loading it from the cache a third of
    that) and without the GIL (the forecast node may project in a worker thread); uncached where numba finds no
    writable cache directory (a read-only install without a home), rather than failing at import."""
    try:
        return numba.njit(cache=True, nogil=True)(func)
    except RuntimeError:  # numba: "cannot cache function ...: no locator available"
        return numba.njit(nogil=True)(func)


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
def _splat(mx: np.ndarray, my: np.ndarray, layer: np.ndarray) -> np.ndarray:
    """:func:`splat_sources` on contiguous float32, float32, uint8 (H, W) arrays."""
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
    mask = (1 << bits) - 1
    out = np.empty((height, width), np.int32)
    for i in range(height):
        for j in range(width):
            key = keys[(i + 1) * stride + j + 1]
            out[i, j] = key & mask if key >= 0 else -1
    return out


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


def warm_up() -> float:
    """Compile the kernel, or load it from numba's cache, on a tiny input so that the first real frame does not pay
    for it; returns the seconds it took."""
    t0 = time.perf_counter()
    zeros = np.zeros((2, 3), np.float32)
    splat_sources(zeros, zeros, np.zeros((2, 3), np.uint8))
    return time.perf_counter() - t0
