"""Procedural generation of one world: street layout, furniture, buildings, traffic and the ego drive.

``generate_world(rng, duration)`` draws everything from ``rng`` in a fixed order, so a seed fully determines the
world. Two kinds of drives: ``"sequence"`` (one short scenario: cruise, brake, accelerate, stopped, turn, lane
change) and ``"drive"`` (a long continuous drive alternating cruising, braking to a stop, waiting and pulling off,
for rosbags). Traffic densities and speeds are the knobs that set how hard forecasting is (see README.md).

The street and its intersections are in :mod:`~swiftcast.synth.street`, what stands still in
:mod:`~swiftcast.synth.scenery`, what moves in :mod:`~swiftcast.synth.traffic`; this module draws the ego drive and
puts them together.
"""

from __future__ import annotations

import numpy as np

from swiftcast.synth.motion import RoadMotion, SpeedProfile
from swiftcast.synth.road import Road
from swiftcast.synth.scenery import StaticBuilder
from swiftcast.synth.street import Intersection, Street
from swiftcast.synth.traffic import TrafficBuilder
from swiftcast.synth.world import VIEW_AHEAD, VIEW_BEHIND, Appearance, Ego, World

SEQUENCE_SCENARIOS = ("cruise", "slow", "stopped", "brake", "accelerate", "turn", "lane_change")
SCENARIO_WEIGHTS = (0.23, 0.17, 0.19, 0.14, 0.14, 0.08, 0.05)


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
