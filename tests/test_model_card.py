"""Model cards are generated from a checkpoint's config and a metrics JSON: the numbers in them are measured ones."""

from __future__ import annotations

import json
import subprocess
import sys

from swiftcast.model_card import render_forecaster_card, render_segmentation_card


def _forecaster_config() -> dict:
    return {
        "format": "swiftcast.checkpoint/v1", "kind": "forecaster", "architecture": "deform_f2f8", "method": "deform_f2f8", "horizon": "mid",
        "horizon_frames": 9, "horizon_ms": 529.4, "frame_rate_hz": 17.0, "input_offsets": [-9, -6, -3, 0],
        "feature_model_id": "swiftnet_rn18-0123456789ab", "seg_model": "models/seg",
        "training": {"command": "swiftcast train-forecast --horizon mid --finetune", "finetune": True,
                     "init": "runs/mse_mid", "loss": "cross-entropy through the frozen skip-less decoder",
                     "seed": 3, "iteration": 40, "batch_size": 8, "num_samples": 720, "samples_per_seq": 0,
                     "wall_time_s": 120.0, "data": {"root": "/x/data/forecast", "split": "train", "num_sequences": 60},
                     "hardware": {"cpu": "CPU", "cpu_count": 2, "torch_threads": 1},
                     "loss_curve": [[10, 1.5], [40, 1.2]]},
    }


def _evaluation() -> dict:
    def cell(miou: float, mo: float) -> dict:
        return {"miou": miou, "miou_mo": mo, "per_class": {}, "num_sequences": 50}

    return {"protocol": {"horizons": {"mid": {}}}, "data": {"num_sequences": 50},
            "results": {"Oracle": {"mid": cell(0.40, 0.30)}, "Copy last": {"mid": cell(0.30, 0.20)},
                        "DeformF2F-8-FT": {"mid": cell(0.35, 0.25)}}}


def test_forecaster_card_has_the_recipe_and_the_protocol_table():
    card = render_forecaster_card(_forecaster_config(), _evaluation(), "deform_f2f8_ft_mid", "runs/f.sh")
    assert "**Reproduce:** `runs/f.sh`" in card and "Šarić et al. (GCPR 2019)" in card
    assert card.startswith("# deform_f2f8_ft_mid\n")
    assert "DeformF2F-8-FT" in card and "horizon **mid**" in card and "529.4 ms" in card
    assert "swiftcast train-forecast --horizon mid --finetune" in card and "init: `runs/mse_mid`" in card
    assert "1.5000 at iteration 10 -> 1.2000 at 40" in card
    row = [line for line in card.splitlines() if line.startswith("DeformF2F-8-FT")][-1]  # the table row
    assert row.split()[1:4] == ["35.0", "25.0", "0.50"]  # mIoU, mIoU-MO, half of the 30 -> 40 gap closed


def test_model_card_command_picks_the_forecaster_card(tmp_path):
    ckpt = tmp_path / "fc"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps(_forecaster_config()))
    (tmp_path / "eval.json").write_text(json.dumps(_evaluation()))
    run = subprocess.run([sys.executable, "-m", "swiftcast.cli", "model-card", str(ckpt), "--eval",
                          str(tmp_path / "eval.json"), "--eval-command", "swiftcast eval-forecast --data D"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    card = (ckpt / "README.md").read_text()
    assert "`swiftcast eval-forecast --data D`" in card and "Copy last" in card


def test_segmentation_card_lists_every_training_run_oldest_first():
    def run(command: str, stage: str, it: int, total: int, init: dict | None) -> dict:
        return {"command": command, "stage": stage, "iteration": it, "total_iters": total, "batch_size": 8, "seed": 0,
                "backbone_weights": None, "wall_time_s": 600.0, "crop": [256, 256], "scale_range": [0.75, 1.5],
                "data": {"train": {"root": "/x/data/synth", "num_sequences": 300, "frames": "every:2"}},
                "hardware": {"cpu": "CPU", "cpu_count": 2, "device": "cpu", "torch": "2"}, "init": init}

    first = run("swiftcast train --iters 450", "full", 425, 450, None)
    decoder = run("swiftcast train --stage decoder", "decoder", 100, 100, {"path": "runs/a", "training": first})
    config = {"architecture": "swiftnet_rn18", "num_classes": 19, "input_size": [256, 512], "model_id": "m-1",
              "training": decoder}
    card = render_segmentation_card(config, None, "seg", "runs/seg.sh")
    assert "trained from scratch" in card and "SwiftCast's synthetic driving world" in card
    assert card.index("swiftcast train --iters 450") < card.index("swiftcast train --stage decoder")
    assert "stopped after 425 of a 450-iteration schedule" in card and "20 min of training in all" in card
    assert "**Reproduce:** `runs/seg.sh`" in card
