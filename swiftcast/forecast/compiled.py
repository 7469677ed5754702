"""One way to compile the per-pixel loops of flow extrapolation (numba), shared by its modules."""

from __future__ import annotations

from typing import Callable

import numba
import numpy as np

__all__ = ["compiled", "kernel_array"]


def compiled(func: Callable) -> Callable:
    """``numba.njit``, cached on disk (a first compile takes a second or two, loading it from the cache a fraction of
    that) and without the GIL (the forecast node may project in a worker thread); uncached where numba finds no
    writable cache directory (a read-only install without a home), rather than failing at import."""
    try:
        return numba.njit(cache=True, nogil=True, error_model="numpy")(func)
    except RuntimeError:  # numba: "cannot cache function ...: no locator available"
        return numba.njit(nogil=True, error_model="numpy")(func)


def kernel_array(array: np.ndarray, dtype: type) -> np.ndarray:
    """``array`` as the kernels are compiled for it: contiguous, writeable (numba compiles a read-only array, such
    as the labels of a ROS message, anew: seconds on a live frame) and of ``dtype``; a copy only where it is not
    already."""
    return np.require(array, dtype, ("C", "W"))
