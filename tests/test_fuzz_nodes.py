"""The fuzz suite: generated bad (and valid) input for a running semseg and forecast node.

~1,200 cases from a seeded generator (:mod:`fuzz_cases`) covering every problem kind a node must survive --
images (unsupported ROS encodings, step, data size, empty/one-pixel/8K frames, big-endian flag, odd widths,
16-bit/float encodings, broken JPEG/PNG, random bytes), feature maps (shape, dtype, length, NaN/Inf, model id,
oversized output) and time (duplicate/backwards/zero/negative/huge/overflowing stamps, bursts, gaps) -- with valid
inputs interleaved, through the harness in ``tests/fuzz_world.py``. Passing means: no node died, no internal
error, every valid input answered with an output of the right size and stamp, no output for anything that should
get none, the /diagnostics counters account for the rejections by reason, and a log line names each kind.
The longer run: ``make fuzz`` (benchmarks/fuzz_nodes.py).
"""

from __future__ import annotations

import pytest

from ros_utils import require_ros
from fuzz_cases import REJECT, FuzzSpec, UNSUPPORTED_ENCODINGS, case_counts, generate_cases
from swiftcast.runtime.images import ImageError, decode_compressed, decode_raw

pytestmark = pytest.mark.ros

CASES = 1200
SEED = 9


def test_generator_is_reproducible_and_covers_every_kind():
    spec = FuzzSpec(model_id="m")
    a, b = generate_cases(CASES, spec, SEED), generate_cases(CASES, spec, SEED)
    assert [(c.kind, c.fields.get("stamp_ns"), c.fields.get("data")) for c in a] == \
           [(c.kind, c.fields.get("stamp_ns"), c.fields.get("data")) for c in b]
    kinds = case_counts(a)
    assert set(kinds["image"]) == {"encoding", "step", "data_size", "size", "too_large", "valid", "bigendian",
                                   "random_bytes", "time"}
    assert set(kinds["compressed"]) == {"format", "truncated", "corrupted", "too_large", "size", "valid",
                                        "random_bytes"}
    assert set(kinds["features"]) == {"dtype", "shape", "data_size", "non_finite", "model_id", "too_large",
                                      "stamp_range", "time"}
    assert {"mono16", "16UC1", "32FC1", "yuv422", "bayer_rggb8"} <= set(UNSUPPORTED_ENCODINGS)
    notes = {c.note for c in a if c.kind == "time"}
    for what in ("stamp zero", "stamp backwards", "stamp max", "zero stamp", "burst", "duplicate stamp",
                 "gap longer than the history", "stamp went backwards"):
        assert what in notes, what


def test_image_cases_expect_what_the_core_decoders_do():
    """The generator's expected reason for every image case is what swiftcast.runtime.images says (no ROS)."""
    for case in generate_cases(CASES, FuzzSpec(model_id="m"), SEED):
        f = case.fields
        if case.target not in ("image", "compressed"):
            continue
        try:
            if case.target == "image":
                image = decode_raw(f["encoding"], f["height"], f["width"], f["step"], f["data"], f["is_bigendian"])
            else:
                image = decode_compressed(f["format"], f["data"])
        except ImageError as exc:
            assert exc.reason in case.reasons, (case.index, case.kind, case.note, exc.reason)
            continue
        assert case.outcome != REJECT, (case.index, case.kind, case.note)
        if case.out_size is not None:
            assert image.shape == case.out_size, (case.index, case.note)


def test_fuzz_running_nodes(tmp_path):
    require_ros()
    from fuzz_world import FuzzWorld, problems, write_report

    world = FuzzWorld(tmp_path / "world")
    try:
        cases = generate_cases(CASES, world.spec, SEED)
        report = world.run(cases)
    finally:
        codes = world.close()
    report["exit_codes"] = codes
    write_report(report, tmp_path / "fuzz_report.json")
    print(report["summary"])
    print(f"report: {tmp_path / 'fuzz_report.json'}")
    assert report["cases"] >= 1000
    assert not problems(report), "\n".join(problems(report))
    assert codes == {"raw": 0, "comp": 0, "forecast": 0}, codes
