"""The synthetic world: real worlds rendered headless (moderngl/EGL) and written in the Cityscapes layout."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from swiftcast.cli import main as cli_main
from swiftcast.data.labels import NUM_CLASSES, label_ids_to_train_ids
from swiftcast.synth.sequences import CITIES, frame_paths, generate_split

SIZE = (64, 128)
FRAMES = 3


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def val_split(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth_a")
    generate_split(root, "val", 2, seed=5, size=SIZE, frames=FRAMES, progress=False)
    return root


def test_same_seed_gives_identical_bytes(val_split, tmp_path):
    generate_split(tmp_path / "b", "val", 2, seed=5, size=SIZE, frames=FRAMES, progress=False)
    a, b = _files(val_split), _files(tmp_path / "b")
    assert a.keys() == b.keys()
    assert all(a[k] == b[k] for k in a), [k for k in a if a[k] != b[k]]
    # another seed gives other images
    generate_split(tmp_path / "c", "val", 1, seed=6, size=SIZE, frames=1, progress=False)
    img = "leftImg8bit_sequence/val/synthfurt/synthfurt_000000_000000_leftImg8bit.png"
    assert _files(tmp_path / "c")[img] != a[img]


def test_sequence_is_independent_of_start_and_workers(val_split, tmp_path):
    # sequence 1 alone (start=1), written by two worker processes together with sequence 2
    generate_split(tmp_path, "val", 2, seed=5, size=SIZE, frames=FRAMES, start=1, workers=2, progress=False)
    for frame in range(FRAMES):
        ours, ref = frame_paths(tmp_path, "val", 1, frame), frame_paths(val_split, "val", 1, frame)
        for p, q in ((ours.image, ref.image), (ours.label_ids, ref.label_ids), (ours.train_ids, ref.train_ids)):
            assert p.read_bytes() == q.read_bytes(), p.name


def test_layout_and_naming(val_split):
    images = sorted((val_split / "leftImg8bit_sequence" / "val").rglob("*.png"))
    assert len(images) == 2 * FRAMES
    pattern = re.compile(r"^(?P<city>[a-z]+)_(?P<seq>\d{6})_(?P<frame>\d{6})_leftImg8bit\.png$")
    seen = set()
    for img in images:
        m = pattern.match(img.name)
        assert m, img.name
        assert m["city"] in CITIES["val"] and img.parent.name == m["city"]
        seen.add((int(m["seq"]), int(m["frame"])))
        stem = img.name[: -len("_leftImg8bit.png")]
        gt = val_split / "gtFine" / "val" / m["city"]
        assert (gt / f"{stem}_gtFine_labelIds.png").is_file()
        assert (gt / f"{stem}_gtFine_labelTrainIds.png").is_file()
    assert seen == {(s, f) for s in range(2) for f in range(FRAMES)}
    summary = json.loads((val_split / "synth_val.json").read_text())
    assert summary["size"] == list(SIZE) and summary["frames_per_sequence"] == FRAMES
    assert abs(sum(summary["class_pixel_fraction"].values()) - 1.0) < 1e-6


def test_label_ids_match_train_ids_through_the_lut(val_split):
    for gt in sorted((val_split / "gtFine" / "val").rglob("*_gtFine_labelTrainIds.png")):
        train = cv2.imread(str(gt), cv2.IMREAD_UNCHANGED)
        label = cv2.imread(str(gt).replace("labelTrainIds", "labelIds"), cv2.IMREAD_UNCHANGED)
        assert train.dtype == np.uint8 and train.shape == SIZE
        assert train.max() < NUM_CLASSES  # every pixel has a class (the renderer covers the view; sky behind)
        np.testing.assert_array_equal(label_ids_to_train_ids(label), train)
        assert len(np.unique(train)) >= 4  # a street view, not a blank frame


def test_odd_size_is_respected(tmp_path):
    generate_split(tmp_path, "train", 1, seed=1, size=(96, 200), frames=1, progress=False)
    p = frame_paths(tmp_path, "train", 0, 0)
    assert cv2.imread(str(p.image)).shape == (96, 200, 3)
    assert cv2.imread(str(p.label_ids), cv2.IMREAD_UNCHANGED).shape == (96, 200)
    assert cv2.imread(str(p.train_ids), cv2.IMREAD_UNCHANGED).shape == (96, 200)


@pytest.mark.parametrize("split", ["train", "val"])
def test_all_classes_are_spawned_in_each_split(split):
    """The worlds of the first sequences of a split contain objects of every one of the 19 classes."""
    from swiftcast.synth.scene import generate_world
    from swiftcast.synth.sequences import sequence_seed
    from swiftcast.synth.world import FPS

    classes: set[int] = set()
    for k in range(12):
        world = generate_world(np.random.default_rng(sequence_seed(0, split, k).spawn(2)[0]), 29 / FPS)
        classes |= set(np.unique(world.static_rows[:, 20]).astype(int))
        classes |= set(np.unique(world.ground[0][:, 12]).astype(int))
        classes |= {a.cls for a in world.agents} | {int(c) for a in world.agents for c in a.attrs[:, 4]}
        # object frames must be right-handed: a mirrored matrix flips triangle winding (shows box interiors)
        mats = world.static_rows[:, :16].reshape(-1, 4, 4)[:, :3, :3]
        assert (np.linalg.det(mats.astype(np.float64)) > 0).all()
        pos, fwd = world.pack.poses(0.5)
        _, rows = world.pack.rows(0.5, np.ones(len(world.agents), bool), pos, fwd)
        assert (np.linalg.det(rows[:, :16].reshape(-1, 4, 4)[:, :3, :3].astype(np.float64)) > 0).all()
    classes.add(10)  # sky is the dome drawn every frame
    assert classes == set(range(NUM_CLASSES))


def test_depth_test_gives_the_nearest_class():
    """Two boxes of different classes along the view axis: the near one wins wherever it covers the far one."""
    from swiftcast.synth.render import INSTANCE_FLOATS, FrameDraw, Lighting, Renderer, perspective
    from swiftcast.synth.meshes import TEMPLATE_INDEX, TEX
    from swiftcast.synth.world import Intrinsics

    h, w = 48, 64
    intr = Intrinsics.for_size(h, w)
    rows = np.zeros((2, INSTANCE_FLOATS), np.float32)
    for i, (z, size, cls) in enumerate(((-20.0, 6.0, 2), (-10.0, 1.0, 13))):  # building far, car near
        m = np.diag([size, size, size, 1.0])
        m[:3, 3] = (0, 0, z)
        rows[i, :16] = m.T.reshape(16)
        rows[i, 16:] = (0.5, 0.5, 0.5, TEX["flat"], cls, 0, 1)
    lit = Lighting(sun_dir=np.array([0, 1.0, 0]), sun=np.ones(3), ambient=np.ones(3) * 0.3, fog=np.ones(3),
                   fog_density=0.0, gain=np.ones(3), sky_zenith=np.ones(3), sky_horizon=np.ones(3), clouds=0.0)
    view = np.eye(4)  # camera at the origin looking along -z
    proj = perspective(intr.fx, intr.fy, intr.cx, intr.cy, w, h, 0.3, 100.0)
    r = Renderer(h, w)
    try:
        rgb, cls = r.render(FrameDraw(proj @ view, np.zeros(3), {TEMPLATE_INDEX["box"]: rows}, lit))
    finally:
        r.release()
    assert rgb.shape == (h, w, 3) and cls.shape == (h, w)
    assert cls[h // 2, w // 2] == 13  # the near car hides the building behind it
    half_car = 0.5 * intr.fx / 9.5  # pixels from the centre to the car's front face edge
    assert cls[h // 2, int(w / 2 + half_car + 3)] == 2  # beside the car: the building
    assert cls[0, 0] == 10  # nothing drawn: sky
    assert set(np.unique(cls)) == {2, 10, 13}


def test_cli_rejects_bad_options(tmp_path, capsys):
    assert cli_main(["synth", "--out", str(tmp_path), "--split", "val", "--sequences", "1", "--size", "big"]) == 2
    err = capsys.readouterr().err
    assert "is not HxW" in err and "Traceback" not in err
    assert cli_main(["synth", "--out", str(tmp_path), "--split", "val", "--sequences", "0"]) == 2
    assert cli_main(["synth", "--out", str(tmp_path), "--split", "val", "--sequences", "1", "--size", "8x8"]) == 2
    assert "out of range" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert cli_main(["synth", "--out", str(blocker / "sub"), "--split", "val", "--sequences", "1"]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_cli_writes_a_split(tmp_path, capsys):
    assert cli_main(["synth", "--out", str(tmp_path), "--split", "train", "--sequences", "1", "--seed", "3",
                     "--size", "48x96", "--frames", "2", "--quiet"]) == 0
    assert "wrote 2 frames" in capsys.readouterr().out
    assert frame_paths(tmp_path, "train", 0, 1).image.is_file()
