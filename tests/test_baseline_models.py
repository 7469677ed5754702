"""torchvision comparison baselines (``lraspp_mnv3``, ``deeplabv3_mnv3``; benchmarks/pareto.py): built without any
download, logits at input size, the training recipe's backbone/head split, checkpoints that load like SwiftNet's,
``swiftcast train`` / ``swiftcast eval`` on them, and a one-line refusal where SwiftNet features are needed."""

from __future__ import annotations

import json

import pytest
import torch

from swiftcast.cli import main as cli
from swiftcast.errors import CheckpointError, SwiftcastError
from swiftcast.models import build_model, load_checkpoint, save_checkpoint
from swiftcast.models.baselines import BASELINES

NAMES = list(BASELINES)


@pytest.mark.parametrize("name", NAMES)
def test_logits_at_input_size_and_recipe_groups(name):
    torch.manual_seed(0)
    model = build_model(name, num_classes=7).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 100, 150)).shape == (1, 7, 100, 150)
    groups = model.parameter_groups()
    assert groups["backbone"] and groups["head"]
    assert len(groups["backbone"]) + len(groups["head"]) == len(list(model.parameters()))
    with pytest.raises(SwiftcastError, match="comparison baseline"):
        model.features(torch.randn(1, 3, 64, 64))


@pytest.mark.parametrize("name", NAMES)
def test_checkpoint_round_trip(name, tmp_path):
    torch.manual_seed(0)
    model = build_model(name).eval()
    path = save_checkpoint(tmp_path / name, model, {"input_size": [64, 128]})
    loaded, config = load_checkpoint(path)
    assert config["architecture"] == name
    x = torch.randn(1, 3, 64, 128)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))


def test_no_backbone_weights_and_no_node(tmp_path):
    with pytest.raises(SwiftcastError, match="from scratch"):
        build_model("lraspp_mnv3", backbone_weights="imagenet")
    from swiftcast.runtime.segmenter import Segmenter

    path = save_checkpoint(tmp_path / "lraspp", build_model("lraspp_mnv3"), {"input_size": [64, 128]})
    with pytest.raises(CheckpointError, match="has no features"):
        Segmenter(path, warmup=False)


def test_train_and_eval_commands(tiny_cityscapes, tmp_path):
    out, metrics = tmp_path / "ckpt", tmp_path / "m.json"
    assert cli(["train", "--data", str(tiny_cityscapes), "--model", "lraspp_mnv3", "--out", str(out), "--iters", "2",
                "--batch-size", "2", "--size", "64x128", "--crop", "64x64", "--workers", "0", "--threads", "1",
                "--save-every", "0"]) == 0
    assert json.loads((out / "config.json").read_text())["architecture"] == "lraspp_mnv3"
    assert cli(["eval", "--data", str(tiny_cityscapes), "--model", str(out), "--json", str(metrics),
                "--workers", "0", "--threads", "1"]) == 0
    assert 0.0 <= json.loads(metrics.read_text())["miou"] <= 1.0
