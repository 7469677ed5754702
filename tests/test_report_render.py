"""The replay report renders: a report built from a recording written here (no ROS) opens in headless Chromium and
shows content, and every figure it references is inlined."""

from __future__ import annotations

import dataclasses
import re

import cv2
import numpy as np
import pytest
from replay_bags import write_camera_bag, write_recording

from swiftcast.replay.bag import inspect_bag, read_label_maps
from swiftcast.replay.report import write_metrics, write_report
from swiftcast.replay.score import score_recording
from swiftcast.replay.screenshot import find_chromium, render_png


@pytest.fixture(scope="module")
def scored_drive(tmp_path_factory):
    """(out folder, score, input info, run) of a recording written here."""
    tmp = tmp_path_factory.mktemp("report")
    bag = tmp / "drive"
    stamps = write_camera_bag(bag, frames=24, size=(48, 96))
    rng = np.random.default_rng(0)
    truth = {s: m.unpack() for s, m in read_label_maps(inspect_bag(bag)).items()}
    # a "stack" that is right on 80 % of the pixels, drops two frames, and forecasts 3 and 9 frames ahead
    own = {}
    for i, s in enumerate(stamps):
        if i in (7, 15):
            continue
        noisy = truth[s].copy()
        flip = rng.random(noisy.shape) < 0.2
        noisy[flip] = rng.integers(0, 19, int(flip.sum()))
        own[s] = noisy
    period = stamps[1] - stamps[0]
    forecasts = [(h, s, k * period, own[s]) for h, k in (("short", 3), ("mid", 9))
                 for i, s in enumerate(stamps[:-k]) if s in own]
    out = tmp / "out"
    out.mkdir()
    write_recording(out / "outputs.mcap", stamps, own, forecasts)
    info = inspect_bag(bag)
    labels = read_label_maps(info)
    scored = score_recording(out / "outputs.mcap", labels)
    write_metrics(out, scored.metrics)
    run = {"status": "ok", "rate": 1.0, "bag": {"description": info.describe(), "path": str(bag)}}
    return out, scored, info, run


@pytest.fixture(scope="module")
def report_dir(scored_drive):
    out, scored, info, run = scored_drive
    write_report(out, scored, info, run)
    return out


def test_report_inlines_every_figure(report_dir):
    page = (report_dir / "report.html").read_text()
    figures = sorted(p.name for p in (report_dir / "figures").iterdir())
    assert {"per_class_iou.png", "latency_hist.png", "latency_timeline.png", "strips.png", "overlay.gif"} <= set(figures)
    for name in figures:
        assert f'data-file="figures/{name}"' in page
    srcs = re.findall(r'<img src="([^"]*)"', page)
    assert srcs and all(s.startswith("data:image/") for s in srcs)
    assert "short (+176 ms)" in page and "mid (+529 ms)" in page  # both horizons reported


@pytest.mark.skipif(find_chromium() is None, reason="chromium is not installed (make setup installs it)")
def test_report_renders_in_headless_chromium(report_dir, tmp_path):
    png = render_png(report_dir / "report.html", tmp_path / "shot.png", width=1000, height=1400)
    shot = cv2.imread(str(png))
    assert shot is not None and shot.shape[:2] == (1400, 1000)
    # a blank or broken page is one colour; the report has text, tables and coloured figures
    assert shot.std() > 20
    colours = np.unique(shot.reshape(-1, 3) // 32, axis=0)
    assert len(colours) > 30


def test_report_draws_from_the_score_alone(scored_drive, tmp_path):
    """The page needs no recording (everything comes from the score) and shows text from a bag as text."""
    _, scored, info, run = scored_drive
    odd = "<script>alert('x')</script> & co"
    scored = dataclasses.replace(scored, metrics={**scored.metrics, "diagnostics": {odd: {"model": odd}}})
    page = write_report(tmp_path, scored, info, {**run, "status": "stack_died", "message": odd}).read_text()
    assert not (tmp_path / "outputs.mcap").exists()
    assert "<script>" not in page and page.count("&lt;script&gt;") == 3
    assert "Partial result (stack_died)" in page and "No /diagnostics messages" not in page
