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

The world is assembled from :mod:`~swiftcast.synth.road` (centre line, ground), :mod:`~swiftcast.synth.parts`
(template instances, class ids), :mod:`~swiftcast.synth.motion` (speed profiles, agents) and
:mod:`~swiftcast.synth.actors` (vehicle and people models); this module holds the camera, the per-world look and
what each frame draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from swiftcast.synth.geometry import frame_matrix, rot_yaw, scale, translate
from swiftcast.synth.meshes import LOD, TEMPLATE_INDEX, TEX
from swiftcast.synth.motion import Agent, AgentPack, RoadMotion
from swiftcast.synth.palette import hsv
from swiftcast.synth.parts import SKY
from swiftcast.synth.render import FLAG_SKY, INSTANCE_FLOATS, FrameDraw, Lighting, perspective
from swiftcast.synth.road import Road

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


def frustum_visible(view: np.ndarray, centres: np.ndarray, radii: np.ndarray, intr: "Intrinsics",
                    far: float) -> np.ndarray:
    """Conservative sphere-vs-frustum test (camera looks along -z of the view matrix)."""
    cam = centres @ view[:3, :3].T + view[:3, 3]
    z = -cam[:, 2]
    tx = (intr.width / 2 + 1) / intr.fx
    ty = (intr.height / 2 + 1) / intr.fy
    return ((z > -radii) & (z < far + radii) & (np.abs(cam[:, 0]) <= z * tx + radii * np.sqrt(1 + tx * tx))
            & (np.abs(cam[:, 1]) <= z * ty + radii * np.sqrt(1 + ty * ty)))


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
