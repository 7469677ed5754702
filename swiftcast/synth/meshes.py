"""Unit mesh templates and procedural grey textures for the synthetic world.

Every object in the world is a handful of *parts*: one template (unit box, prism, icosphere, ...) placed by a 4x4
matrix ``rotation @ scale`` (scale innermost, so normals transform with ``M @ diag(1/scale^2)``). Templates are flat
shaded (one normal per face) and wound counter-clockwise seen from outside, so back faces can be culled.

Object-local axes everywhere in ``swiftcast.synth``: x = forward (length), y = up (height), z = right (width);
right-handed, so instance matrices never mirror (which would flip the winding and show box interiors).

Textures are tileable grey images (mean ~0.75) multiplied by a per-instance colour in the shader, so a texture
never identifies a class on its own: several classes draw from overlapping texture sets.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

#: floats per template vertex: position (3), normal (3), u axis (3), v axis (3)
TEMPLATE_VERTEX_FLOATS = 12


@dataclass(frozen=True)
class Template:
    """A unit mesh as a flat (n_vertices, 12) float32 array, three vertices per triangle."""

    name: str
    vertices: np.ndarray


def _uv_axes(normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Texture axes of a face: the two local axes most orthogonal to its normal (v is 'up' on vertical faces)."""
    n = np.abs(normal)
    if n[1] >= max(n[0], n[2]):  # horizontal face: u = x, v = z
        return np.array([1.0, 0, 0]), np.array([0, 0, 1.0])
    # vertical face: u runs along the face horizontally, v = up
    u = np.array([-normal[2], 0.0, normal[0]])
    u /= np.linalg.norm(u) + 1e-12
    return u, np.array([0, 1.0, 0])


def _faces_to_template(name: str, triangles: list[np.ndarray], outward: list[np.ndarray] | None = None,
                       inward: bool = False) -> Template:
    """Flat-shade triangles; fix winding so each is counter-clockwise seen from its outside (or inside if inward)."""
    rows = []
    for k, tri in enumerate(triangles):
        tri = np.asarray(tri, dtype=np.float64)
        n = np.cross(tri[1] - tri[0], tri[2] - tri[0])
        norm = np.linalg.norm(n)
        if norm < 1e-12:
            continue
        n = n / norm
        want = outward[k] if outward is not None else tri.mean(axis=0)  # convex templates centred at 0
        if inward:
            want = -want
        if np.dot(n, want) < 0:
            tri = tri[[0, 2, 1]]
            n = -n
        ua, ub = _uv_axes(n)
        for p in tri:
            rows.append(np.concatenate([p, n, ua, ub]))
    return Template(name, np.asarray(rows, dtype=np.float32))


def _box_triangles(top_scale_x: float = 1.0, top_shift_x: float = 0.0) -> list[np.ndarray]:
    """Unit box [-0.5, 0.5]^3; the top face can be narrowed along x (car cabins, windscreens)."""
    h = 0.5
    corners = {}
    for sx in (-1, 1):
        for sy in (-1, 1):
            for sz in (-1, 1):
                x = sx * h * (top_scale_x if sy > 0 else 1.0) + (top_shift_x if sy > 0 else 0.0)
                corners[(sx, sy, sz)] = np.array([x, sy * h, sz * h])
    quads = [
        [(1, -1, -1), (1, 1, -1), (1, 1, 1), (1, -1, 1)],
        [(-1, -1, -1), (-1, -1, 1), (-1, 1, 1), (-1, 1, -1)],
        [(-1, 1, -1), (-1, 1, 1), (1, 1, 1), (1, 1, -1)],
        [(-1, -1, -1), (1, -1, -1), (1, -1, 1), (-1, -1, 1)],
        [(-1, -1, 1), (1, -1, 1), (1, 1, 1), (-1, 1, 1)],
        [(-1, -1, -1), (-1, 1, -1), (1, 1, -1), (1, -1, -1)],
    ]
    tris = []
    for q in quads:
        a, b, c, d = (corners[k] for k in q)
        tris += [np.array([a, b, c]), np.array([a, c, d])]
    return tris


def _prism_triangles(sides: int, phase: float = 0.0) -> list[np.ndarray]:
    """Prism of radius 0.5 around the y axis, y in [-0.5, 0.5], with caps."""
    ang = phase + 2 * np.pi * np.arange(sides) / sides
    ring = np.stack([0.5 * np.cos(ang), np.zeros(sides), 0.5 * np.sin(ang)], axis=1)
    top, bot = ring + [0, 0.5, 0], ring + [0, -0.5, 0]
    tris = []
    for i in range(sides):
        j = (i + 1) % sides
        tris += [np.array([bot[i], bot[j], top[j]]), np.array([bot[i], top[j], top[i]])]
    for i in range(1, sides - 1):
        tris += [np.array([top[0], top[i], top[i + 1]]), np.array([bot[0], bot[i + 1], bot[i]])]
    return tris


def _icosphere(subdiv: int) -> list[np.ndarray]:
    t = (1 + 5 ** 0.5) / 2
    verts = [(-1, t, 0), (1, t, 0), (-1, -t, 0), (1, -t, 0), (0, -1, t), (0, 1, t), (0, -1, -t), (0, 1, -t),
             (t, 0, -1), (t, 0, 1), (-t, 0, -1), (-t, 0, 1)]
    faces = [(0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11), (1, 5, 9), (5, 11, 4), (11, 10, 2),
             (10, 7, 6), (7, 1, 8), (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8), (3, 8, 9), (4, 9, 5), (2, 4, 11),
             (6, 2, 10), (8, 6, 7), (9, 8, 1)]
    tris = [np.array([verts[a], verts[b], verts[c]], dtype=np.float64) for a, b, c in faces]
    for _ in range(subdiv):
        new = []
        for a, b, c in tris:
            ab, bc, ca = (a + b) / 2, (b + c) / 2, (c + a) / 2
            new += [np.array(x) for x in ([a, ab, ca], [ab, b, bc], [ca, bc, c], [ab, bc, ca])]
        tris = new
    return [0.5 * tri / np.linalg.norm(tri, axis=1, keepdims=True) for tri in tris]


def _ring_triangles(segments: int = 14, inner: float = 0.42) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A flat ring (wheel rim + tyre) in the x-y plane, axis along z, outer radius 0.5, z in [-0.5, 0.5]."""
    ang = 2 * np.pi * np.arange(segments + 1) / segments
    tris, outward = [], []
    for i in range(segments):
        a0, a1 = ang[i], ang[i + 1]
        am = 0.5 * (a0 + a1)
        o0 = np.array([0.5 * np.cos(a0), 0.5 * np.sin(a0), 0])
        o1 = np.array([0.5 * np.cos(a1), 0.5 * np.sin(a1), 0])
        i0, i1 = o0 * inner / 0.5, o1 * inner / 0.5
        radial = np.array([np.cos(am), np.sin(am), 0])
        for z, nz in ((0.5, 1.0), (-0.5, -1.0)):  # the two flat sides
            zz = np.array([0, 0, z])
            for tri in ([o0 + zz, o1 + zz, i1 + zz], [o0 + zz, i1 + zz, i0 + zz]):
                tris.append(np.array(tri))
                outward.append(np.array([0, 0, nz]))
        lo, hi = np.array([0, 0, -0.5]), np.array([0, 0, 0.5])
        for p0, p1, n in ((o0, o1, radial), (i0, i1, -radial)):  # tyre tread and rim inside
            tris += [np.array([p0 + lo, p1 + lo, p1 + hi]), np.array([p0 + lo, p1 + hi, p0 + hi])]
            outward += [n, n]
    return tris, outward


@lru_cache(maxsize=1)
def templates() -> dict[str, Template]:
    """All unit templates by name (built once per process)."""
    ring_tris, ring_out = _ring_triangles()
    out = {
        "box": _faces_to_template("box", _box_triangles()),
        "cabin": _faces_to_template("cabin", _box_triangles(top_scale_x=0.62, top_shift_x=-0.08)),
        "cyl3": _faces_to_template("cyl3", _prism_triangles(3, phase=np.pi / 2)),
        "cyl8": _faces_to_template("cyl8", _prism_triangles(8, phase=np.pi / 8)),
        "cyl16": _faces_to_template("cyl16", _prism_triangles(16)),
        "ico": _faces_to_template("ico", _icosphere(1)),
        "ring": _faces_to_template("ring", ring_tris, ring_out),
        "dome": _faces_to_template("dome", _icosphere(2), inward=True),
        "ico0": _faces_to_template("ico0", _icosphere(0)),
        "ring8": _faces_to_template("ring8", *_ring_triangles(segments=8)),
    }
    return out


TEMPLATE_NAMES: tuple[str, ...] = ("box", "cabin", "cyl3", "cyl8", "cyl16", "ico", "ring", "dome", "ico0", "ring8")
#: low-poly stand-ins used beyond LOD_DISTANCE (triangle setup dominates llvmpipe's cost)
LOD: dict[str, str] = {"ico": "ico0", "cyl16": "cyl8", "ring": "ring8"}
TEMPLATE_INDEX: dict[str, int] = {name: i for i, name in enumerate(TEMPLATE_NAMES)}

# ---------------------------------------------------------------------------------------------------------------
# textures
# ---------------------------------------------------------------------------------------------------------------

TEXTURE_SIZE = 128
TEXTURE_NAMES: tuple[str, ...] = (
    "flat", "fine", "cloudy", "bricks", "windows", "windows2", "shop", "pavers", "planks", "leaves", "mesh",
    "pickets", "clouds", "panels", "grass", "glass", "tiles",
)
TEX: dict[str, int] = {name: i for i, name in enumerate(TEXTURE_NAMES)}


def _periodic_noise(rng: np.random.Generator, size: int, beta: float, lo_cut: float = 1.0) -> np.ndarray:
    """Tileable 1/f^beta noise in [0, 1] (FFT filtering makes it periodic for free)."""
    white = rng.standard_normal((size, size))
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.fftfreq(size)[None, :]
    f = np.sqrt(fx * fx + fy * fy) * size
    filt = 1.0 / np.maximum(f, lo_cut) ** beta
    filt[0, 0] = 0
    noise = np.real(np.fft.ifft2(np.fft.fft2(white) * filt))
    noise -= noise.min()
    return noise / (noise.max() + 1e-12)


def _grid_mask(size: int, nx: int, ny: int, line: float, offset_rows: bool = False) -> np.ndarray:
    """1 on grid lines (mortar), 0 inside cells; optional half-cell offset every other row (bricks)."""
    y, x = np.mgrid[0:size, 0:size] / size
    row = np.floor(y * ny)
    xs = x * nx + (0.5 * (row % 2) if offset_rows else 0.0)
    fx = xs - np.floor(xs)
    fy = y * ny - row
    return ((fx < line * nx) | (fy < line * ny)).astype(np.float64)


@lru_cache(maxsize=1)
def texture_stack() -> np.ndarray:
    """(n_textures, S, S) uint8 grey textures, deterministic (fixed seed), built once per process."""
    s = TEXTURE_SIZE
    rng = np.random.default_rng(20240917)
    y, x = np.mgrid[0:s, 0:s] / s
    fine = _periodic_noise(rng, s, 0.4)
    mid = _periodic_noise(rng, s, 1.2)
    low = _periodic_noise(rng, s, 2.0)
    tex = {}
    tex["flat"] = 0.82 + 0.06 * (low - 0.5)
    tex["fine"] = 0.55 + 0.35 * fine + 0.1 * low
    tex["cloudy"] = 0.5 + 0.45 * low + 0.05 * fine
    bricks = _grid_mask(s, 4, 8, 0.012, offset_rows=True)
    tex["bricks"] = (0.8 + 0.15 * (mid - 0.5)) * (1 - 0.45 * bricks) + 0.05 * fine
    # building bay: one window per texture tile (tile = 3 m, one floor)
    win = ((x > 0.25) & (x < 0.75) & (y > 0.22) & (y < 0.75)).astype(float)
    frame = ((x > 0.22) & (x < 0.78) & (y > 0.19) & (y < 0.78)).astype(float) - win
    tex["windows"] = (0.85 + 0.1 * (low - 0.5)) * (1 - 0.6 * win) * (1 + 0.15 * frame) + 0.25 * win * (1 - y)
    win2 = ((x > 0.1) & (x < 0.9) & (y > 0.3) & (y < 0.7)).astype(float)
    mull = ((np.abs(x - 0.5) < 0.015) & (win2 > 0)).astype(float)
    tex["windows2"] = (0.8 + 0.1 * (mid - 0.5)) * (1 - 0.55 * win2) + 0.3 * mull + 0.2 * win2 * y
    shop = ((y > 0.15) & (x > 0.06) & (x < 0.94)).astype(float)
    tex["shop"] = (0.85 + 0.1 * (low - 0.5)) * (1 - 0.5 * shop) + 0.25 * shop * (0.5 + 0.5 * np.sin(6 * x))
    tex["pavers"] = (0.78 + 0.12 * (mid - 0.5)) * (1 - 0.35 * _grid_mask(s, 6, 6, 0.01)) + 0.06 * fine
    planks = 0.5 + 0.5 * np.sin(2 * np.pi * x * 8) ** 2
    tex["planks"] = 0.6 + 0.25 * planks * (0.7 + 0.3 * mid) + 0.1 * fine
    leaves = _periodic_noise(rng, s, 0.9)
    tex["leaves"] = np.clip(0.25 + 1.1 * (leaves - 0.35), 0.15, 1.0) * (0.8 + 0.2 * low)
    # fences are opaque (labelled as whole regions, like Cityscapes' fence polygons): gaps are dark, not holes
    tex["mesh"] = 0.3 + 0.6 * np.maximum(_grid_mask(s, 10, 10, 0.02), (y < 0.04) | (y > 0.96)) + 0.1 * low
    tex["pickets"] = 0.3 + 0.6 * np.maximum(((x * 8) % 1 < 0.6), ((y > 0.2) & (y < 0.26)) | ((y > 0.7) & (y < 0.76)))
    clouds = _periodic_noise(rng, s, 1.6)
    tex["clouds"] = np.clip((clouds - 0.45) * 2.2, 0, 1)
    tex["panels"] = (0.85 + 0.05 * (low - 0.5)) * (1 - 0.3 * _grid_mask(s, 2, 3, 0.008)) + 0.05 * fine
    tex["grass"] = 0.45 + 0.45 * _periodic_noise(rng, s, 0.6) * (0.6 + 0.4 * mid)
    tex["glass"] = 0.35 + 0.35 * y + 0.15 * low
    tex["tiles"] = (0.8 + 0.1 * (fine - 0.5)) * (1 - 0.3 * _grid_mask(s, 8, 4, 0.015))
    stack = np.stack([np.clip(tex[name], 0, 1) for name in TEXTURE_NAMES])
    return np.round(stack * 255).astype(np.uint8)
