"""Flow extrapolation: forecast the labels of a future frame by carrying the image motion on.

The newest frame's single-frame labels already say what is where; what a forecast has to add is where it will be.
Dense optical flow from the newest frame back to the one before it (OpenCV's DIS, Kroeger et al., ECCV 2016) says,
for every pixel, how its content moved in the last frame period. The forecast carries every labelled pixel on:

- **along its own path** (forward projection): a pixel's content is moved to where it will be, and drawn there;
  reading each future pixel from where the flow *at that pixel* came from (backward warping) instead lets a thin
  pole or a car's front edge stay put while the background behind it moves, because the flow of the present is not
  the flow of the future;
- **with the camera's own motion**: the flow of the static world (road, buildings, poles, vegetation, sky) is the
  camera turning and heading somewhere; fitted to it, the turn is taken out of every pixel's flow, and static
  points move in 3-D as the camera goes on: forwards towards where it heads and turning about its vertical axis at
  the same rate (pitching and rolling swing back, so they are not carried on), each by its own nearness (measured
  over the last span and, when the past frame's flow is known, the two last spans). Vehicles and people moving
  along the camera's heading (parked, or driving along the road) move the same way with a nearness of their own;
- **with a constant time to contact** for the rest (crossing traffic): a camera driving forwards sees every point
  move away from where it heads ever faster as it approaches (``r(t) = r0 · T / (T - t)`` for a point that would
  reach the camera in ``T``). The radial part of a pixel's flow gives its ``T``; the rest of the flow is carried
  on at constant velocity;
- **nearer things drawn over farther ones** where projected pixels land on the same place, by class: the sky behind
  the ground, the ground behind buildings and vegetation, those behind poles and signs, everything behind people
  and vehicles (the layers of :func:`layer_table`, from cityscapesScripts' categories);
- where nothing lands (gaps in what the forecast magnifies, the edges of the view, what the motion uncovers), the
  label drawn nearest.

All of this is worked out on a grid at most :data:`DEFAULT_PROJECTION_WIDTH` pixels wide (the labels brought down to
it), and every pixel of the forecast at the camera size reads its label back from the newest labels where what landed
on its grid cell came from (:func:`swiftcast.forecast.splat.splat_read_back`): the drawing costs what the grid costs,
while the labels keep their detail.

It needs no training and no features, costs one flow computation and a small fit per frame and a projection per
horizon, and works at any camera rate: the horizon is counted in flow spans of the actual time between the two
frames. Zero motion reproduces copy-last exactly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

import cv2
import numpy as np

from swiftcast.forecast.compiled import compiled, kernel_array
from swiftcast.forecast.splat import splat_labels, splat_read_back

if TYPE_CHECKING:
    from swiftcast.forecast.protocol import Horizon

#: DIS settings by name: OpenCV's presets, and ``fine`` (the default): ultrafast's patch search carried down to half
#: resolution on patches 5 pixels apart, then two variational refinement passes, so thin poles and signs move with
#: their own flow instead of the background's. On the synthetic val ``fine`` costs about twice ``fast`` and
#: forecasts 0.5-0.6 mIoU better at +3 frames; ``medium`` costs about twice ``fine`` for at most 0.3 more. Patches
#: 4 pixels apart (ultrafast's own spacing) cost 25 % more for 0.07 mIoU more at +9 frames (mean of three seeds)
PRESETS: dict[str, tuple[int, dict[str, int]]] = {
    "ultrafast": (cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, {}),
    "fast": (cv2.DISOPTICAL_FLOW_PRESET_FAST, {}),
    "fine": (cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
             {"FinestScale": 1, "PatchStride": 5, "VariationalRefinementIterations": 2}),
    "medium": (cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, {}),
}
DEFAULT_PRESET = "fine"
#: flow is computed on a grey image at most this wide (the segmentation model's input width): finer adds cost,
#: not accuracy
DEFAULT_FLOW_WIDTH = 512
#: the labels are projected on a grid at most this wide and read back at their own size (see
#: :func:`swiftcast.forecast.splat.splat_read_back`): the projection's cost no longer grows with the camera size
DEFAULT_PROJECTION_WIDTH = 192
#: the flow reaches back this many frame periods: one, the shortest and most accurate motion there is
FLOW_SPAN_FRAMES = 1
#: a live flow reaches back to a frame at most this many preferred spans before the newest one
MAX_SPAN_FACTOR = 4
#: the live stream keeps the flows of this many latest frames (the next frame's motion brings its past frame's)
FLOWS_KEPT = 4
#: the most flow spans a forecast may reach ahead (a horizon far beyond the frames' spacing is a guess, not a
#: forecast); 30 for the mid horizon (9 periods) when a fast camera's frames are a third of a period apart
MAX_STEPS = 32.0
#: a point is carried on at most this share of its time to contact (a point about to hit the camera would
#: otherwise be sent to infinity)
MAX_CONTACT_SHARE = 0.85
#: the expansion of the flow is measured over cells of this many pixels (wider than a flow patch, narrower than
#: most objects)
DIVERGENCE_CELL = 8
#: the camera's focal length as a share of the image width: Cityscapes' camera (the synthetic world renders with
#: it too). The camera motion fit needs it only for the small second-order terms of a rotation's image motion: on
#: the synthetic val, 0.6 or 1.6 times it forecasts within 0.05 mIoU of the true one
FOCAL_PER_WIDTH = 2262.52 / 2048.0
#: cityscapesScripts' categories that stand still in the world: their flow is the camera's own motion
STATIC_CATEGORIES = ("flat", "construction", "object", "nature", "sky")
#: the camera's motion is fitted to about this many static pixels, spread evenly over them; with static pixels in under
#: MIN_FIT_SHARE of the view (a bus filling the frame), or under MIN_FIT_POINTS, the camera's motion is not estimated
FIT_POINTS = 1500
MIN_FIT_SHARE = 0.004
MIN_FIT_POINTS = 50
#: reweighted least-squares rounds of the camera motion fit
FIT_ROUNDS = 5
#: the most a static point may approach in one span, as a share of its distance (a larger flow is noise)
MAX_STATIC_RATE = 0.5
#: a vehicle or person whose motion across the rays from the focus of expansion is under this share of the image
#: width per span moves along the camera's heading (parked, or driving along the road): it is carried like the static
#: world, with its own nearness, which may be negative (pulling away) down to -MAX_RECEDING_RATE of its distance
ALONG_HEADING = 1 / 512
MAX_RECEDING_RATE = 0.3
#: ... and if its rate and its surroundings' (see :func:`expansion_rate`) differ by less than this
RATE_AGREEMENT = 0.1
#: drawing order of cityscapesScripts' categories, farthest first (see :func:`layer_table`)
CATEGORY_LAYERS = {"void": 0, "sky": 0, "flat": 1, "construction": 2, "nature": 2, "object": 3, "human": 4,
                   "vehicle": 4}


def to_gray(image: np.ndarray) -> np.ndarray:
    """(H, W) uint8 grey from an (H, W, 3) RGB or (H, W) grey uint8 image."""
    if image.ndim == 2:
        return np.ascontiguousarray(image, dtype=np.uint8)
    return cv2.cvtColor(np.ascontiguousarray(image, dtype=np.uint8), cv2.COLOR_RGB2GRAY)


def create_dis(preset: str) -> cv2.DISOpticalFlow:
    """OpenCV's DIS optical flow with the settings of :data:`PRESETS` ``preset``."""
    check_preset(preset)
    base, settings = PRESETS[preset]
    dis = cv2.DISOpticalFlow_create(base)
    for name, value in settings.items():
        getattr(dis, f"set{name}")(value)
    return dis


def check_preset(preset: str) -> None:
    """A DIS preset name of :data:`PRESETS` (ValueError says which there are)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown flow preset {preset!r}; choose from {', '.join(PRESETS)}")


@lru_cache(maxsize=8)
def _grid(height: int, width: int) -> np.ndarray:
    """(H, W, 2) float32 pixel coordinates (x, y) of an image size, made once per size: every forecast of a stream
    remaps on the same grid, and one two-channel map is what ``cv2.remap`` reads fastest."""
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    grid = np.ascontiguousarray(np.stack([xs, ys], -1))
    grid.setflags(write=False)
    return grid


def _at_size(field: np.ndarray, height: int, width: int) -> np.ndarray:
    """A displacement field (h, w, 2) in pixels, resized and rescaled to (height, width): averaged over the pixels
    of a smaller size (not sampled: a noisy flow would alias), interpolated to a larger one."""
    if field.shape[:2] == (height, width):
        return field
    scale = np.array([width / field.shape[1], height / field.shape[0]], np.float32)
    shrink = width < field.shape[1] and height < field.shape[0]
    return cv2.resize(field, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR) * scale


def _check_steps(steps: float) -> None:
    if not 0.0 <= steps <= MAX_STEPS:
        raise ValueError(f"{steps:.2f} flow steps: outside 0..{MAX_STEPS:g}")


def _sample(image: np.ndarray, points: np.ndarray, interpolation: int) -> np.ndarray:
    """``image`` read at ``points`` (N, 2) x, y (the image border extends outwards): one remap, however few points."""
    count, row = len(points), 4096  # remap maps must be under 32767 wide
    rows = -(-count // row)
    grid = np.zeros((rows * row, 2), np.float32)
    grid[:count] = points
    values = cv2.remap(image, grid.reshape(rows, row, 2), None, interpolation, borderMode=cv2.BORDER_REPLICATE)
    return values.reshape(rows * row, *image.shape[2:])[:count]


def follow_flow(flow: np.ndarray, points: np.ndarray, steps: float) -> np.ndarray:
    """Where ``points`` (N, 2) x, y end up after following ``flow`` (H, W, 2) ``steps`` times, each step read where
    the previous one ended (a fractional last step follows that share of it; the image border extends outwards)."""
    _check_steps(steps)
    position = np.array(points, np.float32, copy=True).reshape(-1, 2)
    remaining = float(steps)
    while remaining > 1e-6:
        share = min(1.0, remaining)
        position += np.float32(share) * _sample(flow, position, cv2.INTER_LINEAR)
        remaining -= share
    return position


def layer_table(categories: dict[str, int] | None = None) -> np.ndarray:
    """(256,) uint8: the drawing layer of every trainId (farther first), from its cityscapesScripts category.

    Labels outside the 19 classes (ignore) are drawn first, like the sky."""
    from swiftcast.data.labels import TRAIN_LABELS

    layers = categories or CATEGORY_LAYERS
    table = np.zeros(256, np.uint8)
    for label in TRAIN_LABELS:
        table[label.trainId] = layers.get(label.category, 2)
    return table


#: the layers of the Cityscapes trainIds every forecast draws in
TRAIN_ID_LAYERS = layer_table()


def static_table(categories: tuple[str, ...] = STATIC_CATEGORIES) -> np.ndarray:
    """(256,) bool: whether a trainId's category stands still in the world (ground, buildings, poles, nature, sky)."""
    from swiftcast.data.labels import TRAIN_LABELS

    table = np.zeros(256, bool)
    for label in TRAIN_LABELS:
        table[label.trainId] = label.category in categories
    return table


#: which Cityscapes trainIds show the static world
STATIC_TRAIN_IDS = static_table()


@lru_cache(maxsize=8)
def _rays(height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x and y of every pixel relative to the image centre, and one over the squared distance (made once per size)."""
    grid = _grid(height, width)
    rx = np.ascontiguousarray(grid[..., 0] - np.float32((width - 1) / 2))
    ry = np.ascontiguousarray(grid[..., 1] - np.float32((height - 1) / 2))
    inverse = 1 / (rx * rx + ry * ry + np.float32(1e-3))
    for a in (rx, ry, inverse):
        a.setflags(write=False)
    return rx, ry, inverse


def _rays_from(height: int, width: int, focus: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_rays` relative to ``focus`` (x, y pixels from the image centre; None: the centre)."""
    rx, ry, inverse = _rays(height, width)
    if focus is None:
        return rx, ry, inverse
    rx, ry = rx - np.float32(focus[0]), ry - np.float32(focus[1])
    return rx, ry, 1 / (rx * rx + ry * ry + np.float32(1e-3))


def _rotation(axis: int, angle: float) -> np.ndarray:
    """(3, 3) rotation by ``angle`` about camera axis x (0, pitch), y (1, yaw) or z (2, roll); x right, y down."""
    c, s = np.cos(angle), np.sin(angle)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    rotation = np.eye(3)
    rotation[i, i], rotation[i, j], rotation[j, i], rotation[j, j] = c, -s, s, c
    return rotation


@lru_cache(maxsize=4)
def rotation_basis(height: int, width: int, focal: float) -> np.ndarray:
    """(3, H, W, 2) float32: the image motion of every pixel per radian of the scene turning about the camera's x,
    y and z axes (pitch, yaw, roll), for a pinhole camera of ``focal`` pixels centred on the image."""
    rx, ry, _ = _rays(height, width)
    x, y, step = rx.astype(np.float64), ry.astype(np.float64), 1e-4
    rays = np.stack([x / focal, y / focal, np.ones_like(x)], -1)
    basis = []
    for axis in range(3):
        turned = rays @ _rotation(axis, step).T
        basis.append(np.stack([focal * turned[..., 0] / turned[..., 2] - x,
                               focal * turned[..., 1] / turned[..., 2] - y], -1) / step)
    out = np.ascontiguousarray(np.stack(basis), dtype=np.float32)
    out.setflags(write=False)
    return out


def _solve(normal: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Least squares from its normal equations, nudged so that no motion at all solves to zero."""
    return np.linalg.solve(normal + np.eye(len(normal)) * (1e-9 * np.trace(normal) + 1e-12), rhs)


@compiled
def _gauss_newton_terms(x: np.ndarray, y: np.ndarray, vx: np.ndarray, vy: np.ndarray, basis: np.ndarray,
                        rotation: np.ndarray, focus: np.ndarray, weight: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One round of :func:`fit_camera_motion`: the weighted normal equations of the step in (rotation, focus), and
    every pixel's misfit over its distance from the focus (float64 throughout).

    A static pixel's motion ``v`` less the rotation's image motion points away from the focus: the misfit is the
    cross product of that with the pixel's ray from the focus."""
    normal, rhs = np.zeros((5, 5)), np.zeros(5)
    misfits = np.empty(len(x))
    row = np.empty(5)
    for k in range(len(x)):
        ux = vx[k] - (basis[k, 0, 0] * rotation[0] + basis[k, 0, 1] * rotation[1] + basis[k, 0, 2] * rotation[2])
        uy = vy[k] - (basis[k, 1, 0] * rotation[0] + basis[k, 1, 1] * rotation[1] + basis[k, 1, 2] * rotation[2])
        dx, dy = x[k] - focus[0], y[k] - focus[1]
        misfit = dx * uy - dy * ux
        for axis in range(3):
            row[axis] = dy * basis[k, 0, axis] - dx * basis[k, 1, axis]
        row[3], row[4] = -uy, ux
        w2 = weight[k] * weight[k]
        for a in range(5):
            rhs[a] -= w2 * row[a] * misfit
            for b in range(5):
                normal[a, b] += w2 * row[a] * row[b]
        misfits[k] = misfit / (np.hypot(dx, dy) + 1)
    return normal, rhs, misfits


@dataclass(frozen=True)
class CameraMotion:
    """The camera's own motion over one flow span, as the static world shows it (see :func:`fit_camera_motion`).

    ``rotation``: radians the scene turned about the camera's x, y, z axes; ``focus``: where the camera heads (the
    focus of expansion), x and y pixels from the image centre; ``focal``: the focal length in pixels."""

    rotation: np.ndarray
    focus: np.ndarray
    focal: float

    def rotation_flow(self, height: int, width: int, rotation: np.ndarray | None = None) -> np.ndarray:
        """(H, W, 2) image motion of ``rotation`` (default: this span's) at every pixel."""
        turn = self.rotation if rotation is None else rotation
        basis = rotation_basis(height, width, self.focal)
        flow = np.zeros((height, width, 2), np.float32)
        for axis in np.flatnonzero(turn):
            flow += basis[axis] * np.float32(turn[axis])
        return flow


def fit_camera_motion(flow: np.ndarray, static: np.ndarray, focal: float) -> CameraMotion | None:
    """The camera's rotation and heading over one span of ``flow`` (backward, (H, W, 2)), from the pixels where
    ``static`` (H, W) bool is set; None with too few of them (:data:`MIN_FIT_SHARE` of the view).

    What is left of a static pixel's motion once the rotation is taken out points away from the focus of
    expansion (its length grows with nearness, unknown per pixel): rotation and focus are the least-squares fit of
    that, reweighted rounds of Gauss-Newton."""
    height, width = flow.shape[:2]
    pixels = np.flatnonzero(static.ravel())
    if len(pixels) < max(MIN_FIT_POINTS, MIN_FIT_SHARE * height * width):
        return None
    pixels = pixels[:: max(1, len(pixels) // FIT_POINTS)]
    rx, ry, _ = _rays(height, width)
    x, y = rx.ravel()[pixels].astype(np.float64), ry.ravel()[pixels].astype(np.float64)
    vx, vy = (-flow.reshape(-1, 2)[pixels].astype(np.float64)).T  # forward motion
    basis = np.ascontiguousarray(
        rotation_basis(height, width, focal).reshape(3, -1, 2)[:, pixels].transpose(1, 2, 0), np.float64)
    focus, rotation, weight = np.zeros(2), np.zeros(3), np.ones(len(pixels))
    for _ in range(FIT_ROUNDS):
        # Gauss-Newton on both at once (they trade off against each other, so fitting them in turn crawls)
        normal, rhs, misfit = _gauss_newton_terms(x, y, vx, vy, basis, rotation, focus, weight)
        step = _solve(normal, rhs)
        rotation = rotation + step[:3]
        focus = np.clip(focus + step[3:], -width, width)  # a camera that barely moves forwards has no real focus
        # pixels whose motion does not fit (a mislabelled car, a flow error) count less in the next round
        misfit = np.abs(misfit)
        weight = 1 / np.maximum(misfit / (1.5 * np.median(misfit) + 1e-3), 1)
    return CameraMotion(rotation, focus, float(focal))


def outward_share(flow: np.ndarray, focus: np.ndarray | None = None) -> np.ndarray:
    """(H, W): how much farther from the focus of expansion (default: the image centre) the content of every pixel
    got over the (backward) ``flow``, as a share of its distance."""
    rx, ry, inverse = _rays_from(*flow.shape[:2], focus)
    return (flow[..., 0] * rx + flow[..., 1] * ry) * -inverse


def expansion_rate(flow: np.ndarray, focus: np.ndarray | None = None) -> np.ndarray:
    """(H, W): the :func:`outward_share` of every pixel in the last flow span, as far as the flow around it spread
    out too (see :func:`forward_displacement`)."""
    outwards = outward_share(flow, focus)
    spread = _spread(flow)
    return np.where(outwards > 0, np.clip(spread, 0, outwards), np.clip(spread, outwards, 0))


def _spread(flow: np.ndarray) -> np.ndarray:
    """(H, W) float32: how far the backward ``flow`` spread out around every pixel over the last span, as a share
    of the distance (half its divergence over :data:`DIVERGENCE_CELL`-pixel cells)."""
    height, width = flow.shape[:2]
    cell = DIVERGENCE_CELL
    cells = cv2.resize(flow, (max(2, width // cell), max(2, height // cell)), interpolation=cv2.INTER_AREA)
    spread = (np.gradient(cells[..., 0], axis=1) + np.gradient(cells[..., 1], axis=0)) * np.float32(-0.5 / cell)
    return cv2.resize(spread.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)


def forward_displacement(flow: np.ndarray, steps: float, rate: np.ndarray | None = None,
                         focus: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """x and y (H, W) of where the content of every pixel will be ``steps`` flow spans ahead, relative to where it is.

    ``flow`` is the backward flow of the newest frame (content at x came from x + flow(x) one span ago). A camera
    driving forwards sees a static point move away from the focus of expansion ``focus`` (default: the image
    centre) ever faster as it approaches: its distance from it grows as ``T / (T - t)`` for a point ``T`` spans
    from contact. The share of that distance a pixel moved outwards in the last span gives ``T``, but only as far
    as the flow around it spreads out too (half its divergence over :data:`DIVERGENCE_CELL`-pixel cells): a car
    crossing the view moves outwards without coming closer, and goes on at constant velocity. A point is carried at
    most :data:`MAX_CONTACT_SHARE` of the way to contact; a radius that shrinks with its surroundings (something
    moving away) shrinks linearly; the rest of the flow (turning, crossing) goes on at constant velocity. ``rate``:
    :func:`expansion_rate` of ``flow`` about ``focus``, if known.
    """
    if rate is None:
        rate = expansion_rate(flow, focus)
    height, width = flow.shape[:2]
    nowhere = np.zeros((height, width), bool)
    return _displacement(flow, rate, nowhere, _NO_NEARNESS, _NO_TURN, focus, steps, None)


def carried_displacement(nearness: np.ndarray, camera: CameraMotion, steps: float) -> tuple[np.ndarray, np.ndarray]:
    """x and y (H, W) of where points will be ``steps`` spans ahead when the camera goes on as it moved: forwards
    towards ``camera.focus`` and turning about its vertical axis (yaw) at the same rate; pitch and roll are not
    carried on (a car's pitching and rolling swing back).

    ``nearness`` (H, W): how much nearer each point comes per span, over its distance: the camera's advance for
    the static world (0 at infinity, like the sky), more for oncoming traffic, less or negative for traffic ahead
    pulling away. Exact 3-D motion of every point, so the turn and the approach compose correctly; a point is
    carried at most :data:`MAX_CONTACT_SHARE` of the way to contact."""
    height, width = nearness.shape
    everywhere = np.ones((height, width), bool)
    return _displacement(_NO_FLOW, _NO_RATE, everywhere, nearness, _NO_TURN, camera.focus, steps, camera)


#: stand-ins for the inputs a displacement does not read (all pixels carried, or none)
_NO_FLOW, _NO_RATE = np.zeros((1, 1, 2), np.float32), np.zeros((1, 1), np.float32)
_NO_NEARNESS, _NO_TURN = _NO_RATE, _NO_FLOW


def _displacement(flow: np.ndarray, rate: np.ndarray, carried: np.ndarray, nearness: np.ndarray,
                  turn: np.ndarray, focus: np.ndarray | None, steps: float, camera: CameraMotion | None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """x and y (H, W): :func:`carried_displacement` where ``carried``, else :func:`forward_displacement` about
    ``focus`` plus ``steps`` times ``turn`` (the camera's yaw per span, (H, W, 2), or (1, 1, 2) zeros)."""
    if camera is None:
        terms = np.zeros(6, np.float32)  # nothing is carried
    else:
        yaw = float(camera.rotation[1]) * steps
        if abs(yaw) > 1e-9:  # the camera's advance over the span, as the points see it, summed over the turn
            along, across = np.sin(yaw) / yaw * steps, (1 - np.cos(yaw)) / yaw * steps
        else:
            along, across = steps, 0.0
        ahead_x, ahead_y = -camera.focus[0] / camera.focal, -camera.focus[1] / camera.focal
        terms = np.array([np.cos(yaw), np.sin(yaw), along * ahead_x - across, steps * ahead_y,
                          -across * ahead_x - along, camera.focal], np.float32)
    focus_x, focus_y = (0.0, 0.0) if focus is None else (float(focus[0]), float(focus[1]))
    out = _displacement_field(kernel_array(flow, np.float32), kernel_array(rate, np.float32),
                              kernel_array(carried, np.bool_), kernel_array(nearness, np.float32),
                              kernel_array(turn, np.float32), np.float32(focus_x), np.float32(focus_y),
                              np.float32(steps), terms)
    return out[0], out[1]


@compiled
def _along_flow(fx: float, fy: float, rate: float, rx: float, ry: float, steps: float) -> tuple[float, float]:
    """:func:`forward_displacement` of one pixel: its flow, expansion rate and ray from the focus (float32)."""
    # with r(-1) = r0 (1 - rate) = r0 T / (T + 1): T = (1 - rate) / rate spans, and r(steps) = r0 T / (T - steps)
    moved = steps * rate
    share = min(moved / max(np.float32(1) - rate, np.float32(0.05)), np.float32(MAX_CONTACT_SHARE))
    growth = share / (np.float32(1) - share) if rate > 0 else max(moved, np.float32(-1))
    # growth * ray is the radial move; steps * (velocity - rate * ray) the rest, at constant velocity
    radial = growth - moved
    return rx * radial - steps * fx, ry * radial - steps * fy


@compiled
def _carried(nearness: float, rx: float, ry: float, terms: np.ndarray) -> tuple[float, float]:
    """:func:`carried_displacement` of one pixel: its nearness and ray from the image centre (float32); ``terms``:
    cos and sin of the yaw, the camera's advance (x, y, z) and the focal length."""
    cos, sin, focal = terms[0], terms[1], terms[5]
    x, y = rx / focal, ry / focal  # the point at unit depth: turned, then moved by the advance times its nearness
    new_x = cos * x + sin + nearness * terms[2]
    new_y = y + nearness * terms[3]
    new_z = max(-sin * x + cos + nearness * terms[4], np.float32(1 - MAX_CONTACT_SHARE))
    scale = focal / new_z
    return new_x * scale - rx, new_y * scale - ry


@compiled
def _displacement_field(flow: np.ndarray, rate: np.ndarray, carried: np.ndarray, nearness: np.ndarray,
                        turn: np.ndarray, focus_x: float, focus_y: float, steps: float, terms: np.ndarray
                        ) -> np.ndarray:
    """(2, H, W) float32: :func:`_displacement` in one sweep over the pixels."""
    height, width = carried.shape
    centre_x, centre_y = np.float32((width - 1) / 2), np.float32((height - 1) / 2)
    turning = turn.shape[0] == height
    out = np.empty((2, height, width), np.float32)
    for i in range(height):
        ry = np.float32(i) - centre_y
        for j in range(width):
            rx = np.float32(j) - centre_x
            if carried[i, j]:
                out[0, i, j], out[1, i, j] = _carried(nearness[i, j], rx, ry, terms)
            else:
                dx, dy = _along_flow(flow[i, j, 0], flow[i, j, 1], rate[i, j], rx - focus_x, ry - focus_y, steps)
                if turning:
                    dx, dy = dx + steps * turn[i, j, 0], dy + steps * turn[i, j, 1]
                out[0, i, j], out[1, i, j] = dx, dy
    return out


@compiled
def _rate_carried_nearness(flow: np.ndarray, moving_flow: np.ndarray, turning: np.ndarray, spread: np.ndarray,
                           static: np.ndarray, previous_at: np.ndarray, spans: float, focus_x: float, focus_y: float
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:class:`LabelProjection`'s per-pixel terms in one sweep: the :func:`expansion_rate` of the moving flow about
    the focus (``spread``: its :func:`_spread`), which pixels move with the camera's motion, and their nearness
    (over both spans where the previous flow is known: ``previous_at``, read where this one leads back to, (H, W, 2),
    else (1, 1, 2) zeros)."""
    height, width = static.shape
    centre_x, centre_y = np.float32((width - 1) / 2), np.float32((height - 1) / 2)
    along_heading, agreement = np.float32(ALONG_HEADING * width), np.float32(RATE_AGREEMENT)
    receding, most, half = np.float32(-MAX_RECEDING_RATE), np.float32(MAX_STATIC_RATE), np.float32(0.5)
    over_both = previous_at.shape[0] == height
    rate = np.empty((height, width), np.float32)
    carried = np.empty((height, width), np.bool_)
    nearness = np.empty((height, width), np.float32)
    for i in range(height):
        ry = np.float32(i) - centre_y - focus_y
        for j in range(width):
            rx = np.float32(j) - centre_x - focus_x
            inverse = np.float32(1) / (rx * rx + ry * ry + np.float32(1e-3))
            fx, fy = moving_flow[i, j, 0], moving_flow[i, j, 1]
            out = (fx * rx + fy * ry) * -inverse  # outward_share
            grow = spread[i, j]
            rate[i, j] = min(max(grow, np.float32(0)), out) if out > 0 else min(max(grow, out), np.float32(0))
            # vehicles and people moving along the camera's heading (parked, or driving along the road) move like
            # the static world, nearer or farther each span by a rate of their own, if the flow around them
            # spreads out or draws in as much (else it is something crossing the view)
            sideways = abs(fx * ry - fy * rx) * np.sqrt(inverse)
            carried[i, j] = static[i, j] or (sideways < along_heading and abs(out - rate[i, j]) < agreement)
            share = min(max(out, np.float32(0) if static[i, j] else receding), most)
            near = share / (np.float32(1) - share)
            if over_both and static[i, j]:  # the static world's nearness, also over both spans: half the noise
                back_x = flow[i, j, 0] + previous_at[i, j, 0] + turning[i, j, 0] * spans  # turning as in this span
                back_y = flow[i, j, 1] + previous_at[i, j, 1] + turning[i, j, 1] * spans
                # a point at distance Z (in spans of advance) moved out by the share m / (Z + m) over m spans
                both = min(max((back_x * rx + back_y * ry) * -inverse, np.float32(0)), np.float32(0.8))
                near = half * (near + both / (spans * (np.float32(1) - both)))
            nearness[i, j] = near
    return rate, carried, nearness


def labels_on_grid(labels: np.ndarray, projection_width: int | None) -> np.ndarray:
    """``labels`` (H, W) brought down to at most ``projection_width`` wide (nearest, the pixel at each cell's centre),
    ``labels`` itself when they are no wider or ``projection_width`` is None."""
    height, width = labels.shape
    if projection_width is None or width <= projection_width:
        return labels
    size = (int(projection_width), max(1, round(height * projection_width / width)))
    return cv2.resize(labels, size, interpolation=cv2.INTER_NEAREST_EXACT)


class LabelProjection:
    """The newest labels and their flow, ready to be carried to any number of horizons (:meth:`ahead`): the flow at
    the labels' size, the camera's motion, the expansion rates and the pixels of each drawing layer are made once.

    The static world (:data:`STATIC_TRAIN_IDS`) tells the camera's own motion (:func:`fit_camera_motion`): its
    turn is taken out of the flow before the rates are measured, about where the camera heads rather than the image
    centre, and static points move as the camera goes on (:func:`carried_displacement`), and so do vehicles and
    people moving along the camera's heading (:data:`ALONG_HEADING`), each nearer or farther per span at its own
    rate. Everything else (crossing traffic) follows :func:`forward_displacement` about the same focus, turning with
    the camera. Without enough of the static world in view all of it does, about the image centre.

    Args:
        labels: (H, W) uint8 trainIds of the newest frame.
        flow: its backward flow (newest -> one span before), at the labels' size or another.
        layers: (256,) drawing layer of every label, farther first (:func:`layer_table`).
        static: (256,) whether a label stands still in the world (:func:`static_table`).
        focal_per_width: the camera's focal length over the image width.
        previous_flow: the backward flow of the frame one span before (to the one before it), if there is one:
            the static world's nearness is then also measured over both spans.
        previous_span: how long that flow's span is, in spans of ``flow``.
        projection_width: project on a grid at most this wide (the labels brought down to it, nearest) and read the
            forecast back at the labels' own size (:func:`swiftcast.forecast.splat.splat_read_back`); None: project
            at the labels' size.
    """

    def __init__(self, labels: np.ndarray, flow: np.ndarray, layers: np.ndarray = TRAIN_ID_LAYERS,
                 static: np.ndarray = STATIC_TRAIN_IDS, focal_per_width: float = FOCAL_PER_WIDTH,
                 previous_flow: np.ndarray | None = None, previous_span: float = 1.0,
                 projection_width: int | None = None) -> None:
        self.labels = labels
        #: the labels on the grid the projection is made on (``labels`` itself when they are no wider)
        self.grid_labels = labels_on_grid(labels, projection_width)
        height, width = self.grid_labels.shape
        self.flow = kernel_array(_at_size(flow, height, width), np.float32)
        grid = self.grid_labels
        self.static = cv2.LUT(grid, static.astype(np.uint8)).view(bool)  # a table lookup (LUT: the fastest)
        self.camera = fit_camera_motion(self.flow, self.static, focal_per_width * width)
        if self.camera is None:
            self.moving_flow, self.focus = self.flow, None
            self.rate = expansion_rate(self.flow)
        else:  # the flow without the camera's turn, and the turn it goes on with (yaw only)
            self.turning = self.camera.rotation_flow(height, width)
            self.moving_flow = self.flow + self.turning
            self.focus = self.camera.focus
            self.turn = self.camera.rotation_flow(height, width, self.camera.rotation * np.array([0, 1, 0]))
            # the previous flow read where this one leads back to: the path over both spans, for the static world
            previous_at = _NO_FLOW
            if previous_flow is not None:
                previous_at = cv2.remap(_at_size(previous_flow, height, width), _grid(height, width) + self.flow,
                                        None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            self.rate, self.carried, self.nearness = _rate_carried_nearness(
                self.flow, self.moving_flow, self.turning, _spread(self.moving_flow), self.static, previous_at,
                np.float32(1.0 + previous_span), np.float32(self.focus[0]), np.float32(self.focus[1]))
        #: the drawing layer of every pixel (nearer ones are drawn over farther ones)
        self.layer = cv2.LUT(grid, layers)

    def displacement(self, steps: float) -> tuple[np.ndarray, np.ndarray]:
        """x and y (h, w) of where every pixel's content will be ``steps`` spans ahead, relative to where it is, on
        the projection's grid (:attr:`grid_labels`)."""
        if self.camera is None:
            return forward_displacement(self.moving_flow, steps, self.rate, self.focus)
        return _displacement(self.moving_flow, self.rate, self.carried, self.nearness, self.turn, self.focus, steps,
                             self.camera)

    def ahead(self, steps: float) -> np.ndarray:
        """The labels ``steps`` flow spans ahead: every pixel drawn where :meth:`displacement` sends it, nearer
        layers over farther ones, and a pixel moving away from a neighbour also over the pixels around where it
        lands, so expanding regions have few cracks; where nothing lands, the label drawn nearest
        (:func:`swiftcast.forecast.splat.splat_labels`)."""
        _check_steps(steps)
        if steps == 0:
            return self.labels.copy()
        if self.grid_labels is self.labels:
            return splat_labels(*self.displacement(steps), self.layer, self.labels)
        return splat_read_back(*self.displacement(steps), self.layer, self.grid_labels, self.labels)


def project_labels(labels: np.ndarray, flow: np.ndarray, steps: float,
                   layers: np.ndarray = TRAIN_ID_LAYERS, projection_width: int | None = None) -> np.ndarray:
    """``labels`` (H, W) uint8 carried ``steps`` flow spans ahead along ``flow`` (see :class:`LabelProjection`)."""
    return LabelProjection(labels, flow, layers, projection_width=projection_width).ahead(steps)


def warp_labels(labels: np.ndarray, displacement: np.ndarray) -> np.ndarray:
    """``labels`` (H, W) uint8 read at ``x + displacement(x)`` (nearest; the image border extends outwards).

    ``displacement`` may be at another resolution: it is resized and rescaled to the labels' size first.
    """
    height, width = labels.shape
    displacement = _at_size(displacement, height, width)
    return cv2.remap(labels, _grid(height, width) + displacement, None, cv2.INTER_NEAREST,
                     borderMode=cv2.BORDER_REPLICATE)


@dataclass
class Motion:
    """The backward flow of one frame (newest -> past) and the time it spans."""

    flow: np.ndarray  # (h, w, 2) float32, at the flow resolution
    span: float  # newest time - past time (nanoseconds in the live stack, frames in the offline protocol)
    #: the past frame's own backward flow (to the frame before it) and its span, when known
    previous_flow: np.ndarray | None = None
    previous_span: float = 0.0
    #: the projection's grid width (see :class:`LabelProjection`); None: the labels' own size
    projection_width: int | None = None
    #: the projection of the labels last forecast from this motion, shared by every horizon of that frame
    _projection: "LabelProjection | None" = field(default=None, init=False, repr=False, compare=False)

    def projection(self, labels: np.ndarray) -> "LabelProjection":
        """``labels`` ready to be carried along this motion (made once for the same labels array)."""
        if self._projection is None or self._projection.labels is not labels:
            previous = self.previous_flow if self.previous_span > 0 else None
            self._projection = LabelProjection(labels, self.flow, previous_flow=previous,
                                               previous_span=self.previous_span / self.span,
                                               projection_width=self.projection_width)
        return self._projection


class FlowExtrapolation:
    """Optical flow between the newest frame and one before it, carried on to any horizon.

    Args:
        preset: DIS preset name (see :data:`PRESETS`).
        flow_width: the grey frames are downscaled to at most this width before the flow is computed.
        projection_width: the labels are projected on a grid at most this wide (see :class:`LabelProjection`); None: at
            their own size.
    """

    def __init__(self, preset: str = DEFAULT_PRESET, flow_width: int = DEFAULT_FLOW_WIDTH,
                 projection_width: int | None = DEFAULT_PROJECTION_WIDTH) -> None:
        check_preset(preset)
        if flow_width < 16:
            raise ValueError(f"flow width {flow_width}: too small for optical flow (at least 16)")
        if projection_width is not None and projection_width < 16:
            raise ValueError(f"projection grid width {projection_width}: too small (at least 16)")
        self.preset = preset
        self.flow_width = int(flow_width)
        self.projection_width = None if projection_width is None else int(projection_width)
        self._dis = create_dis(preset)

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """The grey, downscaled frame the flow is computed on."""
        gray = to_gray(image)
        if gray.shape[1] > self.flow_width:
            height = max(16, round(gray.shape[0] * self.flow_width / gray.shape[1]))
            gray = cv2.resize(gray, (self.flow_width, height), interpolation=cv2.INTER_AREA)
        return gray

    def motion(self, newest: np.ndarray, past: np.ndarray, span: float, before: np.ndarray | None = None,
               before_span: float = 0.0) -> Motion:
        """The backward flow from ``newest`` to ``past`` (images of one size, RGB or grey), ``span`` apart, and
        from ``past`` to ``before`` (``before_span`` earlier still), if given."""
        frames = [newest, past] + ([before] if before is not None else [])
        if any(frame.shape[:2] != newest.shape[:2] for frame in frames):
            raise ValueError(f"frames of different sizes {[frame.shape[:2] for frame in frames]}")
        if span <= 0 or (before is not None and before_span <= 0):
            raise ValueError("every frame must be older than the one after it")
        grey = [self.prepare(frame) for frame in frames]
        motion = Motion(self.flow_between(grey[0], grey[1]), float(span), projection_width=self.projection_width)
        if before is not None:
            motion.previous_flow, motion.previous_span = self.flow_between(grey[1], grey[2]), float(before_span)
        return motion

    def flow_between(self, newest_gray: np.ndarray, past_gray: np.ndarray) -> np.ndarray:
        """DIS flow of two prepared (:meth:`prepare`) frames: newest(x) ~ past(x + flow(x))."""
        return self._dis.calc(newest_gray, past_gray, None)

    @staticmethod
    def forecast(labels: np.ndarray, motion: Motion, horizon: float) -> np.ndarray:
        """The newest frame's ``labels`` carried ``horizon`` (in the unit of ``motion.span``) into the future."""
        return motion.projection(labels).ahead(horizon / motion.span)


class FrameMotion:
    """Flow extrapolation on a live stream: recent grey frames by stamp, and the motion of the newest one.

    Any camera rate works: the past frame is the stored one nearest to ``t - span_ns`` (at least half and at most
    :data:`MAX_SPAN_FACTOR` times ``span_ns`` before ``t``: a dropped frame of a slow camera still gives a flow),
    and the forecast reaches ``horizon / actual span`` flow spans ahead.

    Args:
        span_ns: the preferred time between the two frames of a flow (one frame period of the forecasters, P:
            the previous frame at 10-20 Hz, the one before it at 30 Hz).
        preset, flow_width, projection_width: as :class:`FlowExtrapolation`.
        max_frames: grey frames kept (the oldest go first).
    """

    def __init__(self, span_ns: int, preset: str = DEFAULT_PRESET, flow_width: int = DEFAULT_FLOW_WIDTH,
                 max_frames: int = 64, projection_width: int | None = DEFAULT_PROJECTION_WIDTH) -> None:
        if span_ns <= 0:
            raise ValueError("the flow span must be positive")
        self.span_ns = int(span_ns)
        self.flow = FlowExtrapolation(preset, flow_width, projection_width)
        self.max_frames = int(max_frames)
        self._frames: dict[int, np.ndarray] = {}
        #: the flows made so far, by stamp: (the stamp they reach back to, the flow)
        self._flows: dict[int, tuple[int, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self._frames)

    def add_frame(self, stamp_ns: int, image: np.ndarray) -> None:
        """Keep a camera frame (RGB, BGR or grey; only its brightness is used) for the flows of later frames.

        A stamp older than the newest kept one (a bag loop, a clock jump) starts over."""
        if self._frames and stamp_ns < max(self._frames):
            self._frames.clear()
            self._flows.clear()
        gray = self.flow.prepare(image)
        self._frames[int(stamp_ns)] = gray
        while len(self._frames) > self.max_frames:
            del self._frames[min(self._frames)]

    def past_stamp(self, stamp_ns: int) -> int | None:
        """The stored stamp the flow of ``stamp_ns`` reaches back to, None when no stored frame fits."""
        t = int(stamp_ns)
        lo, hi = t - MAX_SPAN_FACTOR * self.span_ns, t - self.span_ns // 2
        candidates = [s for s in self._frames if lo <= s <= hi]
        return min(candidates, key=lambda s: abs(s - (t - self.span_ns))) if candidates else None

    def motion(self, stamp_ns: int) -> Motion | None:
        """The backward flow of the frame stamped ``stamp_ns``; None when that frame or a past one is missing.

        The past frame's own flow comes with it when that frame's motion was made too (no second flow is
        computed for it)."""
        t = int(stamp_ns)
        newest = self._frames.get(t)
        past = self.past_stamp(t)
        if newest is None or past is None or self._frames[past].shape != newest.shape:
            return None
        flow = self.flow.flow_between(newest, self._frames[past])
        self._flows[t] = (past, flow)
        while len(self._flows) > FLOWS_KEPT:  # a flow is only ever wanted by the next frame or two
            del self._flows[min(self._flows)]
        motion = Motion(flow, float(t - past), projection_width=self.flow.projection_width)
        if past in self._flows:
            before, previous = self._flows[past]
            if previous.shape == flow.shape and past - before <= MAX_SPAN_FACTOR * self.span_ns:
                motion.previous_flow, motion.previous_span = previous, float(past - before)
        return motion


def warm_up() -> float:
    """Compile the kernels of a projection (numba), or load them from its cache, on a small drive ahead so that the
    first real frame does not pay for it; returns the seconds it took."""
    t0 = time.perf_counter()
    size = 32  # enough road (static) pixels for a camera fit
    xs, ys = np.meshgrid(np.arange(size, dtype=np.float32), np.arange(size, dtype=np.float32))
    looming = np.stack([xs - (size - 1) / 2, ys - (size - 1) / 2], -1) * np.float32(-0.05)
    labels = np.zeros((size, size), np.uint8)
    LabelProjection(labels, looming, previous_flow=looming).ahead(3.0)  # the camera's motion, holes at the edges
    LabelProjection(labels + 13, looming).ahead(3.0)  # all car: no camera fit
    LabelProjection(labels, looming, projection_width=size // 2).ahead(3.0)  # on a grid, read back at full size
    return time.perf_counter() - t0


class FlowForecaster:
    """Flow extrapolation for one horizon, as the forecast runtime uses it beside the learned forecasters.

    Needs no checkpoint and no features: the newest frame's single-frame labels and the :class:`Motion` of that
    frame (one per frame, shared by the horizons). No confidence: it forecasts where labels go, not scores.
    """

    needs_last_labels = True

    def __init__(self, horizon: "Horizon", preset: str = DEFAULT_PRESET) -> None:
        check_preset(preset)
        self.horizon = horizon
        self.model_id = f"flow-extrapolation-{preset}"
        #: seconds it took to compile the projection's kernels (or load them from numba's cache) before the first
        #: frame
        self.compile_s = warm_up()

    def __call__(self, motion: Motion, last_labels: np.ndarray, horizon_ns: int) -> np.ndarray:
        """``last_labels`` (at the camera size) carried ``horizon_ns`` on along ``motion`` (spans in ns)."""
        return FlowExtrapolation.forecast(last_labels, motion, horizon_ns)
