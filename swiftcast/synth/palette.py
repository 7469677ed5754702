"""Colour palettes of the synthetic world: wide on purpose and overlapping between classes, so that colour alone
does not give a class away."""

from __future__ import annotations

import colorsys

import numpy as np


def hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(float(h) % 1.0, min(max(float(s), 0.0), 1.0), min(max(float(v), 0.0), 1.0)))


def any_color(rng: np.random.Generator) -> np.ndarray:
    """Vehicles, clothes, signs: anything, with many greys, whites and blacks as in real streets."""
    r = rng.random()
    if r < 0.45:
        return hsv(rng.random(), rng.uniform(0, 0.12), rng.uniform(0.08, 0.95))
    return hsv(rng.random(), rng.uniform(0.25, 0.9), rng.uniform(0.2, 0.95))


def muted_color(rng: np.random.Generator, vmin: float = 0.3, vmax: float = 0.9, smax: float = 0.45) -> np.ndarray:
    """Buildings, walls, sidewalks: any hue, low to moderate saturation."""
    return hsv(rng.random(), rng.uniform(0, smax), rng.uniform(vmin, vmax))


def green_color(rng: np.random.Generator, autumn: float) -> np.ndarray:
    """Vegetation/terrain: greens, shifted to yellow/brown in 'autumn' worlds."""
    h = rng.uniform(0.2, 0.38) if rng.random() > autumn else rng.uniform(0.04, 0.16)
    return hsv(h, rng.uniform(0.2, 0.75), rng.uniform(0.18, 0.7))


def skin_color(rng: np.random.Generator) -> np.ndarray:
    return hsv(rng.uniform(0.03, 0.09), rng.uniform(0.25, 0.6), rng.uniform(0.25, 0.95))
