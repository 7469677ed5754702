"""Flow extrapolation: zero motion is copy-last, steady motion is carried on, approaching things grow ever faster,
nearer things are drawn over farther ones, any frame spacing works."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from swiftcast.forecast.motion import (
    FLOWS_KEPT,
    FOCAL_PER_WIDTH,
    MAX_CONTACT_SHARE,
    STATIC_TRAIN_IDS,
    TRAIN_ID_LAYERS,
    FlowExtrapolation,
    FrameMotion,
    LabelProjection,
    fit_camera_motion,
    follow_flow,
    forward_displacement,
    project_labels,
    warp_labels,
)
from swiftcast.forecast.protocol import FRAME_PERIOD_NS

NS = 1_000_000_000


def _texture(height: int = 96, width: int = 160, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 255, (height // 4, width // 4), dtype=np.uint8)
    return cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)


def _shifted(image: np.ndarray, dx: int) -> np.ndarray:
    return np.roll(image, dx, axis=1)


def _labels(height: int = 96, width: int = 160) -> np.ndarray:
    labels = np.zeros((height, width), np.uint8)
    labels[30:70, 60:90] = 13  # a car
    return labels


def test_zero_motion_reproduces_the_newest_labels_exactly() -> None:
    image, labels = _texture(), _labels()
    flow = FlowExtrapolation()
    motion = flow.motion(image, image, span=3)
    with_before = flow.motion(image, image, span=3, before=image, before_span=3)
    assert with_before.previous_flow is not None
    for horizon in (3, 9):
        assert np.array_equal(flow.forecast(labels, motion, horizon), labels)
        assert np.array_equal(flow.forecast(labels, with_before, horizon), labels)


def test_steady_motion_is_carried_on_to_the_horizon() -> None:
    """The scene moves 4 px to the right every 3 frames: +3 frames moves the car 4 px, +9 frames 12 px."""
    base, labels = _texture(), _labels()
    flow = FlowExtrapolation("medium")
    motion = flow.motion(_shifted(base, 4), base, span=3)  # newest frame is the shifted one
    now = _shifted(labels, 4)
    for horizon, dx in ((3, 8), (9, 16)):
        ahead = flow.forecast(now, motion, horizon)
        expected = _shifted(labels, dx)
        car, hit = expected == 13, ahead == 13
        assert (car & hit).sum() / (car | hit).sum() > 0.8, horizon


def test_following_a_constant_flow_moves_points_by_a_multiple_of_it() -> None:
    flow = np.zeros((8, 8, 2), np.float32)
    flow[..., 0] = -0.5
    np.testing.assert_allclose(follow_flow(flow, np.array([[4.0, 4.0], [3.0, 2.0]]), 2.5),
                               [[2.75, 4.0], [1.75, 2.0]], atol=1e-5)
    with pytest.raises(ValueError):
        follow_flow(flow, np.zeros((1, 2)), 100.0)


def _looming(height: int, width: int, rate: float) -> np.ndarray:
    """The backward flow of a camera driving towards a wall: every pixel came from ``rate`` of its radius nearer to the
    image centre one span ago."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ray = np.stack([xs - (width - 1) / 2, ys - (height - 1) / 2], -1)
    return (-rate * ray).astype(np.float32)


def test_approaching_scene_grows_with_a_constant_time_to_contact() -> None:
    """Radius r0 (1 - rate) one span ago = r0 T / (T + 1): T = 9 spans for rate 0.1; 3 spans on, r0 T / (T - 3)."""
    height, width, rate = 64, 96, 0.1
    mx, my = forward_displacement(_looming(height, width, rate), 3.0)
    ray = np.array([80 - (width - 1) / 2, 40 - (height - 1) / 2])
    ttc = (1 - rate) / rate
    np.testing.assert_allclose([mx[40, 80], my[40, 80]], ray * (ttc / (ttc - 3) - 1), rtol=1e-3)
    # constant velocity would only have got 3 * rate of the radius, and no point gets past most of the way to contact
    assert abs(mx[40, 80]) > 3 * rate * abs(ray[0]) * 1.1
    far_x, _ = forward_displacement(_looming(height, width, rate), 30.0)
    assert abs(far_x[40, 80]) <= abs(ray[0]) * (1 / (1 - MAX_CONTACT_SHARE) - 1) + 1e-3


def test_crossing_motion_goes_on_at_constant_velocity() -> None:
    """A flow that does not spread out (a car crossing, the camera turning) is not mistaken for an approach, even
    where it points away from the image centre."""
    flow = np.zeros((64, 96, 2), np.float32)
    flow[..., 0] = -2.0  # everything moved 2 px to the right in the last span
    mx, my = forward_displacement(flow, 9.0)
    np.testing.assert_allclose(mx, 18.0, atol=1e-4)
    np.testing.assert_allclose(my, 0.0, atol=1e-4)


def test_nearer_things_are_drawn_over_farther_ones_and_uncovered_pixels_take_the_nearest_label() -> None:
    """A car (drawn over the road) drives 3 px to the right per span over a still road: 3 spans on it has moved
    9 px, whole; what it uncovered takes the label drawn nearest to each pixel (road next to the road, car next to
    the car), and the road around is untouched."""
    labels = np.zeros((48, 80), np.uint8)  # road
    labels[10:30, 20:40] = 13  # car
    flow = np.zeros((48, 80, 2), np.float32)
    flow[10:30, 20:40, 0] = -3.0
    ahead = project_labels(labels, flow, 3.0)
    assert (ahead[10:30, 29:49] == 13).all()
    outside = np.ones_like(labels, bool)
    outside[10:30, 20:49] = False
    assert (ahead[outside] == 0).all()
    uncovered = ahead[15, 20:29]  # 1-9 px right of the road, 9-1 px left of the car
    assert (uncovered[:4] == 0).all() and (uncovered[-4:] == 13).all()
    assert TRAIN_ID_LAYERS[10] < TRAIN_ID_LAYERS[0] < TRAIN_ID_LAYERS[2] < TRAIN_ID_LAYERS[5] < TRAIN_ID_LAYERS[13]


def test_displacement_of_another_resolution_is_rescaled() -> None:
    labels = _labels(96, 160)
    half = np.zeros((48, 80, 2), np.float32)
    half[..., 0] = -5.0  # 5 px at half resolution = 10 px
    moved = warp_labels(labels, half)
    assert np.array_equal(moved[:, 70:100], labels[:, 60:90])


def test_frames_at_any_rate_pick_the_past_frame_nearest_to_the_span() -> None:
    period = NS // 10  # a 10 Hz camera; the flow's preferred span is one period of 17 Hz, 59 ms
    motion = FrameMotion(span_ns=FRAME_PERIOD_NS)
    base = _texture()
    for k in (0, 1, 2, 4, 5):  # frame 3 was dropped
        motion.add_frame(k * period, _shifted(base, 2 * k))
    assert motion.past_stamp(2 * period) == period  # the frame before, 100 ms back
    assert motion.past_stamp(4 * period) == 2 * period  # 200 ms back: the frame before was dropped
    m = motion.motion(5 * period)
    assert m is not None and m.span == period
    assert motion.motion(0) is None  # nothing before the first frame
    assert motion.motion(123) is None  # no frame with that stamp


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="preset"):
        FlowExtrapolation("slow")
    with pytest.raises(ValueError, match="span"):
        FrameMotion(0)
    with pytest.raises(ValueError, match="grid width"):
        FlowExtrapolation(projection_width=8)


def test_a_projection_on_a_coarse_grid_keeps_the_camera_sized_labels_detail() -> None:
    """The node projects on a grid a quarter of the camera's width and reads the forecast back at the camera size:
    a steady motion moves every label, a one-pixel pole among them, by the same whole number of camera pixels."""
    height, width = 96, 256
    labels = _labels(height, width)
    labels[10:60, 121] = 5  # a pole one camera pixel wide: on no pixel of the 64-wide grid
    flow = np.zeros((height, width, 2), np.float32)
    flow[..., 0] = -4.0  # everything moved 4 px to the right in the last span
    projection = LabelProjection(labels, flow, projection_width=64)
    assert projection.grid_labels.shape == (24, 64) and not (projection.grid_labels == 5).any()
    ahead = projection.ahead(2.0)
    assert ahead.shape == labels.shape
    assert np.array_equal(ahead[:, 8:], labels[:, :-8])  # 2 spans of 4 px on
    assert np.array_equal(np.nonzero(ahead[30] == 5)[0], [129])
    assert np.array_equal(projection.ahead(0.0), labels)


def test_horizons_of_one_frame_share_its_projection() -> None:
    """The node forecasts both horizons from one motion and one labels array: what they share is made once, and
    each horizon is what a projection of its own gives."""
    base, labels = _texture(), _labels()
    flow = FlowExtrapolation()
    motion = flow.motion(_shifted(base, 2), base, span=1)
    short = flow.forecast(labels, motion, 3)
    shared = motion.projection(labels)
    mid = flow.forecast(labels, motion, 9)
    assert motion.projection(labels) is shared
    assert np.array_equal(short, project_labels(labels, motion.flow, 3, projection_width=flow.projection_width))
    assert np.array_equal(mid, project_labels(labels, motion.flow, 9, projection_width=flow.projection_width))
    assert motion.projection(labels.copy()) is not shared  # other labels: a projection of their own


def test_flow_of_another_resolution_is_rescaled_before_the_projection() -> None:
    """The node computes the flow on a frame at most flow_width wide and projects the labels at the camera size."""
    labels = _labels(96, 160)
    half = np.zeros((48, 80, 2), np.float32)
    half[15:35, 30:45, 0] = -2.0  # the car moved 2 px at half resolution = 4 px per span
    full = cv2.resize(half, (160, 96), interpolation=cv2.INTER_LINEAR) * np.float32(2)
    ahead = project_labels(labels, half, 3.0)
    assert np.array_equal(ahead, project_labels(labels, full, 3.0))
    now_x, ahead_x = np.nonzero(labels == 13)[1], np.nonzero(ahead == 13)[1]
    # the front: 3 spans of 4 px on, a little less where the resized flow blurs into the still road around the car
    assert 9 <= np.percentile(ahead_x, 95) - np.percentile(now_x, 95) <= 12


def _yaw(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _static_scene(height: int, width: int, focus: tuple[float, float], yaw: float, nearest: float = 5.0):
    """A static scene at random depths (``nearest`` to 60 camera advances per span) seen by a camera that heads for ``focus``
    (pixels from the image centre) and turns by ``yaw`` per span: the backward flow of the newest frame, and a
    function giving where every pixel's point is ``n`` spans on (exact 3-D motion)."""
    focal = FOCAL_PER_WIDTH * width
    rng = np.random.default_rng(3)
    depth = cv2.resize(rng.uniform(nearest, 60, (height // 8, width // 8)), (width, height), interpolation=cv2.INTER_LINEAR)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    x, y = xs - (width - 1) / 2, ys - (height - 1) / 2
    points = np.stack([x / focal * depth, y / focal * depth, depth], -1)
    advance = np.array([-focus[0] / focal, -focus[1] / focal, -1.0])  # the scene comes towards the camera
    turn = _yaw(yaw)

    def image_of(p: np.ndarray) -> np.ndarray:
        return np.stack([focal * p[..., 0] / p[..., 2] - x, focal * p[..., 1] / p[..., 2] - y], -1)

    before = (points - advance) @ turn  # P(t) = R P(t-1) + advance
    flow = image_of(before).astype(np.float32)

    def ahead(n: int) -> np.ndarray:
        p = points
        for _ in range(n):
            p = p @ turn.T + advance
        return image_of(p)

    return flow, ahead


def test_camera_rotation_and_heading_are_fitted_to_the_static_world() -> None:
    height, width = 96, 160
    flow, _ = _static_scene(height, width, focus=(12.0, -8.0), yaw=0.01)
    static = np.ones((height, width), bool)
    static[40:60, 70:100] = False  # a car, whose flow says nothing of the camera's motion
    flow[40:60, 70:100] = (-3.0, 1.0)
    camera = fit_camera_motion(flow, static, FOCAL_PER_WIDTH * width)
    assert camera is not None
    assert abs(camera.rotation[1] - 0.01) < 0.001 and np.abs(camera.rotation[[0, 2]]).max() < 0.001
    np.testing.assert_allclose(camera.focus, (12.0, -8.0), atol=2.0)
    assert fit_camera_motion(flow, np.zeros((height, width), bool), FOCAL_PER_WIDTH * width) is None


def test_a_turning_approaching_camera_sees_static_points_where_their_3d_motion_takes_them() -> None:
    """Road everywhere (static): 3 and 9 spans on, every point lands within a pixel or so of its true place, though
    the camera turns and heads off-centre; the image-centred rule without the camera's motion misses by far more."""
    height, width = 96, 160
    flow, ahead = _static_scene(height, width, focus=(15.0, -10.0), yaw=0.008, nearest=15.0)  # none too near
    projection = LabelProjection(np.zeros((height, width), np.uint8), flow)  # all road
    assert projection.camera is not None
    for steps in (3, 9):
        mx, my = projection.displacement(float(steps))
        truth = ahead(steps)
        error = np.hypot(mx - truth[..., 0], my - truth[..., 1])
        rx, ry = forward_displacement(flow, float(steps))
        centred = np.hypot(rx - truth[..., 0], ry - truth[..., 1])
        assert np.median(error) < 0.5 and np.percentile(error, 95) < 1.5, steps
        assert np.percentile(centred, 95) > 3 * np.percentile(error, 95), steps


def test_without_the_static_world_in_view_everything_follows_the_image_centred_rule() -> None:
    """A bus filling the frame says nothing of the camera's motion: no camera fit, and the plain rule."""
    labels = np.full((48, 80), 15, np.uint8)  # bus
    flow = _looming(48, 80, 0.05)
    projection = LabelProjection(labels, flow)
    assert projection.camera is None and not STATIC_TRAIN_IDS[15] and STATIC_TRAIN_IDS[0] and STATIC_TRAIN_IDS[10]
    for got, want in zip(projection.displacement(3.0), forward_displacement(flow, 3.0)):
        np.testing.assert_array_equal(got, want)


def test_a_motion_brings_the_past_frames_own_flow_when_it_was_made() -> None:
    """The node makes one flow per frame; the motion of a frame also carries the flow its past frame made (no
    second flow), and a stream that starts over forgets them."""
    period = FRAME_PERIOD_NS
    motion = FrameMotion(span_ns=period)
    base = _texture()
    for k in range(3):
        motion.add_frame(k * period, _shifted(base, 2 * k))
    first = motion.motion(period)
    assert first is not None and first.previous_flow is None  # frame 0 made no flow
    second = motion.motion(2 * period)
    assert second is not None and second.previous_flow is first.flow and second.previous_span == period
    motion.add_frame(0, base)  # back in time: a new stream
    motion.add_frame(period, _shifted(base, 2))
    assert motion.motion(period).previous_flow is None


def test_the_static_worlds_nearness_over_two_spans_agrees_with_one() -> None:
    """For a camera going on as it moved, the path over two spans gives the static points the same nearness as
    one span (twice the motion for the same flow error), so adding it moves the forecast very little here."""
    height, width = 96, 160
    flow, ahead = _static_scene(height, width, focus=(15.0, -10.0), yaw=0.008, nearest=15.0)
    labels = np.zeros((height, width), np.uint8)
    one = LabelProjection(labels, flow)
    # the flow one span earlier: the same camera motion, seen from one span farther back
    earlier, _ = _static_scene(height, width, focus=(15.0, -10.0), yaw=0.008, nearest=16.0)
    both = LabelProjection(labels, flow, previous_flow=earlier, previous_span=1.0)
    truth = ahead(9)
    for projection in (one, both):
        mx, my = projection.displacement(9.0)
        assert np.median(np.hypot(mx - truth[..., 0], my - truth[..., 1])) < 1.0
    np.testing.assert_allclose(np.median(both.nearness), np.median(one.nearness), rtol=0.1)


def test_a_live_stream_keeps_only_the_latest_flows() -> None:
    motion = FrameMotion(span_ns=FRAME_PERIOD_NS)
    base = _texture()
    for k in range(12):
        motion.add_frame(k * FRAME_PERIOD_NS, _shifted(base, k))
        motion.motion(k * FRAME_PERIOD_NS)
    assert len(motion._flows) <= FLOWS_KEPT
    assert motion.motion(11 * FRAME_PERIOD_NS).previous_flow is not None


def test_warm_up_compiles_every_kernel_a_projection_runs() -> None:
    """The forecast node warms up before its first frame: afterwards no kernel of a projection is left to compile."""
    from swiftcast.forecast import motion, splat

    assert motion.warm_up() >= 0
    kernels = [motion._gauss_newton_terms, motion._rate_carried_nearness, motion._displacement_field,
               splat._splat_labels, splat._read_back]  # with what they call
    assert all(kernel.signatures for kernel in kernels), [k.__name__ for k in kernels if not k.signatures]


def test_read_only_inputs_need_no_second_compile() -> None:
    """Labels and flow from a ROS message are read-only buffers: the projection runs on them with the kernels the
    warm-up compiled (a new compile would stall the node's first frame for seconds)."""
    from swiftcast.forecast import motion, splat

    motion.warm_up()
    kernels = [motion._gauss_newton_terms, motion._rate_carried_nearness, motion._displacement_field,
               splat._splat_labels]
    before = [len(kernel.signatures) for kernel in kernels]
    labels = np.zeros((40, 64), np.uint8)
    labels[25:, 10:30] = 13  # a car on the road
    flow = _looming(40, 64, 0.05)
    previous = flow.copy()
    for array in (labels, flow, previous):
        array.setflags(write=False)
    ahead = LabelProjection(labels, flow, previous_flow=previous).ahead(3.0)
    assert ahead.shape == labels.shape
    assert [len(kernel.signatures) for kernel in kernels] == before
