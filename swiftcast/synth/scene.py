"""Procedural generation of one world: street layout, furniture, buildings, traffic and the ego drive.

``generate_world(rng, duration)`` draws everything from ``rng`` in a fixed order, so a seed fully determines the
world. Two kinds of drives: ``"sequence"`` (one short scenario: cruise, brake, accelerate, stopped, turn, lane
change) and ``"drive"`` (a long continuous drive alternating cruising, braking to a stop, waiting and pulling off,
for rosbags). Traffic densities and speeds are the knobs that set how hard forecasting is (see README.md).
"""

from __future__ import annotations

import numpy as np

from swiftcast.synth.render import FLAG_EMISSIVE
from swiftcast.synth.world import (
    BICYCLE, BUILDING, BUS, CAR, FENCE, LIGHT, MOTORCYCLE, PERSON, POLE, ROAD, SIDEWALK, SIGN, TERRAIN, TRAIN, TRUCK,
    VEGETATION, VEHICLE_BUILDERS, VIEW_AHEAD, VIEW_BEHIND, WALL, Agent, Appearance, Ego, Ground, LineMotion, Parts,
    Road, RoadMotion, SpeedProfile, World, any_color, build_bicycle, build_motorcycle, build_person, frame_matrix,
    green_color, hsv, make_agent, muted_color, rot_pitch, rot_yaw,
)

SEQUENCE_SCENARIOS = ("cruise", "slow", "stopped", "brake", "accelerate", "turn", "lane_change")
SCENARIO_WEIGHTS = (0.23, 0.17, 0.19, 0.14, 0.14, 0.08, 0.05)


def _zones_overlap(a: float, b: float, zones: list[tuple[float, float]]) -> bool:
    return any(a < z1 and b > z0 for z0, z1 in zones)


def _free_segments(s0: float, s1: float, zones: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """[s0, s1] minus the zones."""
    segs, cur = [], s0
    for z0, z1 in sorted(zones):
        if z1 <= cur or z0 >= s1:
            continue
        if z0 > cur:
            segs.append((cur, z0))
        cur = max(cur, z1)
    if cur < s1:
        segs.append((cur, s1))
    return segs


class Street:
    """Cross-section of the street (per side: -1 = right of the centre line, +1 = left) and its zones."""

    def __init__(self, rng: np.random.Generator):
        self.lane_w = rng.uniform(3.0, 3.6)
        self.lanes = {-1: int(rng.choice([1, 2, 2, 3], p=[0.45, 0.3, 0.15, 0.1])),
                      1: int(rng.choice([1, 2], p=[0.6, 0.4]))}
        self.bike = {k: (1.6 if rng.random() < 0.2 else 0.0) for k in (-1, 1)}
        self.park = {k: (2.2 if rng.random() < 0.5 else 0.0) for k in (-1, 1)}
        self.tram = rng.random() < 0.35
        self.edge = {k: self.lanes[k] * self.lane_w + self.bike[k] + self.park[k] for k in (-1, 1)}
        self.curb_h = rng.uniform(0.1, 0.16)
        self.lawn = {k: (rng.uniform(1.2, 2.6) if rng.random() < 0.25 else 0.0) for k in (-1, 1)}
        self.walk = {k: rng.uniform(2.0, 5.5) for k in (-1, 1)}
        self.garden = {k: (rng.uniform(1.5, 7.0) if rng.random() < 0.3 else 0.0) for k in (-1, 1)}
        self.trees = {k: rng.random() < 0.5 for k in (-1, 1)}
        self.autumn = rng.uniform(0, 0.6) if rng.random() < 0.3 else 0.0
        # colours of the ground surfaces
        self.road_col = hsv(rng.random(), rng.uniform(0, 0.12), rng.uniform(0.25, 0.6))
        self.road_tex = str(rng.choice(["fine", "fine", "cloudy", "tiles"]))
        self.park_col = self.road_col * rng.uniform(0.85, 1.15) if rng.random() < 0.6 else muted_color(rng, 0.3, 0.6, 0.15)
        self.park_tex = str(rng.choice(["fine", "pavers", "tiles"]))
        self.walk_col = {k: muted_color(rng, 0.35, 0.8, 0.25) for k in (-1, 1)}
        self.walk_tex = {k: str(rng.choice(["pavers", "tiles", "fine", "cloudy"])) for k in (-1, 1)}
        self.terrain_col = green_color(rng, self.autumn) if rng.random() < 0.75 else muted_color(rng, 0.3, 0.6, 0.4)
        self.terrain_tex = str(rng.choice(["grass", "cloudy", "fine"]))
        self.mark_col = hsv(rng.uniform(0.1, 0.16), rng.uniform(0, 0.5) if rng.random() < 0.15 else 0.0,
                            rng.uniform(0.7, 0.95))
        self.centre_line = str(rng.choice(["dashed", "solid", "double"]))

    def inner(self, side: int) -> float:
        """|d| of the sidewalk's road-side edge (curb)."""
        return self.edge[side]

    def building_line(self, side: int) -> float:
        return self.edge[side] + self.lawn[side] + self.walk[side] + self.garden[side]

    def lane_d(self, side: int, i: int) -> float:
        """Centre of lane i (0 = next to the centre line) on a side."""
        return side * (i + 0.5) * self.lane_w


class Intersection:
    def __init__(self, rng: np.random.Generator, s: float):
        self.s = s
        self.road_w = rng.uniform(6.0, 9.0)
        self.walk_w = rng.uniform(2.0, 4.0)
        self.sides = [k for k in (-1, 1) if rng.random() < 0.85] or [int(rng.choice([-1, 1]))]
        self.main_green = rng.random() < 0.5

    @property
    def opening(self) -> tuple[float, float]:
        return self.s - self.road_w / 2, self.s + self.road_w / 2

    @property
    def block(self) -> tuple[float, float]:
        half = self.road_w / 2 + self.walk_w
        return self.s - half, self.s + half


# ---------------------------------------------------------------------------------------------------------------
# static scene
# ---------------------------------------------------------------------------------------------------------------


class StaticBuilder:
    def __init__(self, rng: np.random.Generator, road: Road, street: Street, inters: list[Intersection],
                 s_lo: float, s_hi: float):
        self.rng, self.road, self.st, self.inters = rng, road, street, inters
        self.s_lo, self.s_hi = s_lo, s_hi
        self.parts = Parts()
        self.ground = Ground()
        self.openings = [it.opening for it in inters]
        self.blocks = [(it.block[0] - 1.0, it.block[1] + 1.0) for it in inters]
        self.crossings = []  # (s0, s1) of zebra crossings, kept free of parked cars

    # -- helpers ------------------------------------------------------------------------------------------------
    def frame(self, s: float, d: float, h: float = 0.0, yaw: float = 0.0) -> np.ndarray:
        return self.road.frame(s, d, h, yaw)

    def flat(self, s: float, d: float, length: float, width: float, color, tex: str, cls: int, h: float = 0.008,
             thick: float = 0.01, tile: float = 2.0) -> None:
        self.parts.box(self.frame(s, d, h), (0, 0, 0), (length, thick, width), color, tex, cls, tile=tile, s=s)

    def flat_many(self, s: np.ndarray, d: float, length: float, width: float, tex: str, cls: int,
                  h: float = 0.008, thick: float = 0.01, color=None) -> None:
        """Flat boxes along the road (markings, rails): worn marking colour unless ``color`` is given."""
        if len(s) == 0:
            return
        mats = self.road.frames(s, np.full(len(s), d), h)
        mats[:, :3, :3] *= np.array([length, thick, width])
        colors = (self.st.mark_col[None] * self.rng.uniform(0.75, 1.0, (len(s), 1)) if color is None
                  else np.asarray(color))
        self.parts.add_many("box", mats, colors, tex, cls, s=s)

    # -- ground -------------------------------------------------------------------------------------------------
    def build_ground(self) -> None:
        st, rng, g, road = self.st, self.rng, self.ground, self.road
        a, b = self.s_lo, self.s_hi
        g.strip(road, a, b, -st.edge[-1], st.edge[1], 0.0, st.road_col, st.road_tex, ROAD, tile=3.0)
        for side in (-1, 1):
            if st.park[side]:  # parking lane in another surface, still road
                d0 = st.lanes[side] * st.lane_w + st.bike[side]
                g.strip(road, a, b, side * d0, side * st.edge[side], 0.002, st.park_col, st.park_tex, ROAD, tile=2.0)
            if st.bike[side]:
                d0 = st.lanes[side] * st.lane_w
                col = st.road_col * 0.9 + (hsv(0.0, 0.5, 0.5) * 0.3 if rng.random() < 0.5 else 0)
                g.strip(road, a, b, side * d0, side * (d0 + st.bike[side]), 0.002, col, "fine", ROAD, tile=2.0)
            h = st.curb_h
            e, lawn, walk, garden = st.edge[side], st.lawn[side], st.walk[side], st.garden[side]
            yard_col = st.terrain_col if rng.random() < 0.7 else muted_color(rng, 0.3, 0.6, 0.3)
            yard_cls = TERRAIN if rng.random() < 0.75 else SIDEWALK
            for s0, s1 in _free_segments(a, b, self.openings):
                g.curb(road, s0, s1, side * e, h, -side, st.walk_col[side] * 0.9, "fine")
                d = e
                for width, col, tex, cls in ((lawn, st.terrain_col, st.terrain_tex, TERRAIN),
                                             (walk, st.walk_col[side], st.walk_tex[side], SIDEWALK),
                                             (garden, st.terrain_col, st.terrain_tex, TERRAIN)):
                    if width > 0:
                        g.strip(road, s0, s1, side * d, side * (d + width), h, col, tex, cls, tile=2.0)
                    d += width
                yard = min(45.0, road.room(s0, s1, side) - d)
                if yard > 0:
                    g.strip(road, s0, s1, side * d, side * (d + yard), h, yard_col, "cloudy", yard_cls, tile=6.0)
                for s_end, facing in ((s0, -1.0), (s1, 1.0)):  # vertical ends of the sidewalk at openings
                    if a < s_end < b:
                        self._end_face(s_end, side, e, d + max(yard, 0.0), h, facing, st.walk_col[side] * 0.9)
        # far ground below everything (seen through gaps between buildings)
        mid = road.point(0.5 * (a + b), 0.0)
        g.rect(mid, np.array([1.0, 0, 0]), np.array([0, 0, 1.0]), 2000.0, 2000.0, -0.06, st.terrain_col * 0.8,
               "grass", TERRAIN, tile=8.0)

    def _end_face(self, s: float, side: int, d0: float, d1: float, h: float, facing: float, col) -> None:
        road = self.road
        p = [road.point(s, side * d0, 0.0), road.point(s, side * d1, 0.0), road.point(s, side * d1, h),
             road.point(s, side * d0, h)]
        normal = road.tangent(s) * facing
        uv = np.array([[0, 0], [d1 - d0, 0], [d1 - d0, h], [0, h]]) / 2.0
        self.ground.add_quads(np.array(p)[None], normal, uv[None], col, "fine", SIDEWALK, s=s)

    # -- markings -----------------------------------------------------------------------------------------------
    def build_markings(self) -> None:
        st, rng = self.st, self.rng
        col = st.mark_col
        wear = lambda: col * rng.uniform(0.75, 1.0)  # noqa: E731

        def line(d: float, dashed: bool, width: float = 0.12, on: float = 3.0, off: float = 6.0):
            step = on + off if dashed else 2.0
            piece = on if dashed else 2.0
            starts = np.arange(self.s_lo + rng.uniform(0, step), self.s_hi, step)
            starts = np.array([x for x in starts if not _zones_overlap(x - 1, x + piece + 1, self.openings)])
            self.flat_many(starts + piece / 2, d, piece + (0.0 if dashed else 0.02), width, "fine", ROAD)

        if st.centre_line == "double":
            line(0.12, False)
            line(-0.12, False)
        else:
            line(0.0, st.centre_line == "dashed")
        for side in (-1, 1):
            for i in range(1, st.lanes[side]):
                line(side * i * st.lane_w, True)
            if st.bike[side] or st.park[side]:
                line(side * st.lanes[side] * st.lane_w, False, width=0.15)
            if st.bike[side] and st.park[side]:
                line(side * (st.lanes[side] * st.lane_w + st.bike[side]), True, width=0.1, on=1.0, off=1.0)
        if st.tram:  # rails in the innermost lane of each direction (road class, as in Cityscapes' road surface)
            rail_col = hsv(0, 0, rng.uniform(0.2, 0.55))
            for side in (-1, 1):
                c = st.lane_d(side, 0)
                for off in (-0.75, -0.69, 0.69, 0.75):
                    self.flat_many(np.arange(self.s_lo, self.s_hi, 2.0) + 1.0, c + off, 2.02, 0.05, "fine", ROAD,
                                   h=0.006, color=rail_col)
        # crossings and stop lines at intersections
        for it in self.inters:
            o0, o1 = it.opening
            for s_mid, side in ((o0 - 2.6, -1), (o1 + 2.6, 1)):
                self.crossings.append((s_mid - 2.5, s_mid + 2.5))
                d = -st.edge[-1] + 0.3
                while d < st.edge[1] - 0.3:
                    self.flat(s_mid, d + 0.25, 3.2, 0.5, wear(), "fine", ROAD)
                    d += 1.0
                stop_s = s_mid - side * 2.6
                w = st.lanes[side] * st.lane_w
                self.flat(stop_s, side * w / 2, 0.4, w, wear(), "fine", ROAD)

    # -- furniture ----------------------------------------------------------------------------------------------
    def pole(self, s: float, d: float, h: float, r: float, col, base_h: float = 0.0) -> None:
        self.parts.box(self.frame(s, d, base_h), (0, h / 2, 0), (2 * r, h, 2 * r), col, "fine", POLE, tpl="cyl8",
                       tile=1.0, s=s)

    def lamp(self, s: float, side: int, d_abs: float) -> None:
        rng, h0 = self.rng, self.st.curb_h
        h, r = rng.uniform(6.0, 9.0), rng.uniform(0.08, 0.13)
        col = muted_color(rng, 0.15, 0.6, 0.3)
        self.pole(s, side * d_abs, h, r, col, h0)
        arm = rng.uniform(1.2, 2.5)
        fr = self.frame(s, side * d_abs, h0)
        self.parts.box(fr, (0, h - 0.1, side * arm / 2), (0.08, 0.08, arm), col, "fine", POLE, s=s)  # over the road
        self.parts.box(fr, (0, h - 0.2, side * arm), (0.35, 0.14, 0.65), col, "flat", POLE, s=s)
        if rng.random() < 0.25:
            self.sign_plate(s, side, d_abs, rng.uniform(2.3, 3.2), facing=-1 if side < 0 else 1)

    def sign_plate(self, s: float, side: int, d_abs: float, h: float, facing: int) -> None:
        """A traffic sign plate on a post at (s, d); facing -1 = towards traffic coming along +s."""
        rng = self.rng
        fr = self.frame(s, side * d_abs, self.st.curb_h + h, yaw=0.0 if facing > 0 else np.pi)
        shape = rng.choice(["disc", "triangle", "square", "rect", "rect"])
        front = any_color(rng) if rng.random() < 0.3 else hsv(rng.choice([0.0, 0.6, 0.13, 0.0]), rng.uniform(0, 0.9),
                                                             rng.uniform(0.5, 0.95))
        back = hsv(0, 0, rng.uniform(0.3, 0.7))
        tex = str(rng.choice(["flat", "fine", "panels"]))
        if shape in ("disc", "triangle"):
            size = rng.uniform(0.55, 0.85)
            tpl = "cyl16" if shape == "disc" else "cyl3"
            for x, c in ((0.01, front), (-0.01, back)):
                self.parts.box(fr, (x, 0, 0), (size, 0.02, size), c, tex, SIGN, tpl=tpl, rot=rot_pitch(np.pi / 2),
                               tile=1.0, s=s)
        else:
            w = rng.uniform(0.5, 0.7) if shape == "square" else rng.uniform(0.8, 1.8)
            hh = w if shape == "square" else rng.uniform(0.35, 0.9)
            for x, c in ((0.01, front), (-0.01, back)):
                self.parts.box(fr, (x, 0, 0), (0.02, hh, w), c, tex, SIGN, tile=1.0, s=s)

    def sign_post(self, s: float, side: int, d_abs: float) -> None:
        rng = self.rng
        h = rng.uniform(2.2, 3.0)
        self.pole(s, side * d_abs, h + 0.35, 0.035, muted_color(rng, 0.3, 0.7, 0.1), self.st.curb_h)
        facing = -1 if (side < 0 or rng.random() < 0.2) else 1
        self.sign_plate(s, side, d_abs, h, facing)
        if rng.random() < 0.35:
            self.sign_plate(s, side, d_abs, h - rng.uniform(0.7, 0.9), facing)

    def tree(self, s: float, d: float, base_h: float, big: float = 1.0) -> None:
        rng = self.rng
        trunk_h, r = rng.uniform(1.8, 3.5) * big, rng.uniform(0.1, 0.25) * big
        fr = self.frame(s, d, base_h, yaw=rng.uniform(0, 2 * np.pi))
        bark = hsv(rng.uniform(0.05, 0.12), rng.uniform(0.1, 0.5), rng.uniform(0.12, 0.45))
        self.parts.box(fr, (0, trunk_h / 2 + 0.3, 0), (2 * r, trunk_h + 0.6, 2 * r), bark, "fine", VEGETATION,
                       tpl="cyl8", tile=1.0, s=s)
        leaf = green_color(rng, self.st.autumn)
        radius = rng.uniform(1.3, 3.0) * big
        for _ in range(int(rng.integers(1, 4))):
            off = rng.uniform(-0.5, 0.5, 3) * radius
            sc = radius * rng.uniform(0.7, 1.2, 3) * np.array([1.0, rng.uniform(0.8, 1.3), 1.0])
            self.parts.box(fr, (off[0], trunk_h + radius * 0.7 + abs(off[1]) * 0.5, off[2]), 2 * sc,
                           leaf * rng.uniform(0.85, 1.15), "leaves", VEGETATION, tpl="ico",
                           rot=rot_yaw(rng.uniform(0, 6.3)), tile=rng.uniform(0.8, 1.5), s=s)

    def traffic_light(self, s: float, d: float, facing_yaw: float, h: float, green: bool, arm: float = 0.0,
                      arm_dir: float = 0.0) -> None:
        """Pole with a light head; the head faces +s turned by ``facing_yaw`` (pi: towards traffic driving +s); the
        optional arm reaches ``arm`` metres along the frame's z axis times ``arm_dir``."""
        rng = self.rng
        base = self.st.curb_h
        col = muted_color(rng, 0.15, 0.5, 0.2)
        fr = self.frame(s, d, base, yaw=facing_yaw)
        self.parts.box(fr, (0, (h + 0.5) / 2, 0), (0.16, h + 0.5, 0.16), col, "fine", POLE, tpl="cyl8", s=s)
        heads = [(0.0, h)]
        if arm > 0:
            self.parts.box(fr, (0, h + 0.4, arm_dir * arm / 2), (0.12, 0.12, arm), col, "fine", POLE, s=s)
            heads.append((arm_dir * arm * 0.85, h + 0.4 - 0.6))
        house = hsv(0.13, rng.uniform(0.6, 0.9), 0.8) if rng.random() < 0.2 else hsv(0, 0, rng.uniform(0.05, 0.3))
        state = 2 if green else int(rng.choice([0, 0, 1]))
        for z, hy in heads:
            self.parts.box(fr, (0.2, hy, z), (0.26, 0.85, 0.34), house, "flat", LIGHT, s=s)
            for k, lamp_col in enumerate((hsv(0.0, 0.9, 1.0), hsv(0.12, 0.9, 1.0), hsv(0.38, 0.8, 1.0))):
                on = k == state
                c = lamp_col if on else lamp_col * 0.18
                self.parts.box(fr, (0.34, hy + 0.26 - 0.26 * k, z), (0.2, 0.02, 0.2), c, "flat", LIGHT, tpl="cyl16",
                               rot=rot_pitch(np.pi / 2), flags=FLAG_EMISSIVE if on else 0.0, s=s)
        if rng.random() < 0.6:  # pedestrian light facing across the road
            side = np.sign(d) if d != 0 else 1
            self.parts.box(fr, (0, 2.4, side * 0.15), (0.22, 0.5, 0.22), house, "flat", LIGHT, s=s)

    def build_side(self, side: int) -> None:
        st, rng = self.st, self.rng
        e, lawn, walk, garden = st.edge[side], st.lawn[side], st.walk[side], st.garden[side]
        h0 = st.curb_h
        for s0, s1 in _free_segments(self.s_lo, self.s_hi, self.blocks):
            # street lamps
            s = s0 + rng.uniform(2, 20)
            spacing = rng.uniform(20, 38)
            while s < s1 - 1:
                self.lamp(s, side, e + (lawn / 2 if lawn else 0.35))
                s += spacing * rng.uniform(0.9, 1.1)
            # sign posts
            for s in np.sort(rng.uniform(s0 + 1, s1 - 1, rng.poisson(max(0.0, (s1 - s0)) * 0.045))):
                self.sign_post(float(s), side, e + (lawn / 2 if lawn else 0.3))
            # trees along the curb
            if st.trees[side]:
                s = s0 + rng.uniform(2, 8)
                gap = rng.uniform(6.5, 13)
                while s < s1 - 2:
                    d = e + (lawn / 2 if lawn else 1.0)
                    if not lawn:  # tree pit in the pavement
                        self.parts.box(self.frame(s, side * d, h0 + 0.004), (0, 0, 0), (1.3, 0.008, 1.3),
                                       st.terrain_col, st.terrain_tex, TERRAIN, s=s)
                    self.tree(s, side * d, h0)
                    s += gap * rng.uniform(0.85, 1.15)
            # bollards near the blocks' corners
            for s_b, step in ((s0 + 1.0, 1.2), (s1 - 1.0, -1.2)):
                if rng.random() < 0.4 and s1 - s0 > 8:
                    col = muted_color(rng, 0.2, 0.8, 0.5)
                    for k in range(int(rng.integers(2, 5))):
                        self.pole(s_b + k * step, side * (e + 0.3), 0.9, 0.06, col, h0)
            # parked bicycles near the building line
            if rng.random() < 0.35:
                s = rng.uniform(s0, s1)
                fr_yaw = -side * np.pi / 2
                for k in range(int(rng.integers(1, 6))):
                    p = build_bicycle(rng, rider=False)
                    base = self.frame(s + k * 0.7, side * (e + lawn + walk - 0.9), h0, yaw=fr_yaw)
                    self._add_parts(p, base, s)
            self.build_frontage(side, s0, s1)

    def _add_parts(self, p: Parts, base: np.ndarray, s: float) -> None:
        tpl, rows, _ = p.rows()
        for i in range(len(tpl)):
            m = rows[i, :16].reshape(4, 4).T
            self.parts.tpl.append(int(tpl[i]))
            self.parts.mats.append(base @ m)
            self.parts.attrs.append(tuple(rows[i, 16:]))
            self.parts.s.append(s)

    def building(self, fr: np.ndarray, width: float, depth: float, height: float, s: float) -> None:
        """A facade box in frame ``fr`` (x along the street, z away from it... centred), with shop floor and cornice."""
        rng = self.rng
        col = muted_color(rng, 0.3, 0.92, 0.45)
        tex = str(rng.choice(["windows", "windows", "windows2", "bricks", "cloudy", "tiles"]))
        tile = 3.0 if tex.startswith("windows") else rng.uniform(1.5, 3.5)
        self.parts.box(fr, (0, height / 2, 0), (width, height, depth), col, tex, BUILDING, tile=tile, s=s)
        if rng.random() < 0.5 and height > 5:
            gh = rng.uniform(3.2, 4.5)
            self.parts.box(fr, (0, gh / 2, 0), (width + 0.01, gh, depth + 0.16), muted_color(rng, 0.2, 0.9, 0.5),
                           str(rng.choice(["shop", "shop", "flat", "panels"])), BUILDING, tile=rng.uniform(3, 5), s=s)
        if rng.random() < 0.6:
            self.parts.box(fr, (0, height + 0.15, 0), (width + 0.1, 0.3, depth + 0.3), col * rng.uniform(0.5, 0.9),
                           "fine", BUILDING, s=s)
        if rng.random() < 0.25:  # pitched roof block
            rh = rng.uniform(1.5, 4)
            self.parts.box(fr, (0, height + rh / 2, 0), (width, rh, depth * 0.7), muted_color(rng, 0.15, 0.5, 0.6),
                           "tiles", BUILDING, tpl="cabin", tile=1.0, s=s)

    def build_frontage(self, side: int, s0: float, s1: float) -> None:
        st, rng = self.st, self.rng
        bl = st.building_line(side)
        h0 = st.curb_h
        s = s0 + rng.uniform(-3, 2)
        while s < s1:
            width = rng.uniform(6, 24)
            sa, sb = max(s, s0 + 0.5), min(s + width, s1 - 0.5)
            if sb - sa < 2:
                s += width
                continue
            sm, w = 0.5 * (sa + sb), sb - sa
            kind = rng.choice(["building", "gap", "park", "low"], p=[0.72, 0.1, 0.1, 0.08])
            depth = rng.uniform(8, 16)
            room = self.road.room(sa, sb, side)
            depth = min(depth, room - bl)
            if kind in ("building", "low") and depth > 2:
                height = rng.uniform(3.5, 5.5) if kind == "low" else rng.uniform(6, 26)
                self.building(self.frame(sm, side * (bl + depth / 2), h0), w - rng.uniform(0, 0.3), depth, height, sm)
            elif kind == "park":
                for _ in range(int(rng.integers(1, 4))):
                    d_tree = bl + rng.uniform(2, 15)
                    if d_tree + 3 < room:
                        self.tree(rng.uniform(sa, sb), side * d_tree, h0, big=rng.uniform(1.0, 1.6))
            # the edge of the plot: fence / wall / hedge
            if kind != "building" or st.garden[side] > 0 or rng.random() < 0.08:
                self.plot_edge(side, sa, sb, h0)
            if kind in ("gap", "park") or rng.random() < 0.3:  # background building further back
                d_back = bl + max(depth, 0.0) + rng.uniform(6, 30)
                wb, hb = w * rng.uniform(1, 2), rng.uniform(8, 32)
                if d_back + 12 < room:
                    self.building(self.frame(sm, side * (d_back + 6), h0), wb, 12, hb, sm)
            s += width + (rng.uniform(1, 6) if rng.random() < 0.15 else 0.0)
        # background row behind everything (fills the sky above low fronts)
        s = s0 + rng.uniform(-10, 0)
        while s < s1:
            w = rng.uniform(20, 50)
            room = self.road.room(s, s + w, side)
            if rng.random() < 0.7:
                d, hb = bl + rng.uniform(30, 50), rng.uniform(10, 35)
                if d + 16 < room:
                    self.building(self.frame(s + w / 2, side * (d + 8), h0), w, 16, hb, s + w / 2)
            else:
                for _ in range(3):
                    s_t, d_t, big = s + rng.uniform(0, w), bl + rng.uniform(25, 45), rng.uniform(1.3, 2.0)
                    if d_t + 5 < room:
                        self.tree(s_t, side * d_t, h0, big=big)
            s += w

    def plot_edge(self, side: int, sa: float, sb: float, h0: float) -> None:
        """A fence, wall or hedge along the plot edge (at the sidewalk/garden boundary)."""
        st, rng = self.st, self.rng
        d = st.edge[side] + st.lawn[side] + st.walk[side] + 0.15
        kind = rng.choice(["fence", "wall", "hedge", "none"], p=[0.35, 0.3, 0.25, 0.1])
        sm, w = 0.5 * (sa + sb), sb - sa
        fr = self.frame(sm, side * d, h0)
        if kind == "fence":
            h = rng.uniform(0.8, 2.0)
            tex = str(rng.choice(["mesh", "pickets", "planks"]))
            self.parts.box(fr, (0, h / 2, 0), (w, h, 0.05), muted_color(rng, 0.15, 0.8, 0.5), tex, FENCE,
                           tile=h if tex != "planks" else 2.0, s=sm)
            for k in range(int(w // 2.5) + 1):
                self.parts.box(fr, (-w / 2 + k * 2.5, h / 2, 0), (0.06, h, 0.06), hsv(0, 0, 0.3), "flat", FENCE, s=sm)
        elif kind == "wall":
            h = rng.uniform(0.4, 2.2)
            self.parts.box(fr, (0, h / 2, 0), (w, h, 0.3), muted_color(rng, 0.25, 0.85, 0.35),
                           str(rng.choice(["bricks", "cloudy", "tiles", "fine"])), WALL, tile=rng.uniform(1, 3), s=sm)
        elif kind == "hedge":
            h = rng.uniform(0.6, 1.9)
            self.parts.box(fr, (0, h / 2, 0), (w, h, rng.uniform(0.6, 1.1)), green_color(rng, st.autumn), "leaves",
                           VEGETATION, tile=1.0, s=sm)

    # -- intersections ------------------------------------------------------------------------------------------
    def build_intersection(self, it: Intersection) -> None:
        st, rng, road, g = self.st, self.rng, self.road, self.ground
        P, T = road.point(it.s, 0.0), road.tangent(it.s)
        N = np.array([T[2], 0.0, -T[0]])
        h = st.curb_h
        length = 110.0
        for side in it.sides:
            e = st.edge[side]
            centre = P + N * side * (e + length / 2)
            g.rect(centre, T, N, it.road_w / 2, length / 2, 0.0, st.road_col, st.road_tex, ROAD, tile=3.0, s=it.s)
            for off in (-1, 1):  # sidewalks along the cross street
                c = P + N * side * (e + length / 2) + T * off * (it.road_w / 2 + it.walk_w / 2)
                g.rect(c, T, N, it.walk_w / 2, length / 2, h, st.walk_col[side], st.walk_tex[side], SIDEWALK, tile=2.0,
                       s=it.s)
                # curb face along the cross road
                base = P + T * off * it.road_w / 2
                p0, p1 = base + N * side * e, base + N * side * (e + length)
                quad = np.array([p0, p1, p1 + [0, h, 0], p0 + [0, h, 0]])
                uv = np.array([[0, 0], [length, 0], [length, h], [0, h]]) / 2.0
                g.add_quads(quad[None], -T * off, uv[None], st.walk_col[side] * 0.9, "fine", SIDEWALK, s=it.s)
                # buildings along the cross street
                x = st.building_line(side) + rng.uniform(0, 3)
                while x < length:
                    w = rng.uniform(8, 22)
                    depth = rng.uniform(8, 14)
                    origin = P + N * side * (x + w / 2) + T * off * (it.road_w / 2 + it.walk_w + depth / 2)
                    self.building(frame_matrix(origin + [0, h, 0], N * side), w - 0.2, depth, rng.uniform(6, 24),
                                  it.s)
                    x += w
                # crossing over the cross street, next to the main sidewalk
                cw_d = e + st.lawn[side] + st.walk[side] * 0.5
                for k in range(int(it.road_w / 1.0)):
                    pt = P + N * side * cw_d + T * (-it.road_w / 2 + 0.5 + k * 1.0)
                    m = frame_matrix(pt + [0, 0.008, 0], T) @ np.diag([0.5, 0.01, 3.0, 1.0])
                    self.parts.add("box", m, st.mark_col * rng.uniform(0.75, 1), "fine", ROAD, s=it.s)
            # traffic lights for the cross traffic at the corners (seen from the side)
            for off in (-1, 1):
                d = side * (e + 0.6)
                self.traffic_light(it.s + off * (it.road_w / 2 + 0.8), d, side * np.pi / 2 * -1, 3.0,
                                   not it.main_green)
        # lights for the main direction (ours on the right before the crossing, the oncoming one after it)
        o0, o1 = it.opening
        arm = st.lanes[-1] * st.lane_w * rng.uniform(0.5, 0.9) if rng.random() < 0.5 else 0.0
        self.traffic_light(o0 - 5.5, -(st.edge[-1] + 0.6), np.pi, rng.uniform(2.6, 3.4), it.main_green, arm=arm,
                           arm_dir=1.0)
        self.traffic_light(o1 + 5.5, st.edge[1] + 0.6, 0.0, rng.uniform(2.6, 3.4), it.main_green)
        if rng.random() < 0.5:
            self.traffic_light(o1 + 5.5, -(st.edge[-1] + 0.6), np.pi, rng.uniform(2.6, 3.4), it.main_green)

    def build(self) -> None:
        self.build_ground()
        self.build_markings()
        for side in (-1, 1):
            self.build_side(side)
        for it in self.inters:
            self.build_intersection(it)


# ---------------------------------------------------------------------------------------------------------------
# traffic
# ---------------------------------------------------------------------------------------------------------------


def _vehicle(rng: np.random.Generator, kinds: dict[int, float]) -> tuple[Parts, float, float, int]:
    keys = list(kinds)
    probs = np.array([kinds[k] for k in keys], dtype=float)
    kind = int(rng.choice(keys, p=probs / probs.sum()))
    if kind == MOTORCYCLE:
        return build_motorcycle(rng, rider=True), 2.1, 0.8, MOTORCYCLE
    if kind == BICYCLE:
        return build_bicycle(rng, rider=True), 1.8, 0.6, BICYCLE
    p, length, width = VEHICLE_BUILDERS[kind](rng)
    return p, length, width, kind


LANE_MIX = {CAR: 0.78, TRUCK: 0.07, BUS: 0.06, MOTORCYCLE: 0.06, BICYCLE: 0.03}
PARKED_MIX = {CAR: 0.88, TRUCK: 0.04, MOTORCYCLE: 0.08}


class TrafficBuilder:
    def __init__(self, rng, road: Road, st: Street, inters: list[Intersection], ego: RoadMotion, duration: float,
                 s_lo: float, s_hi: float, static: StaticBuilder, density: float, ped_density: float,
                 ego_lanes: list[int]):
        self.rng, self.road, self.st, self.inters, self.ego = rng, road, st, inters, ego
        self.duration, self.s_lo, self.s_hi, self.static = duration, s_lo, s_hi, static
        self.density, self.ped_density, self.ego_lanes = density, ped_density, ego_lanes
        self.agents: list[Agent] = []
        self.ego_reach = ego.sd(duration)[0]
        self.queue_zones: list[tuple[float, float]] = []  # road stretches swept by the ego-lane queue

    def add(self, p: Parts, cls: int, motion, radius: float, gait=None) -> None:
        self.agents.append(make_agent(p, cls, motion, radius, gait))

    def ego_queue(self, lane: int, gap0: float) -> None:
        """Vehicles ahead in a lane of our direction that share the ego's speed profile."""
        rng, st = self.rng, self.st
        s = gap0
        while s < self.s_hi:
            mix = dict(LANE_MIX)
            if st.tram and lane == 0:
                mix[TRAIN] = 0.15
            if self.ego.profile.speed(0.0) > 8:
                mix.pop(BICYCLE, None)
            p, length, width, kind = _vehicle(rng, mix)
            m = RoadMotion(self.road, self.ego.s0 + s + length / 2, st.lane_d(-1, lane) + rng.normal(0, 0.1),
                           self.ego.profile, direction=1.0)
            self.add(p, kind, m, length / 2 + 1)
            self.queue_zones.append((self.ego.s0 + s, self.ego.s0 + s + length + (self.ego_reach - self.ego.s0)))
            s += length + rng.uniform(5, 25) / self.density + (rng.uniform(10, 80) if rng.random() < 0.4 else 0)

    def lane_traffic(self, side: int, lane: int, speed: float, s_start: float, s_end: float,
                     mix: dict[int, float]) -> None:
        rng, st = self.rng, self.st
        direction = -float(side)  # right side (side -1) drives towards +s
        d = st.lane_d(side, lane)
        s = s_start + rng.uniform(0, 15)
        prof = SpeedProfile(speed, self.duration)
        if speed > 8:  # nobody cycles at car speed
            mix = {k: v for k, v in mix.items() if k != BICYCLE}
        while s < s_end:
            p, length, width, kind = _vehicle(rng, mix)
            jitter = rng.normal(0, 0.15) if kind not in (MOTORCYCLE, BICYCLE) else rng.uniform(-0.8, 0.8)
            self.add(p, kind, RoadMotion(self.road, s + length / 2, d + jitter, prof, direction=direction),
                     length / 2 + 1)
            s += length + rng.uniform(4, 30) / self.density + (rng.uniform(10, 60) if rng.random() < 0.3 else 0)

    def build(self) -> None:
        rng, st, dur = self.rng, self.st, self.duration
        ego_v = self.ego.profile.speed(0.0)
        reach = self.ego_reach
        # same direction, other lanes
        for lane in range(st.lanes[-1]):
            if lane in self.ego_lanes:
                continue
            v = max(0.0, ego_v + rng.uniform(-3, 4)) if rng.random() > 0.15 else 0.0
            mix = dict(LANE_MIX)
            if st.tram and lane == 0:
                mix[TRAIN] = 0.15
            self.lane_traffic(-1, lane, v, self.s_lo - v * dur * 0.3, self.s_hi, mix)
        # the ego lane (and the target lane of a lane change): queues that move like the ego, so nothing collides
        for lane in self.ego_lanes:
            if rng.random() < 0.7 or lane != self.ego_lanes[0]:
                self.ego_queue(lane, rng.uniform(7, 30) if lane == self.ego_lanes[0] else rng.uniform(12, 40))
        # oncoming lanes
        for lane in range(st.lanes[1]):
            v = rng.uniform(4, 11) if rng.random() > 0.12 else 0.0
            mix = dict(LANE_MIX)
            if st.tram and lane == 0:
                mix[TRAIN] = 0.12
            self.lane_traffic(1, lane, v, self.s_lo, self.s_hi + v * dur, mix)
        # cyclists in bike lanes
        for side in (-1, 1):
            if not st.bike[side]:
                continue
            d_bike = side * (st.lanes[side] * st.lane_w + st.bike[side] / 2)
            n = rng.poisson((self.s_hi - self.s_lo) * 0.015 * self.density)
            for s in rng.uniform(self.s_lo, self.s_hi, n):
                p = build_bicycle(rng, rider=True)
                self.add(p, BICYCLE, RoadMotion(self.road, float(s), d_bike + rng.normal(0, 0.15),
                                                SpeedProfile(rng.uniform(3, 7), dur), direction=-float(side)), 1.5)
        self.parked()
        self.pedestrians()
        self.cross_traffic()

    def parked(self) -> None:
        rng, st = self.rng, self.st
        for side in (-1, 1):
            if not st.park[side]:
                continue
            d = side * (st.lanes[side] * st.lane_w + st.bike[side] + st.park[side] / 2)
            zones = self.static.blocks + self.static.crossings
            s = self.s_lo + rng.uniform(0, 5)
            fill = rng.uniform(0.4, 0.95)
            while s < self.s_hi:
                p, length, width, kind = _vehicle(rng, PARKED_MIX)
                if kind == MOTORCYCLE:
                    p = build_motorcycle(rng, rider=False)
                if rng.random() < fill and not _zones_overlap(s - 1, s + length + 1, zones):
                    yaw = (0.0 if side < 0 else np.pi) + rng.normal(0, 0.02)
                    base = self.road.frame(s + length / 2, d + rng.normal(0, 0.1), 0.0, yaw=yaw)
                    self.static._add_parts(p, base, s + length / 2)
                s += length + rng.uniform(0.6, 3.0)

    def pedestrians(self) -> None:
        rng, st, dur = self.rng, self.st, self.duration
        for side in (-1, 1):
            d0 = st.edge[side] + st.lawn[side] + 0.4
            d1 = st.edge[side] + st.lawn[side] + st.walk[side] - 0.4
            n = rng.poisson((self.s_hi - self.s_lo) * self.ped_density)
            for s in rng.uniform(self.s_lo, self.s_hi, n):
                group = int(rng.choice([1, 1, 1, 2, 2, 3]))
                walking = rng.random() < 0.75
                v = rng.uniform(0.9, 1.8) if walking else 0.0
                direction = float(rng.choice([-1, 1]))
                d = side * rng.uniform(d0, max(d0, d1))
                for k in range(group):
                    p, gait = build_person(rng)
                    if not walking:
                        gait.amp_leg, gait.amp_arm = 0.0, 0.05
                    m = RoadMotion(self.road, float(s) + k * rng.uniform(0.4, 0.9), d + side * k * 0.6,
                                   SpeedProfile(v, dur), direction=direction,
                                   facing=None if walking else rng.uniform(0, 2 * np.pi))
                    self.add(p, PERSON, m, 1.0, gait)
        # people crossing the road at the crossings the ego will not reach
        for it in self.inters:
            for cw_s in (it.opening[0] - 2.6, it.opening[1] + 2.6):
                if cw_s < self.ego_reach + 8 and cw_s > self.ego.s0 - 5:
                    continue
                if _zones_overlap(cw_s - 3, cw_s + 3, self.queue_zones):
                    continue
                for _ in range(rng.poisson(1.2 * self.density)):
                    direction = float(rng.choice([-1, 1]))
                    width = st.edge[-1] + st.edge[1]
                    v = rng.uniform(1.0, 1.7)
                    start = rng.uniform(-0.3, 1.0) * width  # somewhere along the crossing at t = 0
                    d_start = -direction * (width / 2) + direction * start + (st.edge[1] - st.edge[-1]) / 2
                    p, gait = build_person(rng)
                    self.add(p, PERSON, RoadMotion(self.road, cw_s + rng.uniform(-1.2, 1.2), d_start,
                                                   SpeedProfile(v, dur), direction=direction, across=True), 1.0, gait)

    def cross_traffic(self) -> None:
        """Traffic on the cross streets: waiting at the line when the ego crosses, otherwise driving through."""
        rng, st, dur = self.rng, self.st, self.duration
        for it in self.inters:
            P, T = self.road.point(it.s, 0.0), self.road.tangent(it.s)
            N = np.array([T[2], 0.0, -T[0]])
            ego_crosses = self.ego_reach + 6 > it.opening[0] and self.ego.s0 < it.opening[1] + 3
            for side in it.sides:
                e = st.edge[side]
                for lane_off, towards in ((-it.road_w / 4, 1.0), (it.road_w / 4, -1.0)):
                    # towards = +1: drives towards the main road along -N*side
                    toward_dir = -N * side if towards > 0 else N * side
                    # right-hand traffic on the cross street: pick the lateral offset matching the direction
                    off = lane_off if side * towards > 0 else -lane_off
                    moving = (not ego_crosses) and (not it.main_green) and rng.random() < 0.8
                    x = e + (2.0 if towards > 0 else -15.0 if moving else 6.0)
                    count = int(rng.integers(0, 4))
                    for _ in range(count):
                        p, length, width, kind = _vehicle(rng, LANE_MIX)
                        x += length / 2
                        v = rng.uniform(3, 9) if (moving or towards < 0) else 0.0
                        origin = P + N * side * x + T * off
                        if towards > 0 and v > 0:  # start further out so they arrive during the clip
                            origin = origin + N * side * v * dur * rng.uniform(0.3, 1.0)
                        self.add(p, kind, LineMotion(origin, toward_dir, SpeedProfile(v, dur)), length / 2 + 1)
                        x += length / 2 + rng.uniform(2, 12)


# ---------------------------------------------------------------------------------------------------------------
# ego drives and the whole world
# ---------------------------------------------------------------------------------------------------------------


def _ego_profile(rng: np.random.Generator, duration: float, drive: str) -> tuple[SpeedProfile, str]:
    if drive == "drive":  # long: cruise, brake to a stop, wait, pull off, ...
        v0 = rng.uniform(6, 11)
        segs, t, v = [], 0.0, v0
        while t < duration:
            cruise = rng.uniform(3, 8)
            segs.append((t, rng.uniform(-0.3, 0.3)))
            t += cruise
            brake = rng.uniform(2.0, 3.5)
            segs.append((t, -brake))
            t += v / brake + rng.uniform(0.5, 3.0)
            acc = rng.uniform(1.5, 2.5)
            segs.append((t, acc))
            v = rng.uniform(8, 13)
            t += v / acc
        return SpeedProfile(v0, duration, segs, vmax=13.5), "drive"
    scenario = str(rng.choice(SEQUENCE_SCENARIOS, p=SCENARIO_WEIGHTS))
    if scenario in ("cruise", "lane_change"):
        return SpeedProfile(rng.uniform(3.5, 8.5), duration, [(0.0, rng.normal(0, 0.3))]), scenario
    if scenario == "slow":
        return SpeedProfile(rng.uniform(1.5, 5), duration), scenario
    if scenario == "stopped":
        return SpeedProfile(0.0, duration), scenario
    if scenario == "brake":
        return SpeedProfile(rng.uniform(4, 10), duration, [(0.0, 0.0), (rng.uniform(0, 0.5), -rng.uniform(2, 4))]), \
            scenario
    if scenario == "accelerate":
        return SpeedProfile(rng.uniform(0, 4), duration, [(0.0, rng.uniform(1.0, 2.5))]), scenario
    return SpeedProfile(rng.uniform(4, 8), duration, [(0.0, rng.normal(0, 0.3))]), "turn"


def _curvature(rng: np.random.Generator, s_lo: float, s_hi: float, scenario: str) -> tuple[np.ndarray, np.ndarray]:
    knots = [s_lo - 10.0]
    s = s_lo
    while s < s_hi + 10:
        s += rng.uniform(30, 90)
        knots.append(s)
    knots = np.array(knots)
    kappa = np.where(rng.random(len(knots)) < 0.6, 0.0, rng.normal(0, 1 / 150, len(knots)))
    if scenario == "turn":  # a real bend right where the ego drives
        k = rng.choice([-1, 1]) * rng.uniform(1 / 100, 1 / 45)
        knots = np.concatenate([knots, [-25.0, -8.0, 45.0, 60.0]])
        kappa = np.concatenate([kappa, [0.0, k, k, 0.0]])
        keep = (knots <= -25.0) | (knots >= 60.0) | np.isin(knots, [-8.0, 45.0])
        knots, kappa = knots[keep], kappa[keep]
        order = np.argsort(knots)
        knots, kappa = knots[order], kappa[order]
    elif scenario == "drive":
        bends = rng.random(len(knots)) < 0.25
        kappa = np.where(bends, rng.choice([-1, 1], len(knots)) * rng.uniform(1 / 120, 1 / 45, len(knots)), kappa)
    return knots, kappa


def generate_world(rng: np.random.Generator, duration: float, drive: str = "sequence") -> World:
    """Draw one world from ``rng`` for ``duration`` seconds of ego driving."""
    profile, scenario = _ego_profile(rng, duration, drive)
    travel = profile.distance(duration)
    s_lo, s_hi = -VIEW_BEHIND - 20.0, travel + VIEW_AHEAD + 30.0
    knots, kappa = _curvature(rng, s_lo, s_hi, scenario)
    road = Road(s_lo - 5, s_hi + 5, knots, kappa, heading0=rng.uniform(0, 2 * np.pi))
    st = Street(rng)
    # intersections
    inters: list[Intersection] = []
    if drive == "drive":
        s = rng.uniform(30, 80)
        while s < s_hi - 20:
            inters.append(Intersection(rng, s))
            s += rng.uniform(70, 160)
    else:
        if rng.random() < 0.55:
            inters.append(Intersection(rng, rng.uniform(14, 110) + travel * 0.5))
        if rng.random() < 0.3:
            inters.append(Intersection(rng, rng.uniform(140, 230)))
        inters = [it for i, it in enumerate(inters)
                  if all(abs(it.s - o.s) > 30 for o in inters[:i])]
    # cross streets are straight: keep intersections where the main road is straight too (else they cut the bend)
    inters = [it for it in inters if road.straight(it.s, 30.0)]
    static = StaticBuilder(rng, road, st, inters, s_lo, s_hi)
    static.build()
    # the ego: a lane of our direction (mostly the rightmost), maybe changing lane
    n = st.lanes[-1]
    ego_lane = n - 1 if rng.random() < 0.6 else int(rng.integers(0, n))
    d0 = st.lane_d(-1, ego_lane) + rng.normal(0, 0.2)
    d1, t_change = None, 0.0
    ego_lanes = [ego_lane]
    if scenario == "lane_change" and n > 1:
        other = ego_lane - 1 if ego_lane > 0 else ego_lane + 1
        d1, t_change = st.lane_d(-1, other), rng.uniform(-1.5, 0.5)
        ego_lanes.append(other)
    ego_motion = RoadMotion(road, 0.0, d0, profile, 1.0, d1=d1, t_change=t_change, change_time=rng.uniform(3.5, 5))
    ego = Ego(motion=ego_motion, cam_height=rng.uniform(1.2, 1.5), pitch=rng.uniform(0.0, 0.05),
              bob_amp=rng.uniform(0.0005, 0.004), bob_freq=rng.uniform(0.8, 2.5), bob_phase=rng.uniform(0, 6.3))
    density = float(np.exp(rng.uniform(np.log(0.5), np.log(1.8))))
    ped_density = float(np.exp(rng.uniform(np.log(0.02), np.log(0.25))))
    traffic = TrafficBuilder(rng, road, st, inters, ego_motion, duration, s_lo, s_hi, static, density, ped_density,
                             ego_lanes)
    traffic.build()
    tpl, rows, s_arr = static.parts.rows()
    order = np.argsort(s_arr, kind="stable")
    look = Appearance.random(rng)
    return World(road=road, ground=static.ground.vertices(), static_tpl=tpl[order], static_rows=rows[order],
                 static_s=s_arr[order], agents=traffic.agents, ego=ego, look=look, duration=duration,
                 meta={"scenario": scenario, "intersections": len(inters), "tram": st.tram,
                       "lanes": dict(st.lanes), "density": density, "ped_density": ped_density})
