"""The street's centre line and the ground laid along it.

Positions use road coordinates: ``s`` metres along the centre line, ``d`` metres to the left of it, ``h`` up. The
ground (road surface, sidewalks, curbs) is kept as triangles tagged with ``s`` so a frame draws only the stretch in
view.
"""

from __future__ import annotations

import numpy as np

from swiftcast.synth.meshes import TEX
from swiftcast.synth.parts import SIDEWALK
from swiftcast.synth.render import GROUND_FLOATS


class Road:
    """Centre line sampled every 0.25 m; maps road coordinates (s, d, h) to world points."""

    def __init__(self, s_min: float, s_max: float, knots_s: np.ndarray, knots_kappa: np.ndarray, heading0: float):
        self.ds = 0.25
        self.s = np.arange(s_min, s_max + self.ds, self.ds)
        kappa = np.interp(self.s, knots_s, knots_kappa)
        self.kappa = kappa  # > 0 turns right (towards -d)
        theta = np.concatenate([[0.0], np.cumsum(0.5 * (kappa[1:] + kappa[:-1]) * self.ds)])
        x = np.concatenate([[0.0], np.cumsum(np.cos(0.5 * (theta[1:] + theta[:-1])) * self.ds)])
        z = np.concatenate([[0.0], np.cumsum(np.sin(0.5 * (theta[1:] + theta[:-1])) * self.ds)])
        i0 = int(np.argmin(np.abs(self.s)))
        c, sn = np.cos(heading0 - theta[i0]), np.sin(heading0 - theta[i0])
        x, z = x - x[i0], z - z[i0]
        self.x, self.z = c * x - sn * z, sn * x + c * z
        self.theta = theta - theta[i0] + heading0
        self.s_min, self.s_max = float(self.s[0]), float(self.s[-1])

    def room(self, s0: float, s1: float, side: int) -> float:
        """How far (|d|) scenery may reach on ``side`` over [s0, s1]: on the inside of a bend, offsets beyond
        the radius would fold over the centre of curvature (and back onto the road)."""
        i0, i1 = np.searchsorted(self.s, [s0 - 20.0, s1 + 20.0])
        k = self.kappa[i0:max(i1, i0 + 1)] * -side  # > 0 where this side is the inner side
        k_max = float(k.max()) if k.size else 0.0
        return 0.6 / k_max if k_max > 1e-6 else np.inf

    def straight(self, s: float, half: float, tol: float = 0.12) -> bool:
        """Whether the heading stays within ``tol`` radians of its value at ``s`` over [s - half, s + half]."""
        i0, i1 = np.searchsorted(self.s, [s - half, s + half])
        th0 = np.interp(s, self.s, self.theta)
        return bool(np.abs(self.theta[i0:i1] - th0).max(initial=0.0) < tol)

    def tangent(self, s) -> np.ndarray:
        th = np.interp(s, self.s, self.theta)
        return np.stack([np.cos(th), np.zeros_like(th), np.sin(th)], axis=-1)

    def point(self, s, d, h=0.0) -> np.ndarray:
        s = np.asarray(s, dtype=np.float64)
        th = np.interp(s, self.s, self.theta)
        x = np.interp(s, self.s, self.x)
        z = np.interp(s, self.s, self.z)
        # left = up x tangent = (sin th, 0, -cos th)
        return np.stack([x + d * np.sin(th), np.broadcast_to(np.asarray(h, dtype=np.float64), x.shape),
                         z - d * np.cos(th)], axis=-1)

    def frame(self, s: float, d: float, h: float = 0.0, yaw: float = 0.0) -> np.ndarray:
        """Object frame on the road facing +s, turned by ``yaw`` (see :func:`rot_yaw`). Scalar fast path."""
        u = min(max((s - self.s_min) / self.ds, 0.0), len(self.s) - 1.000001)
        i = int(u)
        w = u - i
        th = self.theta[i] * (1 - w) + self.theta[i + 1] * w
        x = self.x[i] * (1 - w) + self.x[i + 1] * w
        z = self.z[i] * (1 - w) + self.z[i + 1] * w
        a = th + yaw
        c, sn = np.cos(a), np.sin(a)
        # forward (cos a, 0, sin a), right = forward x up = (-sin a, 0, cos a); position uses the road's left
        return np.array([[c, 0.0, -sn, x + d * np.sin(th)], [0.0, 1.0, 0.0, h], [sn, 0.0, c, z - d * np.cos(th)],
                         [0.0, 0.0, 0.0, 1.0]])

    def frames(self, s: np.ndarray, d: np.ndarray, h: float = 0.0) -> np.ndarray:
        """Vectorised :meth:`frame` (yaw 0): (n, 4, 4)."""
        s = np.asarray(s, dtype=np.float64)
        p = self.point(s, d, h)
        th = np.interp(s, self.s, self.theta)
        m = np.zeros((len(s), 4, 4))
        m[:, 0, 0] = m[:, 2, 2] = np.cos(th)
        m[:, 2, 0] = np.sin(th)
        m[:, 0, 2] = -np.sin(th)
        m[:, 1, 1] = m[:, 3, 3] = 1.0
        m[:, :3, 3] = p
        return m


class Ground:
    """Accumulates ground triangles (roads, sidewalks, curbs) as flat vertex rows, each tagged with its road ``s``
    so a frame only draws the stretch in view (``s = None``: always drawn, e.g. the far ground plane)."""

    def __init__(self):
        self.chunks: list[np.ndarray] = []
        self.chunk_s: list[np.ndarray | None] = []

    def add_quads(self, corners: np.ndarray, normal, uv: np.ndarray, color, tex: str, cls: int,
                  s: np.ndarray | float | None = None) -> None:
        """corners (n, 4, 3) and uv (n, 4, 2), any winding (fixed to face ``normal``); s per quad or None."""
        corners = np.asarray(corners, dtype=np.float64)
        n = corners.shape[0]
        if n == 0:
            return
        normal = np.broadcast_to(np.asarray(normal, dtype=np.float64), (n, 3))
        tri_idx = np.array([[0, 1, 2], [0, 2, 3]])
        tris = corners[:, tri_idx]  # (n, 2, 3, 3)
        uvs = uv[:, tri_idx]
        geo = np.cross(tris[:, :, 1] - tris[:, :, 0], tris[:, :, 2] - tris[:, :, 0])
        flip = np.einsum("nkj,nj->nk", geo, normal) < 0
        tris = np.where(flip[..., None, None], tris[:, :, [0, 2, 1]], tris)
        uvs = np.where(flip[..., None, None], uvs[:, :, [0, 2, 1]], uvs)
        m = n * 6
        rows = np.zeros((m, GROUND_FLOATS), dtype=np.float32)
        rows[:, 0:3] = tris.reshape(m, 3)
        rows[:, 3:6] = np.repeat(normal, 6, axis=0)
        rows[:, 6:8] = uvs.reshape(m, 2)
        rows[:, 8:11] = color
        rows[:, 11] = TEX[tex]
        rows[:, 12] = cls
        self.chunks.append(rows)
        self.chunk_s.append(None if s is None else np.repeat(np.broadcast_to(np.asarray(s, float), (n,)), 6))

    @staticmethod
    def samples(road: Road, s0: float, s1: float) -> np.ndarray:
        """Positions along the road with a vertex every 0.01 rad of turning (at most 12 m apart)."""
        i0, i1 = np.searchsorted(road.s, [s0, s1])
        th = road.theta[i0:i1]
        out, last_s, last_th = [s0], s0, float(np.interp(s0, road.s, road.theta))
        for sv, tv in zip(road.s[i0:i1], th):
            if sv - last_s >= 12.0 or abs(tv - last_th) >= 0.01:
                out.append(float(sv))
                last_s, last_th = sv, tv
        if s1 - out[-1] > 1e-3:
            out.append(s1)
        return np.asarray(out)

    def strip(self, road: Road, s0: float, s1: float, d0: float, d1: float, h: float, color, tex: str, cls: int,
              tile: float = 4.0) -> None:
        """Horizontal strip between lateral offsets d0..d1 at height h, following the road from s0 to s1."""
        if s1 <= s0:
            return
        s = self.samples(road, s0, s1)
        a0, a1 = road.point(s, d0, h), road.point(s, d1, h)
        corners = np.stack([a0[:-1], a0[1:], a1[1:], a1[:-1]], axis=1)
        k = len(s) - 1
        uv = np.stack([np.stack([s[:-1], np.full(k, d0)], -1), np.stack([s[1:], np.full(k, d0)], -1),
                       np.stack([s[1:], np.full(k, d1)], -1), np.stack([s[:-1], np.full(k, d1)], -1)], axis=1) / tile
        self.add_quads(corners, (0, 1, 0), uv, color, tex, cls, s=0.5 * (s[:-1] + s[1:]))

    def curb(self, road: Road, s0: float, s1: float, d: float, h: float, facing: float, color, tex: str) -> None:
        """Vertical curb face at lateral offset d from height 0 to h; ``facing`` = +1 faces left, -1 right."""
        if s1 <= s0:
            return
        s = self.samples(road, s0, s1)
        lo, hi = road.point(s, d, 0.0), road.point(s, d, h)
        corners = np.stack([lo[:-1], lo[1:], hi[1:], hi[:-1]], axis=1)
        mid = 0.5 * (s[:-1] + s[1:])
        th = np.interp(mid, road.s, road.theta)
        normal = facing * np.stack([np.sin(th), np.zeros_like(th), -np.cos(th)], axis=-1)
        k = len(s) - 1
        uv = np.stack([np.stack([s[:-1], np.zeros(k)], -1), np.stack([s[1:], np.zeros(k)], -1),
                       np.stack([s[1:], np.full(k, h)], -1), np.stack([s[:-1], np.full(k, h)], -1)], axis=1) / 2.0
        self.add_quads(corners, normal, uv, color, tex, SIDEWALK, s=mid)

    def rect(self, center: np.ndarray, ax_u: np.ndarray, ax_v: np.ndarray, half_u: float, half_v: float, h: float,
             color, tex: str, cls: int, tile: float = 4.0, s: float | None = None) -> None:
        """A horizontal world-space rectangle at height h (cross streets, the far ground plane)."""
        c = np.array([center[0], h, center[2]])
        pts = np.array([c - ax_u * half_u - ax_v * half_v, c + ax_u * half_u - ax_v * half_v,
                        c + ax_u * half_u + ax_v * half_v, c - ax_u * half_u + ax_v * half_v])
        uv = np.array([[-half_u, -half_v], [half_u, -half_v], [half_u, half_v], [-half_u, half_v]]) / tile
        self.add_quads(pts[None], (0, 1, 0), uv[None], color, tex, cls, s=s)

    def vertices(self) -> tuple[np.ndarray, np.ndarray, int]:
        """(rows sorted by s with the always-drawn ones first, s per vertex, number of always-drawn vertices)."""
        if not self.chunks:
            return np.zeros((0, GROUND_FLOATS), np.float32), np.zeros(0), 0
        always = [c for c, s in zip(self.chunks, self.chunk_s) if s is None]
        ranged = [c for c, s in zip(self.chunks, self.chunk_s) if s is not None]
        rows_r = np.concatenate(ranged) if ranged else np.zeros((0, GROUND_FLOATS), np.float32)
        s_r = np.concatenate([s for s in self.chunk_s if s is not None]) if ranged else np.zeros(0)
        tri_s = s_r.reshape(-1, 3)[:, 0]
        order = np.argsort(tri_s, kind="stable")
        rows_r = rows_r.reshape(-1, 3, GROUND_FLOATS)[order].reshape(-1, GROUND_FLOATS)
        s_r = np.repeat(tri_s[order], 3)
        rows_a = np.concatenate(always) if always else np.zeros((0, GROUND_FLOATS), np.float32)
        return np.concatenate([rows_a, rows_r]), np.concatenate([np.full(len(rows_a), -np.inf), s_r]), len(rows_a)
