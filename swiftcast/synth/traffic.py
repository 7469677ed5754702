"""The moving traffic of one world: queues ahead of the ego, other lanes, oncoming traffic, cyclists, parked
vehicles, pedestrians and cross-street traffic. Densities and speeds here set how hard forecasting is."""

from __future__ import annotations

import numpy as np

from swiftcast.synth.actors import VEHICLE_BUILDERS, build_bicycle, build_motorcycle, build_person
from swiftcast.synth.motion import Agent, LineMotion, RoadMotion, SpeedProfile, make_agent
from swiftcast.synth.parts import BICYCLE, BUS, CAR, MOTORCYCLE, PERSON, TRAIN, TRUCK, Parts
from swiftcast.synth.road import Road
from swiftcast.synth.scenery import StaticBuilder
from swiftcast.synth.street import Intersection, Street, zones_overlap


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
    """The moving agents of one world, drawn lane by lane; parked vehicles go into the static scene."""

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
                if rng.random() < fill and not zones_overlap(s - 1, s + length + 1, zones):
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
                if zones_overlap(cw_s - 3, cw_s + 3, self.queue_zones):
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
