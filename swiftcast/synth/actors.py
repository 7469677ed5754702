"""Object models of the road users: cars, vans, trucks, buses, trams, people, bicycles and motorcycles with their
riders, each built from templates in its own frame (x forward, y up, z right, origin on the ground at the centre)."""

from __future__ import annotations

import numpy as np

from swiftcast.synth.geometry import rot_roll
from swiftcast.synth.motion import Gait
from swiftcast.synth.palette import any_color, hsv, skin_color
from swiftcast.synth.parts import BICYCLE, BUS, CAR, MOTORCYCLE, PERSON, RIDER, TRAIN, TRUCK, Parts
from swiftcast.synth.render import FLAG_EMISSIVE

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
