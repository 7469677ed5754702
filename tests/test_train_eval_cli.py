"""End to end through the command line: train a model for a few iterations on a tiny Cityscapes-layout folder,
evaluate it, and check the numbers against cityscapesScripts' own evaluator on the saved prediction PNGs."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import assert_per_class_matches_cityscapes_scripts, cityscapes_scripts_evaluate

from swiftcast.cli import main as cli
from swiftcast.data.labels import CLASS_NAMES, MOVING_TRAIN_IDS
from swiftcast.forecast.decoder import load_forecast_decoder
from swiftcast.models import load_checkpoint, read_config

SWIFTCAST = str(Path(sys.executable).with_name("swiftcast"))
TRAIN = ["--iters", "3", "--batch-size", "2", "--size", "64x128", "--crop", "64x64", "--workers", "0",
         "--threads", "2", "--save-every", "0"]


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([SWIFTCAST, *argv], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def trained(tiny_cityscapes, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("train") / "ckpt"
    proc = _run("train", "--data", str(tiny_cityscapes), "--model", "swiftnet_rn18", "--out", str(out), *TRAIN)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


def test_checkpoint_records_provenance(trained, tiny_cityscapes) -> None:
    config = json.loads((trained / "config.json").read_text())
    assert config["kind"] == "segmentation" and config["architecture"] == "swiftnet_rn18"
    assert config["input_size"] == [64, 128]
    training = config["training"]
    assert training["command"].startswith("swiftcast train --data") and "--iters 3" in training["command"]
    assert training["seed"] == 0 and training["iteration"] == 3 and training["wall_time_s"] > 0
    assert training["data"]["train"]["num_images"] == 6 and training["data"]["val"]["split"] == "val"
    assert training["hardware"]["world_size"] == 1 and training["hardware"]["cpu_count"] >= 1
    assert 0 <= config["metrics"]["val"]["miou"] <= 1 and set(config["metrics"]["val"]["per_class"]) == set(CLASS_NAMES)
    assert (trained / "train_state.pt").is_file()


def test_eval_equals_cityscapes_scripts(trained, tiny_cityscapes, tmp_path) -> None:
    pred_dir, out_json = tmp_path / "pred", tmp_path / "metrics.json"
    proc = _run("eval", "--data", str(tiny_cityscapes), "--model", str(trained), "--json", str(out_json),
                "--save-predictions", str(pred_dir), "--workers", "0", "--threads", "2")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "mIoU-MO" in proc.stdout
    ours = json.loads(out_json.read_text())

    gts = sorted((tiny_cityscapes / "gtFine" / "val").glob("*/*_gtFine_labelIds.png"))
    preds = [pred_dir / g.name.replace("_gtFine_labelIds.png", "_pred_labelIds.png") for g in gts]
    assert len(gts) == 6 and sorted(pred_dir.iterdir()) == sorted(preds)
    ref = cityscapes_scripts_evaluate(preds, gts)

    # cityscapesScripts gives NaN to a class with TP + FP + FN = 0 (absent from the ground truth and never
    # predicted) and averages the others; we write NaN as null and average the same way
    assert_per_class_matches_cityscapes_scripts(ours, ref, tol=1e-6)
    assert ours["miou"] == pytest.approx(ref["averageScoreClasses"], abs=1e-6)
    moving = [ref["classScores"][CLASS_NAMES[i]] for i in MOVING_TRAIN_IDS]
    moving = [v for v in moving if not math.isnan(v)]
    assert ours["miou_mo"] == pytest.approx(sum(moving) / len(moving), abs=1e-6)
    assert sum(map(sum, ours["confusion"])) == ours["num_pixels"] > 0
    assert ours["data"]["num_images"] == 6


def test_resume_continues_exactly(trained, tiny_cityscapes, tmp_path) -> None:
    out = tmp_path / "resumed"
    base = ["train", "--data", str(tiny_cityscapes), "--out", str(out), *TRAIN, "--val-max-images", "1"]
    assert cli([*base, "--stop-at", "1"]) == 0
    assert json.loads((out / "config.json").read_text())["training"]["iteration"] == 1
    assert cli([*base, "--lr", "1e-3", "--resume"]) == 2  # a changed option is refused, in one line
    assert cli([*base, "--resume"]) == 0
    resumed, config = load_checkpoint(out)
    straight, _ = load_checkpoint(trained)
    assert config["training"]["iteration"] == 3 and len(config["training"]["resumed_with"]) == 1
    a, b = straight.state_dict(), resumed.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_decoder_stage_trains_only_the_skipless_decoder(trained, tiny_cityscapes, tmp_path) -> None:
    out = tmp_path / "decoder"
    argv = ["train", "--data", str(tiny_cityscapes), "--stage", "decoder", "--init", str(trained), "--out", str(out),
            "--iters", "2", "--batch-size", "2", "--crop", "64x64", "--workers", "0", "--val-max-images", "2"]
    assert cli(argv) == 0
    before, _ = load_checkpoint(trained)
    after, config = load_checkpoint(out)
    a, b = before.state_dict(), after.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # the segmentation weights, bit for bit
    assert "forecast_decoder" not in read_config(trained) and load_forecast_decoder(out)[0].widths == (128, 128, 128)
    assert {"val", "val_skipless"} <= set(config["metrics"]) and config["training"]["stage"] == "decoder"
    assert config["input_size"] == [64, 128]  # inherited from --init
    metrics = tmp_path / "skipless.json"
    assert cli(["eval", "--data", str(tiny_cityscapes), "--model", str(out), "--json", str(metrics),
                "--head", "skipless", "--workers", "0", "--max-images", "2"]) == 0
    assert json.loads(metrics.read_text())["head"] == "skipless"
    # a second decoder stage goes on training the --init checkpoint's decoder
    again = tmp_path / "again"
    assert cli([*argv[:argv.index("--init")], "--init", str(out), "--out", str(again), *argv[argv.index("--iters"):]]) == 0
    before, after = load_forecast_decoder(out)[0].state_dict(), load_forecast_decoder(again)[0].state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert all(torch.equal(v, load_checkpoint(again)[0].state_dict()[k]) for k, v in b.items())


def test_decoder_stage_with_new_widths_keeps_everything_else(trained, tiny_cityscapes, tmp_path) -> None:
    """--decoder-widths swaps in a narrower decoder: the checkpoint rebuilds with it, features are unchanged."""
    out = tmp_path / "lite"
    argv = ["train", "--data", str(tiny_cityscapes), "--stage", "decoder", "--init", str(trained), "--out", str(out),
            "--iters", "1", "--batch-size", "2", "--crop", "64x64", "--workers", "0", "--val-max-images", "1",
            "--decoder-widths", "16,8"]
    assert cli(argv) == 0
    before, _ = load_checkpoint(trained)
    after, config = load_checkpoint(out)
    decoder, _ = load_forecast_decoder(out)
    assert config["forecast_decoder"]["widths"] == [16, 8] and decoder.widths == (16, 8)
    a, b = before.state_dict(), after.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in b)
    x = torch.randn(1, 3, 64, 128)
    with torch.inference_mode():
        assert torch.equal(before.features(x), after.features(x))
        logits = decoder(after.features(x), out_size=(64, 128), upsample_logits=False)
    assert logits.shape == (1, 19, 16, 32)  # convs end at stride 8; the logits still come at stride 4


def test_user_mistakes_are_one_line_errors(trained, tiny_cityscapes, tmp_path, capsys) -> None:
    cases = [
        (["train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "x"), "--iters", "1"], "does not exist"),
        (["train", "--data", str(tiny_cityscapes), "--out", str(trained), "--iters", "1"], "--resume"),
        (["train", "--data", str(tiny_cityscapes), "--out", str(tmp_path / "y"), "--iters", "1", "--stage", "decoder"],
         "--init"),
        (["train", "--data", str(tiny_cityscapes), "--out", str(tmp_path / "z"), "--iters", "1", "--crop", "64"],
         "HxW"),
        (["train", "--data", str(tiny_cityscapes), "--out", str(tmp_path / "w"), "--iters", "1", "--stage", "decoder",
          "--init", str(trained), "--decoder-widths", "64,0"], "--decoder-widths"),
        (["train", "--data", str(tiny_cityscapes), "--out", str(tmp_path / "v"), "--iters", "1",
          "--decoder-widths", "64"], "--stage decoder"),
        (["eval", "--data", str(tiny_cityscapes), "--model", str(tmp_path / "nockpt"), "--json", str(tmp_path / "j")],
         "not found"),
        (["eval", "--data", str(tiny_cityscapes), "--model", str(trained), "--json", str(tmp_path / "j"),
          "--frames", "index:x"], "frame selection"),
    ]
    for argv, message in cases:
        assert cli(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
