"""Flow extrapolation: forecast the labels of a future frame by carrying the image motion on.

The newest frame's single-frame labels already say what is where; what a forecast has to add is where it will be.
Dense optical flow from the newest frame back to an earlier one (OpenCV's DIS, Kroeger et al., ECCV 2016) says, for
every pixel, where its content was ``dt`` ago. Assuming every scene point keeps its image velocity, the content of
pixel ``x`` at ``t + k·dt`` is the content at ``t`` of the point reached by following that backward flow ``k``
times from ``x`` (each step read where the previous one ended, so expanding and turning motion bends the path).
Warping the labels of ``t`` by that displacement is the forecast: zero motion reproduces copy-last exactly.

It needs no training and no features, costs one flow computation per frame (shared by every horizon) and a
remap per horizon, and works at any camera rate: ``k`` is the horizon over the actual time between the two frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from swiftcast.forecast.protocol import Horizon

#: DIS presets by name: ultrafast is ~3x cheaper than medium and within 0.3 mIoU of it on the synthetic val
PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
#: flow is computed on a grey image at most this wide (the segmentation model's input width): finer adds cost,
#: not accuracy
DEFAULT_FLOW_WIDTH = 512
#: the most flow steps a forecast may chain (a horizon far beyond the frames' spacing is a guess, not a forecast)
MAX_STEPS = 16.0


def to_gray(image: np.ndarray) -> np.ndarray:
    """(H, W) uint8 grey from an (H, W, 3) RGB or (H, W) grey uint8 image."""
    if image.ndim == 2:
        return np.ascontiguousarray(image, dtype=np.uint8)
    return cv2.cvtColor(np.ascontiguousarray(image, dtype=np.uint8), cv2.COLOR_RGB2GRAY)


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


def chain_flow(flow: np.ndarray, steps: float, whole_steps: list[np.ndarray] | None = None) -> np.ndarray:
    """The displacement reached by following the backward ``flow`` (H, W, 2) ``steps`` times from every pixel.

    A fractional last step follows that share of the flow where the path has got to. ``whole_steps`` (the
    displacements after 1, 2, ... whole steps, read-only) is read and extended, so the horizons of one frame share
    the steps they have in common.
    """
    if not 0.0 <= steps <= MAX_STEPS:
        raise ValueError(f"{steps:.2f} flow steps: outside 0..{MAX_STEPS:g}")
    grid = _grid(*flow.shape[:2])
    chain = [] if whole_steps is None else whole_steps

    def follow(start: np.ndarray, share: float) -> np.ndarray:
        if not start.any():  # from the pixel itself the flow is read where it is: no interpolation to do
            return np.float32(share) * flow
        step = cv2.remap(flow, grid + start, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return start + np.float32(share) * step

    displacement = np.zeros_like(flow)
    remaining, whole = float(steps), 0
    while remaining > 1e-6:
        share = min(1.0, remaining)
        if share < 1.0:
            displacement = follow(displacement, share)
        else:
            if whole == len(chain):
                chain.append(follow(displacement, 1.0))
                chain[-1].setflags(write=False)
            displacement = chain[whole]
            whole += 1
        remaining -= share
    return displacement


def warp_labels(labels: np.ndarray, displacement: np.ndarray) -> np.ndarray:
    """``labels`` (H, W) uint8 read at ``x + displacement(x)`` (nearest; the image border extends outwards).

    ``displacement`` may be at another resolution: it is resized and rescaled to the labels' size first.
    """
    height, width = labels.shape
    if displacement.shape[:2] != (height, width):
        sy, sx = height / displacement.shape[0], width / displacement.shape[1]
        displacement = cv2.resize(displacement, (width, height), interpolation=cv2.INTER_LINEAR)
        displacement = displacement * np.array([sx, sy], np.float32)
    return cv2.remap(labels, _grid(height, width) + displacement, None, cv2.INTER_NEAREST,
                     borderMode=cv2.BORDER_REPLICATE)


@dataclass
class Motion:
    """The backward flow of one frame (newest -> past) and the time it spans."""

    flow: np.ndarray  # (h, w, 2) float32, at the flow resolution
    span: float  # newest time - past time (nanoseconds in the live stack, frames in the offline protocol)
    #: the displacements after 1, 2, ... whole steps, shared by every horizon forecast from this motion
    whole_steps: list[np.ndarray] = field(default_factory=list, repr=False, compare=False)


class FlowExtrapolation:
    """Optical flow between the newest frame and one before it, carried on to any horizon.

    Args:
        preset: DIS preset name (see :data:`PRESETS`).
        flow_width: the grey frames are downscaled to at most this width before the flow is computed.
    """

    def __init__(self, preset: str = "ultrafast", flow_width: int = DEFAULT_FLOW_WIDTH) -> None:
        check_preset(preset)
        if flow_width < 16:
            raise ValueError(f"flow width {flow_width}: too small for optical flow (at least 16)")
        self.preset = preset
        self.flow_width = int(flow_width)
        self._dis = cv2.DISOpticalFlow_create(PRESETS[preset])

    def prepare(self, image: np.ndarray) -> np.ndarray:
        """The grey, downscaled frame the flow is computed on."""
        gray = to_gray(image)
        if gray.shape[1] > self.flow_width:
            height = max(16, round(gray.shape[0] * self.flow_width / gray.shape[1]))
            gray = cv2.resize(gray, (self.flow_width, height), interpolation=cv2.INTER_AREA)
        return gray

    def motion(self, newest: np.ndarray, past: np.ndarray, span: float) -> Motion:
        """The backward flow from ``newest`` to ``past`` (images of one size, RGB or grey), ``span`` apart."""
        if newest.shape[:2] != past.shape[:2]:
            raise ValueError(f"frames of different sizes {newest.shape[:2]} and {past.shape[:2]}")
        if span <= 0:
            raise ValueError("the past frame must be older than the newest one")
        return Motion(self.flow_between(self.prepare(newest), self.prepare(past)), float(span))

    def flow_between(self, newest_gray: np.ndarray, past_gray: np.ndarray) -> np.ndarray:
        """DIS flow of two prepared (:meth:`prepare`) frames: newest(x) ~ past(x + flow(x))."""
        return self._dis.calc(newest_gray, past_gray, None)

    @staticmethod
    def forecast(labels: np.ndarray, motion: Motion, horizon: float) -> np.ndarray:
        """The newest frame's ``labels`` carried ``horizon`` (in the unit of ``motion.span``) into the future."""
        return warp_labels(labels, chain_flow(motion.flow, horizon / motion.span, motion.whole_steps))


class FrameMotion:
    """Flow extrapolation on a live stream: recent grey frames by stamp, and the motion of the newest one.

    Any camera rate works: the past frame is the stored one nearest to ``t - span_ns`` (at least half and at most
    twice ``span_ns`` before ``t``), and the forecast chains the flow ``horizon / actual span`` times.

    Args:
        span_ns: the preferred time between the two frames of a flow (3P: the spacing of the forecasters' inputs).
        preset, flow_width: as :class:`FlowExtrapolation`.
        max_frames: grey frames kept (the oldest go first).
    """

    def __init__(self, span_ns: int, preset: str = "ultrafast", flow_width: int = DEFAULT_FLOW_WIDTH,
                 max_frames: int = 64) -> None:
        if span_ns <= 0:
            raise ValueError("the flow span must be positive")
        self.span_ns = int(span_ns)
        self.flow = FlowExtrapolation(preset, flow_width)
        self.max_frames = int(max_frames)
        self._frames: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._frames)

    def add_frame(self, stamp_ns: int, image: np.ndarray) -> None:
        """Keep a camera frame (RGB, BGR or grey; only its brightness is used) for the flows of later frames.

        A stamp older than the newest kept one (a bag loop, a clock jump) starts over."""
        if self._frames and stamp_ns < max(self._frames):
            self._frames.clear()
        gray = self.flow.prepare(image)
        self._frames[int(stamp_ns)] = gray
        while len(self._frames) > self.max_frames:
            del self._frames[min(self._frames)]

    def past_stamp(self, stamp_ns: int) -> int | None:
        """The stored stamp the flow of ``stamp_ns`` reaches back to, None when no stored frame fits."""
        t = int(stamp_ns)
        lo, hi = t - 2 * self.span_ns, t - self.span_ns // 2
        candidates = [s for s in self._frames if lo <= s <= hi]
        return min(candidates, key=lambda s: abs(s - (t - self.span_ns))) if candidates else None

    def motion(self, stamp_ns: int) -> Motion | None:
        """The backward flow of the frame stamped ``stamp_ns``; None when that frame or a past one is missing."""
        t = int(stamp_ns)
        newest = self._frames.get(t)
        past = self.past_stamp(t)
        if newest is None or past is None or self._frames[past].shape != newest.shape:
            return None
        return Motion(self.flow.flow_between(newest, self._frames[past]), float(t - past))


class FlowForecaster:
    """Flow extrapolation for one horizon, as the forecast runtime uses it beside the learned forecasters.

    Needs no checkpoint and no features: the newest frame's single-frame labels and the :class:`Motion` of that
    frame (one per frame, shared by the horizons). No confidence: it forecasts where labels go, not scores.
    """

    needs_last_labels = True

    def __init__(self, horizon: "Horizon", preset: str = "ultrafast") -> None:
        check_preset(preset)
        self.horizon = horizon
        self.model_id = f"flow-extrapolation-{preset}"

    def __call__(self, motion: Motion, last_labels: np.ndarray, horizon_ns: int) -> np.ndarray:
        """``last_labels`` (at the camera size) carried ``horizon_ns`` on along ``motion`` (spans in ns)."""
        return FlowExtrapolation.forecast(last_labels, motion, horizon_ns)
