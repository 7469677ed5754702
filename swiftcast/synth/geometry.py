"""Homogeneous 4x4 transforms of the synthetic world (x forward, y up, z right), shared by every object builder."""

from __future__ import annotations

import numpy as np


def translate(x: float, y: float, z: float) -> np.ndarray:
    m = np.eye(4)
    m[:3, 3] = (x, y, z)
    return m


def scale(sx: float, sy: float, sz: float) -> np.ndarray:
    return np.diag([sx, sy, sz, 1.0])


def rot_yaw(a: float) -> np.ndarray:
    """Rotate by ``a`` radians about the up axis (positive turns x towards z, i.e. to the right)."""
    c, s = np.cos(a), np.sin(a)
    m = np.eye(4)
    m[:3, :3] = [[c, 0, -s], [0, 1, 0], [s, 0, c]]
    return m


def rot_pitch(a: float) -> np.ndarray:
    """Rotate by ``a`` radians about the z (right) axis: positive tips the nose (x) up."""
    c, s = np.cos(a), np.sin(a)
    m = np.eye(4)
    m[:3, :3] = [[c, -s, 0], [s, c, 0], [0, 0, 1]]
    return m


def rot_roll(a: float) -> np.ndarray:
    """Rotate about the forward axis (``pi/2`` lays the template's up axis along the z axis: wheels, discs)."""
    c, s = np.cos(a), np.sin(a)
    m = np.eye(4)
    m[:3, :3] = [[1, 0, 0], [0, c, s], [0, -s, c]]
    return m


def frame_matrix(origin: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Object frame at ``origin`` whose x axis is the horizontal direction ``forward``."""
    f = np.array([forward[0], 0.0, forward[2]])
    f /= np.linalg.norm(f) + 1e-12
    m = np.eye(4)
    m[:3, 0] = f
    m[:3, 1] = (0, 1, 0)
    m[:3, 2] = (-f[2], 0, f[0])  # forward x up = right (a right-handed frame keeps triangle winding)
    m[:3, 3] = origin
    return m
