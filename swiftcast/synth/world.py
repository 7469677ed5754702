"""The procedural driving world: a street with its furniture, moving traffic, an ego car and its camera.

A :class:`World` is built from one random generator (so one seed = one world) for a time span, then queried per
instant: :meth:`World.frame` returns what the renderer draws at time ``t``. Positions along the street use road
coordinates (``s`` metres along the centre line, ``d`` metres to the left of it, right-hand traffic: the ego drives
towards +s on the right, d < 0); objects are built in their own frame (x forward, y up, z right) from the unit
templates of :mod:`swiftcast.synth.meshes`.

Appearance is randomised per instance (colours, textures) and per world (sky, sun, fog, exposure, white balance,
sensor noise) so that colour alone does not give a class away; motion (ego speed, turns, braking, traffic in every
direction, pedestrians) is tuned so that copying the present labels into the future is a weak forecast
(see ``README.md`` in this package for the measured figures).
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, field

import numpy as np

from swiftcast.data.labels import CLASS_NAMES
from swiftcast.synth.meshes import LOD, TEMPLATE_INDEX, TEX
from swiftcast.synth.render import (FLAG_EMISSIVE, FLAG_SKY, GROUND_FLOATS, INSTANCE_FLOATS, FrameDraw,
                                    Lighting, perspective)

C = {name: i for i, name in enumerate(CLASS_NAMES)}  # class name -> trainId, from cityscapesScripts
ROAD, SIDEWALK, BUILDING, WALL, FENCE = C["road"], C["sidewalk"], C["building"], C["wall"], C["fence"]
POLE, LIGHT, SIGN, VEGETATION, TERRAIN = C["pole"], C["traffic light"], C["traffic sign"], C["vegetation"], C["terrain"]
SKY, PERSON, RIDER, CAR, TRUCK = C["sky"], C["person"], C["rider"], C["car"], C["truck"]
BUS, TRAIN, MOTORCYCLE, BICYCLE = C["bus"], C["train"], C["motorcycle"], C["bicycle"]

FPS = 17.0
#: Cityscapes focal length relative to the image width (2262.52 px at 2048 px)
FOCAL_PER_WIDTH = 2262.52 / 2048.0
NEAR, FAR = 0.3, 1200.0
VIEW_AHEAD, VIEW_BEHIND = 280.0, 40.0
LOD_DISTANCE = 30.0  # metres: icospheres, 16-gons and rings switch to low-poly versions beyond this
MIN_PIXELS = 0.3  # parts whose bounding sphere is smaller than this on screen are not drawn
_LOD_MAP = np.arange(len(TEMPLATE_INDEX))
for _hi, _lo in LOD.items():
    _LOD_MAP[TEMPLATE_INDEX[_hi]] = TEMPLATE_INDEX[_lo]

# ---------------------------------------------------------------------------------------------------------------
# small maths helpers
# ---------------------------------------------------------------------------------------------------------------


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


def hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(float(h) % 1.0, min(max(float(s), 0.0), 1.0), min(max(float(v), 0.0), 1.0)))


# ---------------------------------------------------------------------------------------------------------------
# colour palettes: wide on purpose, overlapping between classes
# ---------------------------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------------------------
# the road: a centre line with smoothly varying curvature
# ---------------------------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------------------------
# parts: what objects are made of
# ---------------------------------------------------------------------------------------------------------------


class Parts:
    """Accumulates template instances (matrix, colour, texture, class, flags, texture tile)."""

    def __init__(self):
        self.tpl: list[int] = []
        self.mats: list[np.ndarray] = []
        self.attrs: list[tuple] = []
        self.s: list[float] = []

    def add(self, tpl: str, mat: np.ndarray, color, tex: str, cls: int, tile: float = 2.0, flags: float = 0.0,
            s: float = 0.0) -> int:
        self.tpl.append(TEMPLATE_INDEX[tpl])
        self.mats.append(mat)
        c = np.asarray(color, dtype=np.float64)
        self.attrs.append((c[0], c[1], c[2], float(TEX[tex]), float(cls), float(flags), float(tile)))
        self.s.append(s)
        return len(self.tpl) - 1

    def box(self, frame: np.ndarray, center, size, color, tex: str, cls: int, tpl: str = "box", rot=None,
            **kw) -> int:
        """Template ``tpl`` centred at ``center`` in ``frame``, optionally rotated, scaled by ``size``."""
        m = frame.copy()
        m[:3, 3] += frame[:3, :3] @ np.asarray(center, dtype=np.float64)
        if rot is not None:
            m = m @ rot
        m[:3, :3] *= np.asarray(size, dtype=np.float64)  # right-multiplying by diag(size) scales the columns
        return self.add(tpl, m, color, tex, cls, **kw)

    def add_many(self, tpl: str, mats: np.ndarray, colors: np.ndarray, tex: str, cls: int, tile: float = 2.0,
                 s: np.ndarray | None = None) -> None:
        """Many instances of one template at once (road markings)."""
        n = len(mats)
        self.tpl.extend([TEMPLATE_INDEX[tpl]] * n)
        self.mats.extend(mats)
        colors = np.broadcast_to(np.asarray(colors, dtype=np.float64), (n, 3))
        self.attrs.extend((c[0], c[1], c[2], float(TEX[tex]), float(cls), 0.0, float(tile)) for c in colors)
        self.s.extend(np.zeros(n) if s is None else s)

    def bar(self, frame: np.ndarray, p0, p1, thick: float, color, tex: str, cls: int, z: float = 0.0,
            **kw) -> int:
        """A box from p0 to p1 in the object's x-y plane (limbs, bicycle tubes)."""
        dx, dy = p1[0] - p0[0], p1[1] - p0[1]
        length = float(np.hypot(dx, dy))
        m = frame @ translate((p0[0] + p1[0]) / 2, (p0[1] + p1[1]) / 2, z) @ rot_pitch(np.arctan2(dy, dx))
        return self.add("box", m @ scale(length + thick * 0.5, thick, thick), color, tex, cls, **kw)

    def __len__(self) -> int:
        return len(self.tpl)

    def rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(template index (n,), instance rows (n, INSTANCE_FLOATS) float32, s (n,))."""
        n = len(self.tpl)
        rows = np.zeros((n, INSTANCE_FLOATS), dtype=np.float32)
        if n:
            mats = np.stack(self.mats)
            rows[:, :16] = mats.transpose(0, 2, 1).reshape(n, 16)  # column major
            rows[:, 16:] = np.asarray(self.attrs)
        return np.asarray(self.tpl, dtype=np.int64), rows, np.asarray(self.s, dtype=np.float64)


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


# ---------------------------------------------------------------------------------------------------------------
# motion
# ---------------------------------------------------------------------------------------------------------------


class SpeedProfile:
    """Speed over time from piecewise-constant accelerations, clamped to [0, vmax]; distance by integration."""

    def __init__(self, v0: float, duration: float, segments: list[tuple[float, float]] | None = None,
                 vmax: float = 20.0):
        self.const = not segments
        self.v0 = float(v0)
        if self.const:
            return
        self.t = np.arange(0.0, duration + 0.02, 0.01)
        acc = np.zeros_like(self.t)
        for t_start, a in segments:
            acc[self.t >= t_start] = a
        v = np.empty_like(self.t)
        v[0] = v0
        for i in range(1, len(v)):
            v[i] = min(max(v[i - 1] + acc[i - 1] * 0.01, 0.0), vmax)
        self.v = v
        self.acc = np.diff(v, append=v[-1]) / 0.01
        self.dist = np.concatenate([[0.0], np.cumsum(0.5 * (v[1:] + v[:-1]) * 0.01)])

    def distance(self, t: float) -> float:
        if self.const:
            return self.v0 * t
        if t > self.t[-1]:
            return float(self.dist[-1] + self.v[-1] * (t - self.t[-1]))
        return float(np.interp(t, self.t, self.dist))

    def speed(self, t: float) -> float:
        return self.v0 if self.const else float(np.interp(t, self.t, self.v))

    def accel(self, t: float) -> float:
        return 0.0 if self.const else float(np.interp(t, self.t, self.acc))


class RoadMotion:
    """Along the road (direction +1/-1) with an optional lane change, or across it (``across=True``)."""

    def __init__(self, road: Road, s0: float, d0: float, profile: SpeedProfile, direction: float = 1.0,
                 across: bool = False, d1: float | None = None, t_change: float = 0.0, change_time: float = 3.0,
                 facing: float | None = None):
        self.road, self.s0, self.d0, self.profile = road, s0, d0, profile
        self.direction, self.across = direction, across
        self.d1, self.t_change, self.change_time = d1, t_change, change_time
        self.facing = facing  # standing agents: fixed yaw relative to their default heading

    def sd(self, t: float) -> tuple[float, float]:
        dist = self.profile.distance(t) * self.direction
        if self.across:
            return self.s0, self.d0 + dist
        d = self.d0
        if self.d1 is not None:
            x = min(max((t - self.t_change) / self.change_time, 0.0), 1.0)
            d = self.d0 + (self.d1 - self.d0) * x * x * (3 - 2 * x)
        return self.s0 + dist, d

    def pose(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        s, d = self.sd(t)
        pos = self.road.point(s, d)
        s2, d2 = self.sd(t + 0.05)
        delta = self.road.point(s2, d2) - pos
        if np.hypot(delta[0], delta[2]) > 1e-4:
            return pos, delta
        if self.across:  # standing still while crossing: face across
            th = np.interp(s, self.road.s, self.road.theta)
            left = np.array([np.sin(th), 0, -np.cos(th)])
            return pos, left * np.sign(self.direction)
        return pos, self.road.tangent(s) * self.direction

    def distance(self, t: float) -> float:
        return self.profile.distance(t)


class LineMotion:
    """A straight world line (cross-street traffic)."""

    def __init__(self, origin: np.ndarray, direction: np.ndarray, profile: SpeedProfile):
        self.origin, self.dir, self.profile = np.asarray(origin, float), np.asarray(direction, float), profile

    def pose(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        return self.origin + self.dir * self.profile.distance(t), self.dir

    def distance(self, t: float) -> float:
        return self.profile.distance(t)


@dataclass
class Gait:
    """Walking animation: legs and arms swing about hip/shoulder pivots in counter-phase."""

    legs: tuple[int, int]
    arms: tuple[int, int]
    hip: float
    shoulder: float
    stride: float
    phase0: float
    amp_leg: float = 0.38
    amp_arm: float = 0.3


@dataclass
class Agent:
    """A moving object: parts in its own frame plus a motion (``RoadMotion`` or ``LineMotion``)."""

    cls: int
    tpl: np.ndarray
    local: np.ndarray  # (k, 4, 4)
    attrs: np.ndarray  # (k, 7)
    motion: object
    radius: float
    gait: Gait | None = None


def make_agent(parts: Parts, cls: int, motion, radius: float, gait: Gait | None = None) -> Agent:
    """An agent from parts built in its own frame."""
    tpl, rows, _ = parts.rows()
    local = rows[:, :16].reshape(-1, 4, 4).transpose(0, 2, 1).astype(np.float64)
    return Agent(cls, tpl, local, rows[:, 16:].copy(), motion, radius, gait)


class AgentPack:
    """All agents' parts in flat arrays, so a frame's poses, gaits and matrices are computed vectorised."""

    def __init__(self, road: Road, agents: list[Agent]):
        self.road, self.agents = road, agents
        n = len(agents)
        self.is_road = np.array([isinstance(a.motion, RoadMotion) for a in agents], dtype=bool)
        self.road_ids = np.flatnonzero(self.is_road)
        self.line_ids = np.flatnonzero(~self.is_road)
        road_m = [agents[i].motion for i in self.road_ids]
        self.direction = np.array([m.direction for m in road_m], dtype=np.float64)
        self.across = np.array([m.across for m in road_m], dtype=bool)
        self.facing = np.array([m.facing if m.facing is not None else np.nan for m in road_m], dtype=np.float64)
        self.radius = np.array([a.radius for a in agents], dtype=np.float64)
        counts = np.array([len(a.tpl) for a in agents], dtype=np.int64)
        self.part_agent = np.repeat(np.arange(n), counts)
        self.tpl = np.concatenate([a.tpl for a in agents]) if n else np.zeros(0, np.int64)
        self.local = np.concatenate([a.local for a in agents]) if n else np.zeros((0, 4, 4))
        self.attrs = np.concatenate([a.attrs for a in agents]).astype(np.float32) if n else np.zeros((0, 7), np.float32)
        # gait: per part pivot height, amplitude and sign (0 amplitude = rigid)
        p = len(self.tpl)
        self.pivot = np.zeros(p)
        self.amp = np.zeros(p)
        self.stride = np.ones(n)
        self.phase0 = np.zeros(n)
        self.walks = np.zeros(n, dtype=bool)
        start = np.concatenate([[0], np.cumsum(counts)])
        for i, a in enumerate(agents):
            g = a.gait
            if g is None:
                continue
            self.walks[i] = True
            self.stride[i], self.phase0[i] = g.stride, g.phase0
            for idx, sign in zip(g.legs, (1, -1)):
                self.pivot[start[i] + idx], self.amp[start[i] + idx] = g.hip, sign * g.amp_leg
            for idx, sign in zip(g.arms, (-1, 1)):
                self.pivot[start[i] + idx], self.amp[start[i] + idx] = g.shoulder, sign * g.amp_arm
        self.animated = self.amp != 0

    def poses(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """World positions (n, 3) and horizontal headings (n, 3) of all agents at time t."""
        n = len(self.agents)
        pos, fwd = np.zeros((n, 3)), np.zeros((n, 3))
        k = len(self.road_ids)
        if k:
            sd = np.empty((2, k, 2))
            for j, i in enumerate(self.road_ids):
                m = self.agents[i].motion
                sd[0, j] = m.sd(t)
                sd[1, j] = m.sd(t + 0.05)
            p0 = self.road.point(sd[0, :, 0], sd[0, :, 1])
            p1 = self.road.point(sd[1, :, 0], sd[1, :, 1])
            f = p1 - p0
            f[:, 1] = 0
            norm = np.linalg.norm(f, axis=1)
            tan = self.road.tangent(sd[0, :, 0])
            left = np.stack([tan[:, 2], np.zeros(k), -tan[:, 0]], axis=1)
            default = np.where(self.across[:, None], left, tan) * self.direction[:, None]
            still = norm < 1e-4
            f = np.where(still[:, None], default, f / np.maximum(norm, 1e-9)[:, None])
            facing = ~np.isnan(self.facing)
            if facing.any():
                a = self.facing[facing]
                ff = f[facing]
                lf = np.stack([ff[:, 2], np.zeros(len(ff)), -ff[:, 0]], axis=1)
                f[facing] = np.cos(a)[:, None] * ff + np.sin(a)[:, None] * lf
            pos[self.road_ids], fwd[self.road_ids] = p0, f
        for i in self.line_ids:
            pos[i], fwd[i] = self.agents[i].motion.pose(t)
        return pos, fwd

    def rows(self, t: float, visible: np.ndarray, pos: np.ndarray, fwd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(template indices, instance rows) of the parts of visible agents."""
        sel = visible[self.part_agent]
        if not sel.any():
            return np.zeros(0, np.int64), np.zeros((0, INSTANCE_FLOATS), np.float32)
        ids = np.flatnonzero(visible)
        frames = np.zeros((len(ids), 4, 4))
        f = fwd[ids] / np.linalg.norm(fwd[ids], axis=1, keepdims=True)
        frames[:, :3, 0] = f
        frames[:, 1, 1] = 1.0
        frames[:, 0, 2], frames[:, 2, 2] = -f[:, 2], f[:, 0]
        frames[:, :3, 3] = pos[ids]
        frames[:, 3, 3] = 1.0
        remap = np.full(len(visible), -1)
        remap[ids] = np.arange(len(ids))
        pa = self.part_agent[sel]
        local = self.local[sel]
        anim = self.animated[sel]
        if anim.any():
            agent_ids = pa[anim]
            dist = np.array([self.agents[i].motion.distance(t) for i in agent_ids])
            phase = self.phase0[agent_ids] + 2 * np.pi * dist / self.stride[agent_ids]
            ang = self.amp[sel][anim] * np.sin(phase)
            py = self.pivot[sel][anim]
            c, s_ = np.cos(ang), np.sin(ang)
            rot = np.zeros((len(ang), 4, 4))
            rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1] = c, -s_, s_, c
            rot[:, 2, 2] = rot[:, 3, 3] = 1.0
            # pivot about (0, py, 0): T(py) R T(-py)  => translation column = (s*py, py - c*py)
            rot[:, 0, 3] = s_ * py
            rot[:, 1, 3] = py - c * py
            local = local.copy()
            local[anim] = rot @ local[anim]
        mats = frames[remap[pa]] @ local
        rows = np.empty((len(mats), INSTANCE_FLOATS), dtype=np.float32)
        rows[:, :16] = mats.transpose(0, 2, 1).reshape(len(mats), 16)
        rows[:, 16:] = self.attrs[sel]
        return self.tpl[sel], rows


def frustum_visible(view: np.ndarray, centres: np.ndarray, radii: np.ndarray, intr: "Intrinsics",
                    far: float) -> np.ndarray:
    """Conservative sphere-vs-frustum test (camera looks along -z of the view matrix)."""
    cam = centres @ view[:3, :3].T + view[:3, 3]
    z = -cam[:, 2]
    tx = (intr.width / 2 + 1) / intr.fx
    ty = (intr.height / 2 + 1) / intr.fy
    return ((z > -radii) & (z < far + radii) & (np.abs(cam[:, 0]) <= z * tx + radii * np.sqrt(1 + tx * tx))
            & (np.abs(cam[:, 1]) <= z * ty + radii * np.sqrt(1 + ty * ty)))


# ---------------------------------------------------------------------------------------------------------------
# object models (object frame: x forward, y up, z right, origin on the ground at the centre)
# ---------------------------------------------------------------------------------------------------------------

I4 = np.eye(4)
WHEEL = rot_roll(np.pi / 2)


def _glass(rng):
    return hsv(rng.uniform(0.5, 0.65), rng.uniform(0, 0.3), rng.uniform(0.08, 0.35))


def _wheels(p: Parts, xs, half_w: float, r: float, width: float, cls: int, rng):
    tyre = hsv(0, 0, rng.uniform(0.05, 0.15))
    for x in xs:
        for z in (half_w, -half_w):
            p.box(I4, (x, r, z), (2 * r, width, 2 * r), tyre, "fine", cls, tpl="cyl8", rot=WHEEL, tile=0.5)


def _lights(p: Parts, length: float, half_w: float, h: float, cls: int, rng):
    for z in (half_w - 0.2, -half_w + 0.2):
        p.box(I4, (length / 2, h, z), (0.04, 0.12, 0.25), hsv(0.12, 0.1, rng.uniform(0.7, 1.0)), "flat", cls,
              flags=FLAG_EMISSIVE)
        p.box(I4, (-length / 2, h, z), (0.04, 0.1, 0.22), hsv(0.0, 0.9, rng.uniform(0.5, 0.9)), "flat", cls,
              flags=FLAG_EMISSIVE)


def build_car(rng: np.random.Generator) -> tuple[Parts, float, float]:
    """Car or van; returns (parts, length, width)."""
    p = Parts()
    van = rng.random() < 0.18
    length = rng.uniform(4.4, 5.2) if van else rng.uniform(3.7, 4.9)
    width = rng.uniform(1.7, 1.98)
    clr = rng.uniform(0.16, 0.24)
    body_h = rng.uniform(1.3, 1.6) if van else rng.uniform(0.5, 0.72)
    cab_h = rng.uniform(0.45, 0.62)
    col = any_color(rng)
    tex = rng.choice(["panels", "flat", "fine", "cloudy"])
    p.box(I4, (0, clr + body_h / 2, 0), (length, body_h, width), col, tex, CAR, tile=1.5)
    cab_len = length * (rng.uniform(0.7, 0.85) if van else rng.uniform(0.48, 0.62))
    p.box(I4, (-length * (0.08 if van else rng.uniform(0.0, 0.1)), clr + body_h + cab_h / 2 - 0.01, 0),
          (cab_len, cab_h, width * 0.9), _glass(rng), "glass", CAR, tpl="cabin", tile=1.0)
    if rng.random() < 0.7:  # roof in body colour
        p.box(I4, (-length * 0.05, clr + body_h + cab_h, 0), (cab_len * 0.6, 0.05, width * 0.86), col, tex, CAR)
    r = rng.uniform(0.29, 0.35)
    _wheels(p, (length / 2 - 0.85, -length / 2 + 0.8), width / 2 - 0.08, r, 0.22, CAR, rng)
    _lights(p, length + 0.02, width / 2, clr + body_h * 0.6, CAR, rng)
    return p, length, width


def build_truck(rng: np.random.Generator) -> tuple[Parts, float, float]:
    p = Parts()
    length, width = rng.uniform(6.5, 10.5), rng.uniform(2.3, 2.55)
    cab_len, cab_h = rng.uniform(1.8, 2.4), rng.uniform(2.5, 3.1)
    box_h = rng.uniform(2.6, 3.6)
    cab_col = any_color(rng)
    p.box(I4, (length / 2 - cab_len / 2, 0.55 + cab_h / 2, 0), (cab_len, cab_h, width), cab_col,
          rng.choice(["panels", "flat"]), TRUCK, tile=2.0)
    p.box(I4, (length / 2 + 0.01, 0.55 + cab_h * 0.7, 0), (0.04, cab_h * 0.35, width * 0.9), _glass(rng), "glass", TRUCK)
    cargo_len = length - cab_len - 0.3
    if rng.random() < 0.75:
        p.box(I4, (-length / 2 + cargo_len / 2, 0.9 + box_h / 2, 0), (cargo_len, box_h, width + 0.05),
              any_color(rng), rng.choice(["panels", "planks", "flat", "cloudy"]), TRUCK, tile=2.5)
    else:  # flatbed with low sides
        p.box(I4, (-length / 2 + cargo_len / 2, 1.3, 0), (cargo_len, 0.7, width), any_color(rng), "planks", TRUCK)
    p.box(I4, (0, 0.6, 0), (length - 0.6, 0.35, width * 0.7), hsv(0, 0, 0.12), "fine", TRUCK)
    _wheels(p, (length / 2 - 1.1, -length / 2 + 1.6, -length / 2 + 2.9), width / 2 - 0.15, 0.5, 0.35, TRUCK, rng)
    _lights(p, length + 0.02, width / 2, 0.9, TRUCK, rng)
    return p, length, width


def build_bus(rng: np.random.Generator) -> tuple[Parts, float, float]:
    p = Parts()
    length, width, height = rng.uniform(10.5, 12.5), 2.55, rng.uniform(2.9, 3.2)
    col = any_color(rng)
    tex = rng.choice(["panels", "flat", "cloudy"])
    p.box(I4, (0, 0.35 + height / 2, 0), (length, height, width), col, tex, BUS, tile=2.5)
    p.box(I4, (0.1, 0.35 + height * 0.62, 0), (length - 0.4, height * 0.42, width + 0.03), _glass(rng), "glass",
          BUS, tile=1.5)
    p.box(I4, (length / 2 + 0.01, 0.35 + height * 0.55, 0), (0.04, height * 0.6, width * 0.92), _glass(rng), "glass",
          BUS)
    p.box(I4, (length / 2 + 0.03, 0.35 + height * 0.92, 0), (0.03, 0.22, 1.6), hsv(0.12, 0.9, 0.9), "flat", BUS,
          flags=FLAG_EMISSIVE)
    _wheels(p, (length / 2 - 2.6, -length / 2 + 3.0), width / 2 - 0.12, 0.5, 0.3, BUS, rng)
    _lights(p, length + 0.02, width / 2, 0.8, BUS, rng)
    return p, length, width


def build_tram(rng: np.random.Generator) -> tuple[Parts, float, float]:
    p = Parts()
    n = int(rng.integers(2, 4))
    sec, width, height = rng.uniform(8.5, 11.0), rng.uniform(2.3, 2.65), rng.uniform(3.2, 3.6)
    gap = 0.6
    length = n * sec + (n - 1) * gap
    col, col2 = any_color(rng), any_color(rng)
    glass = _glass(rng)
    for i in range(n):
        x = -length / 2 + sec / 2 + i * (sec + gap)
        p.box(I4, (x, 0.35 + height / 2, 0), (sec, height, width), col, rng.choice(["panels", "flat"]), TRAIN, tile=2.5)
        p.box(I4, (x, 0.35 + height * 0.6, 0), (sec - 0.6, height * 0.4, width + 0.03), glass, "glass", TRAIN)
        p.box(I4, (x, 0.45, 0), (sec - 0.2, 0.25, width + 0.02), col2, "flat", TRAIN)
        if i < n - 1:
            p.box(I4, (x + sec / 2 + gap / 2, 0.35 + height * 0.45, 0), (gap + 0.1, height * 0.8, width * 0.85),
                  hsv(0, 0, 0.15), "planks", TRAIN)
    # pantograph on the first section
    x0 = -length / 2 + sec / 2
    p.bar(I4, (x0 - 1.0, 0.35 + height), (x0, 0.35 + height + 0.9), 0.06, hsv(0, 0, 0.3), "flat", TRAIN)
    p.bar(I4, (x0, 0.35 + height + 0.9), (x0 - 0.6, 0.35 + height + 1.6), 0.05, hsv(0, 0, 0.3), "flat", TRAIN)
    p.box(I4, (x0 - 0.6, 0.35 + height + 1.62, 0), (0.08, 0.05, 1.4), hsv(0, 0, 0.25), "flat", TRAIN)
    for end in (1, -1):
        p.box(I4, (end * (length / 2 + 0.01), 0.35 + height * 0.62, 0), (0.04, height * 0.45, width * 0.9), glass,
              "glass", TRAIN)
    _lights(p, length + 0.02, width / 2, 0.9, TRAIN, rng)
    return p, length, width


def _person_parts(p: Parts, rng: np.random.Generator, cls: int, height: float) -> tuple[Gait, float]:
    """Standing/walking person; returns the gait (part indices) and the body width."""
    k = height / 1.75
    top, bottom, skin = any_color(rng), any_color(rng), skin_color(rng)
    hip, shoulder = 0.47 * height, 0.8 * height
    tex_top = rng.choice(["flat", "cloudy", "planks", "fine", "panels"])
    tex_bot = rng.choice(["flat", "cloudy", "fine"])
    bw = rng.uniform(0.34, 0.46) * k
    legs = tuple(p.box(I4, (0, hip / 2, z * k), (0.15 * k, hip, 0.14 * k), bottom, tex_bot, cls, tile=0.5)
                 for z in (0.09, -0.09))
    p.box(I4, (0, hip + 0.05 * k, 0), (0.2 * k, 0.12 * k, bw * 0.9), bottom, tex_bot, cls, tile=0.5)
    p.box(I4, (0, (hip + shoulder) / 2 + 0.04 * k, 0), (0.23 * k, shoulder - hip, bw), top, tex_top, cls, tile=0.6)
    arm_len = 0.34 * height
    arms = tuple(p.box(I4, (0, shoulder - arm_len / 2, z * (bw / 2 + 0.05 * k)), (0.09 * k, arm_len, 0.09 * k),
                       top if rng.random() < 0.8 else skin, tex_top, cls, tile=0.5) for z in (1, -1))
    head = 0.13 * height
    p.box(I4, (0, height - head / 2 - 0.01, 0), (0.21 * k, head * 1.1, 0.19 * k), skin, "flat", cls, tpl="ico")
    hair = rng.random()
    if hair < 0.5:
        p.box(I4, (-0.02 * k, height - head * 0.25, 0), (0.22 * k, head * 0.55, 0.2 * k), hsv(0.08, 0.5, rng.uniform(0.05, 0.6)),
              "fine", cls, tpl="ico")
    elif hair < 0.65:  # hat
        p.box(I4, (0, height - 0.02 * k, 0), (0.24 * k, 0.08 * k, 0.22 * k), any_color(rng), "flat", cls, tpl="cyl8")
    if rng.random() < 0.3:  # backpack or bag
        p.box(I4, (-0.17 * k, shoulder - 0.2 * k, 0), (0.14 * k, 0.4 * k, 0.3 * k), any_color(rng), "fine", cls)
    gait = Gait(legs=legs, arms=arms, hip=hip, shoulder=shoulder, stride=1.45 * k, phase0=rng.uniform(0, 2 * np.pi))
    return gait, bw


def build_person(rng: np.random.Generator) -> tuple[Parts, Gait]:
    p = Parts()
    height = rng.uniform(1.0, 1.35) if rng.random() < 0.08 else rng.normal(1.73, 0.09)
    gait, _ = _person_parts(p, rng, PERSON, float(np.clip(height, 0.95, 2.0)))
    return p, gait


def _seated_rider(p: Parts, rng: np.random.Generator, hip, hand, foot, lean: float):
    """A rider sitting at ``hip`` (x, y), hands on ``hand``, feet on ``foot`` (all in the vehicle frame)."""
    k = rng.uniform(0.92, 1.08)
    top, bottom, skin = any_color(rng), any_color(rng), skin_color(rng)
    torso = 0.58 * k
    shoulder = (hip[0] + torso * np.sin(lean), hip[1] + torso * np.cos(lean))
    tex = rng.choice(["flat", "cloudy", "fine"])
    for z in (0.11, -0.11):
        knee = (hip[0] + 0.4 * k, hip[1] - 0.05 - 0.1 * rng.random())
        p.bar(I4, hip, knee, 0.14 * k, bottom, tex, RIDER, z=z, tile=0.5)
        p.bar(I4, knee, foot, 0.12 * k, bottom, tex, RIDER, z=z, tile=0.5)
        p.bar(I4, (shoulder[0], shoulder[1] - 0.05), hand, 0.09 * k, top, tex, RIDER, z=z * 2.0, tile=0.5)
    p.bar(I4, hip, shoulder, 0.36 * k, top, tex, RIDER, tile=0.6)
    helmet = rng.random() < 0.6
    p.box(I4, (shoulder[0] + 0.05, shoulder[1] + 0.16 * k, 0), (0.24 * k, 0.26 * k, 0.22 * k),
          any_color(rng) if helmet else skin, "flat", RIDER, tpl="ico")


def build_bicycle(rng: np.random.Generator, rider: bool) -> Parts:
    p = Parts()
    col = any_color(rng)
    r = rng.uniform(0.32, 0.36)
    tyre = hsv(0, 0, rng.uniform(0.05, 0.2))
    spokes = hsv(0, 0, rng.uniform(0.3, 0.7))
    for x in (0.52, -0.52):
        p.box(I4, (x, r, 0), (2 * r, 2 * r, 0.05), tyre, "fine", BICYCLE, tpl="ring")
        # spokes as a dim disc: the wheel reads (and is labelled) as one region, as in Cityscapes' polygons
        p.box(I4, (x, r, 0), (2 * r * 0.9, 0.02, 2 * r * 0.9), spokes, "mesh", BICYCLE, tpl="cyl16", rot=WHEEL)
    t = 0.04
    tubes = [((-0.18, 0.85), (0.38, 0.82)), ((0.38, 0.82), (0.0, 0.36)), ((-0.2, 0.9), (0.0, 0.36)),
             ((0.0, 0.36), (-0.52, r)), ((-0.18, 0.85), (-0.52, r)), ((0.36, 0.95), (0.52, r))]
    for a, b in tubes:
        p.bar(I4, a, b, t, col, "flat", BICYCLE)
    p.box(I4, (0.36, 1.0, 0), (0.04, 0.04, 0.56), hsv(0, 0, 0.15), "flat", BICYCLE)
    p.box(I4, (-0.21, 0.93, 0), (0.24, 0.05, 0.12), hsv(0, 0, 0.1), "flat", BICYCLE)
    if rider:
        _seated_rider(p, rng, hip=(-0.2, 1.0), hand=(0.36, 1.0), foot=(0.05, 0.3), lean=rng.uniform(0.25, 0.7))
    return p


def build_motorcycle(rng: np.random.Generator, rider: bool) -> Parts:
    p = Parts()
    col = any_color(rng)
    r = 0.31
    _wheels(p, (0.72, -0.72), 0.0, r, 0.13, MOTORCYCLE, rng)
    p.box(I4, (0.0, 0.62, 0), (1.0, 0.42, 0.32), col, rng.choice(["panels", "flat"]), MOTORCYCLE, tile=1.0)
    p.box(I4, (0.35, 0.86, 0), (0.5, 0.22, 0.34), col, "flat", MOTORCYCLE, tpl="cabin")
    p.box(I4, (-0.3, 0.88, 0), (0.65, 0.1, 0.28), hsv(0, 0, 0.1), "flat", MOTORCYCLE)
    p.bar(I4, (0.72, r), (0.55, 1.05), 0.06, hsv(0, 0, 0.5), "flat", MOTORCYCLE)
    p.box(I4, (0.55, 1.07, 0), (0.05, 0.05, 0.72), hsv(0, 0, 0.15), "flat", MOTORCYCLE)
    p.box(I4, (0.0, 0.35, 0), (0.6, 0.25, 0.25), hsv(0, 0, 0.25), "fine", MOTORCYCLE)
    if rider:
        _seated_rider(p, rng, hip=(-0.25, 1.0), hand=(0.5, 1.07), foot=(0.0, 0.38), lean=rng.uniform(0.3, 0.8))
    return p


VEHICLE_BUILDERS = {CAR: build_car, TRUCK: build_truck, BUS: build_bus, TRAIN: build_tram}


# ---------------------------------------------------------------------------------------------------------------
# the world
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Intrinsics:
    """Pinhole intrinsics in the OpenCV convention (pixel centres at integer coordinates)."""

    height: int
    width: int
    fx: float
    fy: float
    cx: float
    cy: float

    @classmethod
    def for_size(cls, height: int, width: int) -> "Intrinsics":
        f = FOCAL_PER_WIDTH * width
        return cls(height, width, f, f, (width - 1) / 2.0, (height - 1) / 2.0)

    def matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1.0]])


@dataclass
class Appearance:
    """Per-world look: sky, sun, fog, exposure drift, white balance, sensor noise, vignetting."""

    sun_dir: np.ndarray
    sun: np.ndarray
    ambient: np.ndarray
    fog: np.ndarray
    fog_density: float
    sky_zenith: np.ndarray
    sky_horizon: np.ndarray
    clouds: float
    exposure: float
    exposure_amp: float
    exposure_freq: float
    exposure_phase: float
    white_balance: np.ndarray
    noise_sigma: float
    blur_sigma: float
    vignette: float
    gamma: float

    @classmethod
    def random(cls, rng: np.random.Generator) -> "Appearance":
        overcast = rng.random() < 0.35
        dusk = (not overcast) and rng.random() < 0.15
        if overcast:
            g = rng.uniform(0.55, 0.9)
            zen = hsv(rng.uniform(0.55, 0.65), rng.uniform(0.0, 0.15), g)
            hor = hsv(rng.uniform(0.5, 0.7), rng.uniform(0.0, 0.1), min(1.0, g + rng.uniform(0.0, 0.15)))
            sun_i, amb_i, clouds = rng.uniform(0.15, 0.4), rng.uniform(0.75, 1.0), rng.uniform(0.3, 1.0)
        elif dusk:
            zen = hsv(rng.uniform(0.58, 0.72), rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.6))
            hor = hsv(rng.uniform(0.02, 0.12), rng.uniform(0.3, 0.7), rng.uniform(0.6, 0.95))
            sun_i, amb_i, clouds = rng.uniform(0.4, 0.8), rng.uniform(0.45, 0.65), rng.uniform(0.0, 0.7)
        else:
            zen = hsv(rng.uniform(0.55, 0.64), rng.uniform(0.3, 0.75), rng.uniform(0.6, 0.95))
            hor = hsv(rng.uniform(0.52, 0.62), rng.uniform(0.05, 0.3), rng.uniform(0.75, 1.0))
            sun_i, amb_i, clouds = rng.uniform(0.6, 1.0), rng.uniform(0.4, 0.6), rng.uniform(0.0, 0.8)
        elev = rng.uniform(0.2, 1.1) if not dusk else rng.uniform(0.05, 0.25)
        az = rng.uniform(0, 2 * np.pi)
        sun_dir = np.array([np.cos(elev) * np.cos(az), np.sin(elev), np.cos(elev) * np.sin(az)])
        sun_col = hsv(rng.uniform(0.07, 0.14), rng.uniform(0.0, 0.5 if dusk else 0.2), 1.0) * sun_i
        ambient = (0.6 * hor + 0.4 * np.ones(3)) * amb_i
        return cls(
            sun_dir=sun_dir, sun=sun_col, ambient=ambient, fog=hor * rng.uniform(0.85, 1.0),
            fog_density=rng.uniform(0.002, 0.012), sky_zenith=zen, sky_horizon=hor, clouds=clouds,
            exposure=rng.uniform(0.85, 1.25), exposure_amp=rng.uniform(0.0, 0.12), exposure_freq=rng.uniform(0.1, 0.6),
            exposure_phase=rng.uniform(0, 2 * np.pi), white_balance=1 + rng.normal(0, 0.06, 3),
            noise_sigma=rng.uniform(1.0, 6.0), blur_sigma=rng.uniform(0.3, 0.9), vignette=rng.uniform(0.0, 0.3),
            gamma=rng.uniform(0.85, 1.15),
        )

    def lighting(self, t: float) -> Lighting:
        exposure = self.exposure * (1 + self.exposure_amp * np.sin(2 * np.pi * self.exposure_freq * t
                                                                   + self.exposure_phase))
        return Lighting(sun_dir=self.sun_dir, sun=self.sun, ambient=self.ambient, fog=self.fog,
                        fog_density=self.fog_density, gain=exposure * self.white_balance, sky_zenith=self.sky_zenith,
                        sky_horizon=self.sky_horizon, clouds=self.clouds, gamma=self.gamma, vignette=self.vignette)


@dataclass
class Ego:
    """The ego car: a road motion plus the camera rig mounted on it."""

    motion: RoadMotion
    cam_height: float
    pitch: float
    bob_amp: float
    bob_freq: float
    bob_phase: float
    brake_pitch: float = 0.006  # rad per m/s^2 of deceleration


@dataclass
class World:
    """A generated world; :meth:`frame` gives the renderer's input at time t."""

    road: Road
    ground: tuple[np.ndarray, np.ndarray, int]  # rows sorted by s, s per vertex, number always drawn
    static_tpl: np.ndarray
    static_rows: np.ndarray
    static_s: np.ndarray
    agents: list[Agent]
    ego: Ego
    look: Appearance
    duration: float
    meta: dict = field(default_factory=dict)

    def camera_pose(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Camera centre and (forward, up) unit vectors at time t."""
        ego = self.ego
        pos, fwd = ego.motion.pose(t)
        fwd = np.array([fwd[0], 0.0, fwd[2]])
        fwd /= np.linalg.norm(fwd)
        # shake grows with speed (an idling car barely moves the camera)
        v = ego.motion.profile.speed(t)
        shake = 0.1 + 0.9 * min(v / 10.0, 1.0)
        yaw = 0.002 * shake * np.sin(2 * np.pi * 0.7 * t + ego.bob_phase)
        fwd = (frame_matrix(np.zeros(3), fwd) @ rot_yaw(yaw))[:3, 0]
        accel = ego.motion.profile.accel(t)
        # braking dips the nose (camera looks down), accelerating lifts it
        pitch = (ego.pitch - ego.brake_pitch * accel
                 + shake * ego.bob_amp * np.sin(2 * np.pi * ego.bob_freq * t + ego.bob_phase))
        up_w = np.array([0.0, 1.0, 0.0])
        f = np.cos(pitch) * fwd - np.sin(pitch) * up_w  # pitch > 0 looks down
        u = np.sin(pitch) * fwd + np.cos(pitch) * up_w
        roll = 0.002 * shake * np.sin(2 * np.pi * 1.3 * t + 2 * ego.bob_phase)
        right = np.cross(f, u)
        u = np.cos(roll) * u + np.sin(roll) * right
        centre = pos + np.array([0.0, ego.cam_height, 0.0])
        return centre, f, u

    def view_matrix(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        c, f, u = self.camera_pose(t)
        r = np.cross(f, u)
        view = np.eye(4)
        view[0, :3], view[1, :3], view[2, :3] = r, u, -f
        view[:3, 3] = -view[:3, :3] @ c
        return view, c

    def __post_init__(self):
        self.pack = AgentPack(self.road, self.agents)
        mats = self.static_rows[:, :16].reshape(-1, 4, 4)  # rows of M^T: mats[:, i] = column i of M
        self.static_centre = mats[:, 3, :3].astype(np.float64)
        self.static_radius = 0.5 * np.sqrt((mats[:, :3, :3].astype(np.float64) ** 2).sum(axis=(1, 2)))

    def frame(self, t: float, intr: Intrinsics) -> FrameDraw:
        view, cam = self.view_matrix(t)
        proj = perspective(intr.fx, intr.fy, intr.cx, intr.cy, intr.width, intr.height, NEAR, FAR)
        s_ego = self.ego.motion.sd(t)[0]
        lo, hi = np.searchsorted(self.static_s, [s_ego - VIEW_BEHIND, s_ego + VIEW_AHEAD])
        vis = frustum_visible(view, self.static_centre[lo:hi], self.static_radius[lo:hi], intr, VIEW_AHEAD)
        tpls = [self.static_tpl[lo:hi][vis]]
        rows = [self.static_rows[lo:hi][vis]]
        if self.agents:
            pos, fwd = self.pack.poses(t)
            centre = pos + np.array([0.0, 1.0, 0.0])
            visible = frustum_visible(view, centre, self.pack.radius + 1.0, intr, VIEW_AHEAD)
            tp, rw = self.pack.rows(t, visible, pos, fwd)
            tpls.append(tp)
            rows.append(rw)
        # the sky dome follows the camera
        sky = np.zeros((1, INSTANCE_FLOATS), dtype=np.float32)
        sky[0, :16] = (translate(*cam) @ scale(2 * FAR * 0.8, 2 * FAR * 0.8, 2 * FAR * 0.8)).T.reshape(16)
        sky[0, 16:] = (1, 1, 1, TEX["clouds"], SKY, FLAG_SKY, 1.0)
        tpls.append(np.array([TEMPLATE_INDEX["dome"]]))
        rows.append(sky)
        tpl_all = np.concatenate(tpls)
        rows_all = np.concatenate(rows)
        # level of detail and sub-pixel culling (the sky dome is huge and near the far plane: never affected)
        centre = rows_all[:, 12:15].astype(np.float64)
        radius = 0.5 * np.sqrt((rows_all[:, 0:3] ** 2).sum(1) + (rows_all[:, 4:7] ** 2).sum(1)
                               + (rows_all[:, 8:11] ** 2).sum(1))
        dist = np.linalg.norm(centre - cam, axis=1)
        keep = radius * intr.fx >= MIN_PIXELS * np.maximum(dist - radius, 1e-3)
        tpl_all = np.where(dist - radius > LOD_DISTANCE, _LOD_MAP[tpl_all], tpl_all)[keep]
        rows_all = rows_all[keep]
        order = np.argsort(tpl_all, kind="stable")
        tpl_all, rows_all = tpl_all[order], rows_all[order]
        bounds = np.searchsorted(tpl_all, np.arange(len(TEMPLATE_INDEX) + 1))
        instances = {i: rows_all[bounds[i]:bounds[i + 1]] for i in range(len(TEMPLATE_INDEX))
                     if bounds[i + 1] > bounds[i]}
        g_rows, g_s, n_always = self.ground
        g0, g1 = np.searchsorted(g_s[n_always:], [s_ego - VIEW_BEHIND, s_ego + VIEW_AHEAD])
        ranges = [(0, n_always), (n_always + int(g0) // 3 * 3, (int(g1) - int(g0)) // 3 * 3)]
        return FrameDraw(view_proj=proj @ view, camera=cam, instances=instances, lighting=self.look.lighting(t),
                         ground_ranges=ranges)

    def render(self, renderer, t: float, intr: Intrinsics) -> tuple[np.ndarray, np.ndarray]:
        """Rendered (RGB uint8, trainIds uint8) at time t, before camera effects (see :meth:`postprocess`)."""
        renderer.set_ground(self, self.ground[0])
        return renderer.render(self.frame(t, intr))

    def postprocess(self, rgb: np.ndarray, t: float, rng: np.random.Generator) -> np.ndarray:
        """Sensor effects on the rendered RGB (exposure, white balance, gamma and vignetting are already applied
        by the shader): lens blur and luminance + colour noise. Deterministic for a given ``rng`` state."""
        import cv2

        look = self.look
        img = cv2.GaussianBlur(rgb, (3, 3), look.blur_sigma) if look.blur_sigma > 0.35 else rgb
        h, w = img.shape[:2]
        cv2.setRNGSeed(int(rng.integers(0, 2**31 - 1)))
        noise = np.empty((h, w, 3), dtype=np.int16)
        cv2.randn(noise, 0.0, 0.75 * look.noise_sigma)
        lum = np.empty((h, w), dtype=np.int16)
        cv2.randn(lum, 0.0, 0.65 * look.noise_sigma)
        noise += lum[..., None]
        out = img.astype(np.int16)
        out += noise
        return np.clip(out, 0, 255).astype(np.uint8)
