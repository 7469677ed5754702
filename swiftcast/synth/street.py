"""The street's cross-section (lanes, bike and parking lanes, sidewalks, gardens) and its intersections, drawn per
world; zone helpers keep furniture, markings and parked cars out of the openings and crossings."""

from __future__ import annotations

import numpy as np

from swiftcast.synth.palette import green_color, hsv, muted_color


def zones_overlap(a: float, b: float, zones: list[tuple[float, float]]) -> bool:
    """Whether [a, b] meets any of the (start, end) zones."""
    return any(a < z1 and b > z0 for z0, z1 in zones)


def free_segments(s0: float, s1: float, zones: list[tuple[float, float]]) -> list[tuple[float, float]]:
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
