"""How things move: speed profiles, motion along the road or along a straight line, walking gaits, and the
agents that combine parts with a motion (packed into flat arrays so a frame poses them all at once)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from swiftcast.synth.parts import Parts
from swiftcast.synth.render import INSTANCE_FLOATS
from swiftcast.synth.road import Road


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
