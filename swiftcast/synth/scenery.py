"""The static scene of one world: ground, markings, street furniture, trees, fences and buildings along the street
and its cross streets, drawn from the generator in a fixed order."""

from __future__ import annotations

import numpy as np

from swiftcast.synth.actors import build_bicycle
from swiftcast.synth.geometry import frame_matrix, rot_pitch, rot_yaw
from swiftcast.synth.palette import any_color, green_color, hsv, muted_color
from swiftcast.synth.parts import BUILDING, FENCE, LIGHT, POLE, ROAD, SIDEWALK, SIGN, TERRAIN, VEGETATION, WALL, Parts
from swiftcast.synth.render import FLAG_EMISSIVE
from swiftcast.synth.road import Ground, Road
from swiftcast.synth.street import Intersection, Street, free_segments, zones_overlap


class StaticBuilder:
    """Everything that does not move, as template parts and ground triangles; parked vehicles join it."""

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
            for s0, s1 in free_segments(a, b, self.openings):
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
            starts = np.array([x for x in starts if not zones_overlap(x - 1, x + piece + 1, self.openings)])
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
        for s0, s1 in free_segments(self.s_lo, self.s_hi, self.blocks):
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
