"""What the world's objects are made of: instances of the unit mesh templates, each tagged with a Cityscapes trainId
(named here once so every builder uses the same ids)."""

from __future__ import annotations

import numpy as np

from swiftcast.data.labels import CLASS_NAMES
from swiftcast.synth.geometry import rot_pitch, scale, translate
from swiftcast.synth.meshes import TEMPLATE_INDEX, TEX
from swiftcast.synth.render import INSTANCE_FLOATS

C = {name: i for i, name in enumerate(CLASS_NAMES)}  # class name -> trainId, from cityscapesScripts
ROAD, SIDEWALK, BUILDING, WALL, FENCE = C["road"], C["sidewalk"], C["building"], C["wall"], C["fence"]
POLE, LIGHT, SIGN, VEGETATION, TERRAIN = C["pole"], C["traffic light"], C["traffic sign"], C["vegetation"], C["terrain"]
SKY, PERSON, RIDER, CAR, TRUCK = C["sky"], C["person"], C["rider"], C["car"], C["truck"]
BUS, TRAIN, MOTORCYCLE, BICYCLE = C["bus"], C["train"], C["motorcycle"], C["bicycle"]


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
