"""explain-forecast: the gradient of a forecast pixel w.r.t. the input frames, and the figure a person reads.

The sequence is built for it: a car and a person slide in opposite directions over a flat road/building
background. The networks are random (no training in a unit test), so what is checked is what holds for any
weights: gradients reach every input frame through backbone + SPP + forecaster + decoder, an untrained (exactly
copy-last) F2F draws all its evidence from frame t, and the strongest gradients sit on the object the chosen pixel
belongs to (far above that object's share of the image) rather than on the other object - i.e. the explanation
follows the pixel, which catches swapped rows/columns, wrong scaling of the pixel, or a wrong frame order.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from forecast_fixtures import (  # noqa: F401 (one_torch_thread is an autouse fixture)
    one_torch_thread,
    random_forecaster_checkpoint,
    random_seg_checkpoint,
    write_moving_objects,
)
from swiftcast.cli import main as cli
from swiftcast.data.cityscapes import CityscapesDataset
from swiftcast.eval.explain import explain_pixel
from swiftcast.forecast.decoder import load_forecast_decoder
from swiftcast.forecast.features import load_segmenter
from swiftcast.forecast.forecaster import load_forecaster_checkpoint
from swiftcast.forecast.protocol import protocol_window

SIZE = (128, 256)  # 4x8 feature cells: small, but enough room for two separate objects


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("explain")
    layout = write_moving_objects(root / "data", splits=("val",), sequences=1, size=SIZE, seed=3)
    seg = random_seg_checkpoint(root / "seg", size=SIZE, seed=1)
    moved = random_forecaster_checkpoint(root / "f2f_mid", seg, horizon_frames=9, seed=1, perturb=0.05)
    untrained = random_forecaster_checkpoint(root / "f2f_untrained", seg, horizon_frames=9, seed=2)
    return {"root": root, "data": root / "data", "layout": layout, "seg": seg, "f2f": moved, "untrained": untrained}


def _inputs(scene: dict, segmenter):
    ds = CityscapesDataset(scene["data"], "val", layout="leftImg8bit_sequence")
    seq = ds.sequences[0]
    window = protocol_window("mid")
    index = {f.stem: i for i, f in enumerate(ds.frames)}
    images = torch.cat([segmenter.preprocess(ds.load(index[seq.frames[i].stem])[0]) for i in window.inputs])
    return images, scene["layout"][f"{seq.city}_{seq.seq}"], window


def _share_near(mask: np.ndarray, obj, frames, margin: int = 8) -> tuple[float, float]:
    """Share of the marked pixels inside the object's box (+margin) at each input frame, and that region's area share."""
    inside = area = 0
    for k, i in enumerate(frames):
        top, left, bottom, right = obj.box(i)
        region = mask[k, max(top - margin, 0) : bottom + margin, max(left - margin, 0) : right + margin]
        inside += int(region.sum())
        area += region.size
    return inside / max(int(mask.sum()), 1), area / mask.size


def test_gradients_reach_every_frame_and_follow_the_object(scene: dict) -> None:
    segmenter = load_segmenter(scene["seg"])
    net, _ = load_forecaster_checkpoint(scene["f2f"], segmenter.model_id)
    decoder, _ = load_forecast_decoder(scene["seg"])
    images, objects, window = _inputs(scene, segmenter)
    shares = {}
    for a, obj in enumerate(objects):
        top, left, bottom, right = obj.box(window.target)
        ex = explain_pixel(segmenter.model, decoder, net, images, ((top + bottom) // 2, (left + right) // 2))
        assert ex.gradients.shape == (4, *SIZE) and np.isfinite(ex.gradients).all()
        assert (ex.frame_shares() > 0.01).all()  # every input frame contributes
        mask = ex.top_mask(0.01)
        for b, other in enumerate(objects):
            shares[a, b], area = _share_near(mask, other, window.inputs)
            if a == b:
                # concentrated: the object's neighbourhood holds far more of the strongest pixels than its area
                assert shares[a, b] > 2.0 * area, (a, shares[a, b], area)
    assert shares[0, 0] > shares[0, 1] and shares[1, 1] > shares[1, 0], shares


def test_untrained_f2f_takes_all_evidence_from_frame_t(scene: dict) -> None:
    # an untrained residual F2F is exactly copy-last: the forecast cannot depend on t-9, t-6, t-3 at all
    segmenter = load_segmenter(scene["seg"])
    net, _ = load_forecaster_checkpoint(scene["untrained"], segmenter.model_id)
    images, _, _ = _inputs(scene, segmenter)
    ex = explain_pixel(segmenter.model, load_forecast_decoder(scene["seg"])[0], net, images, (70, 100))
    assert np.all(ex.gradients[:3] == 0) and ex.gradients[3].max() > 0


def test_explain_forecast_cli_writes_figure_and_summary(scene: dict, tmp_path: Path) -> None:
    seq = next(iter(scene["layout"]))
    rc = cli(["explain-forecast", "--data", str(scene["data"]), "--sequence", seq, "--pixel", "70,100",
              "--horizon", "mid", "--out", str(tmp_path), "--forecaster", str(scene["f2f"]),
              "--seg-model", str(scene["seg"])])
    assert rc == 0
    png = tmp_path / f"explain_{seq}_mid_r70_c100.png"
    figure = cv2.imread(str(png))
    assert figure is not None and figure.shape[0] > 200 and figure.shape[1] > 600
    # red marks exist in the figure (strongest-gradient pixels)
    b, g, r = (figure[..., i].astype(int) for i in range(3))
    assert ((r > 200) & (g < 40) & (b < 40)).sum() > 20
    summary = json.loads((tmp_path / f"explain_{seq}_mid_r70_c100.json").read_text())
    assert summary["input_frames"] == [2, 5, 8, 11] and summary["target_frame"] == 20
    assert summary["pixel_at_model_input"] == [70, 100]
    assert abs(sum(summary["gradient_share_per_frame"].values()) - 1) < 1e-3
    grads = np.load(tmp_path / f"explain_{seq}_mid_r70_c100_gradients.npz")["gradients"]
    assert grads.shape == (4, *SIZE) and float(grads.max()) > 0


@pytest.mark.parametrize("argv, message", [
    (["--pixel", "70"], "ROW,COL"),
    (["--pixel", "500,10"], "outside"),
    (["--sequence", "nowhere_000001"], "no sequence"),
    (["--horizon", "short"], "not 3"),
])
def test_explain_forecast_user_errors(scene: dict, tmp_path: Path, capsys, argv: list[str], message: str) -> None:
    args = {"--data": str(scene["data"]), "--sequence": next(iter(scene["layout"])), "--pixel": "70,100",
            "--horizon": "mid", "--out": str(tmp_path), "--forecaster": str(scene["f2f"]),
            "--seg-model": str(scene["seg"])}
    args.update(dict(zip(argv[::2], argv[1::2])))
    rc = cli(["explain-forecast", *[v for kv in args.items() for v in kv]])
    assert rc == 2 and message in capsys.readouterr().err
