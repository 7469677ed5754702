"""The semantic-forecasting protocol of Šarić et al. (GCPR 2019): which frames go in, which frame is scored, and how far ahead.

Cityscapes (and our synthetic world) store 30-frame snippets at 17 Hz; only the 20th frame is annotated in
Cityscapes, so the DeformF2F paper (Šarić et al., GCPR 2019) scores forecasts of the 20th frame. Frame numbers in
the paper are **1-based** ("the 20th frame"); everything in code is **0-based**:

========== ====================== ============================ =======================
horizon    k (frames ahead of t)  inputs t-9, t-6, t-3, t        target
========== ====================== ============================ =======================
short      3  (3/17 s ≈ 180 ms)   frames 8, 11, 14, 17 (1-based) frame 20 -> index 19
                                  indices 7, 10, 13, 16
mid        9  (9/17 s ≈ 540 ms)   frames 2, 5, 8, 11 (1-based)  frame 20 -> index 19
                                  indices 1, 4, 7, 10
========== ====================== ============================ =======================

So the newest observed frame is t = target - k (17 for short, 11 for mid, 1-based) and the history always spans
nine frames (t-9 .. t) sampled every third frame. Training may use every other window of a sequence with the
same spacing (:func:`training_windows`); evaluation uses only the protocol window (:func:`protocol_window`).
"""

from __future__ import annotations

from dataclasses import dataclass

from swiftcast.errors import SwiftcastError

#: Frames per Cityscapes ``leftImg8bit_sequence`` snippet (and per synthetic sequence).
SEQUENCE_LENGTH: int = 30
#: Frame rate of the sequences, and hence of the frames the forecasters were trained on.
FRAME_RATE_HZ: float = 17.0
#: The training frame period P in nanoseconds (1/17 s); the forecast node looks for features at t-3P, t-6P, t-9P.
FRAME_PERIOD_NS: int = round(1e9 / FRAME_RATE_HZ)
#: The annotated, scored frame: 1-based number 20 in the paper, index 19 here.
TARGET_FRAME_NUMBER: int = 20
TARGET_INDEX: int = TARGET_FRAME_NUMBER - 1
#: Offsets of the four past frames relative to the newest observed frame t, oldest first (the input order).
INPUT_OFFSETS: tuple[int, ...] = (-9, -6, -3, 0)


@dataclass(frozen=True)
class Horizon:
    """A forecasting horizon: ``frames`` ahead of the newest observed frame, at :data:`FRAME_RATE_HZ`."""

    name: str
    frames: int

    @property
    def seconds(self) -> float:
        return self.frames / FRAME_RATE_HZ

    @property
    def milliseconds(self) -> float:
        return 1000.0 * self.seconds

    def duration_ns(self, period_ns: int = FRAME_PERIOD_NS) -> int:
        """How far ahead the forecast looks, in ns, for frames ``period_ns`` apart (the target stamp offset)."""
        return self.frames * int(period_ns)


#: The paper's two horizons: short term t+3 (≈180 ms) and mid term t+9 (≈540 ms).
HORIZONS: dict[str, Horizon] = {"short": Horizon("short", 3), "mid": Horizon("mid", 9)}


def get_horizon(name_or_frames: str | int) -> Horizon:
    """Look a horizon up by name (``"short"``/``"mid"``) or by its number of frames (3/9)."""
    for horizon in HORIZONS.values():
        if name_or_frames in (horizon.name, horizon.frames):
            return horizon
    choices = ", ".join(f"{h.name} ({h.frames} frames)" for h in HORIZONS.values())
    raise SwiftcastError(f"unknown forecasting horizon {name_or_frames!r}; choose from {choices}")


@dataclass(frozen=True)
class Window:
    """One forecasting sample inside a sequence: 0-based input frame indices (oldest first) and the target."""

    inputs: tuple[int, ...]
    target: int

    @property
    def last(self) -> int:
        """The newest observed frame t (what copy-last copies)."""
        return self.inputs[-1]


def window_ending_at(t: int, horizon: Horizon) -> Window:
    """The window whose newest observed frame is index ``t``."""
    return Window(tuple(t + o for o in INPUT_OFFSETS), t + horizon.frames)


def protocol_window(horizon: Horizon | str, target_index: int = TARGET_INDEX) -> Window:
    """The paper's evaluation window: inputs t-9, t-6, t-3, t with t = target - k; target = index 19."""
    horizon = get_horizon(horizon) if isinstance(horizon, (str, int)) else horizon
    return window_ending_at(target_index - horizon.frames, horizon)


def training_windows(num_frames: int, horizon: Horizon | str) -> list[Window]:
    """Every window that fits in a sequence of ``num_frames`` frames (all inputs and the target inside it)."""
    horizon = get_horizon(horizon) if isinstance(horizon, (str, int)) else horizon
    first_t = -min(INPUT_OFFSETS)
    return [window_ending_at(t, horizon) for t in range(first_t, num_frames - horizon.frames)]


def sample_windows(num_frames: int, horizon: Horizon | str, per_sequence: int | None) -> list[Window]:
    """``per_sequence`` training windows of one sequence (all of them when ``None`` or 0).

    The protocol window (target = the 20th frame, the only annotated one on Cityscapes) is always included, as in
    the paper's training set; the others are spaced evenly from it (wrapping around the sequence), so "2 samples per
    sequence" adds a window about half a sequence away rather than a near-duplicate of the first.
    """
    windows = training_windows(num_frames, horizon)
    if not per_sequence or per_sequence >= len(windows):
        return windows
    if per_sequence < 0:
        raise SwiftcastError(f"samples per sequence must be >= 0, got {per_sequence}")
    horizon = get_horizon(horizon) if isinstance(horizon, (str, int)) else horizon
    protocol = protocol_window(horizon)
    start = windows.index(protocol) if protocol in windows else len(windows) - 1
    # K picks a fixed stride apart, wrapping around, starting at the protocol window
    step = len(windows) / per_sequence
    picks = {(start + round(i * step)) % len(windows) for i in range(per_sequence)}
    return [windows[i] for i in sorted(picks)]
