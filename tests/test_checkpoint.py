"""Checkpoints: exact round trip, and every damaged or mismatched file is one CheckpointError line."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from swiftcast.cli import main as cli
from swiftcast.errors import CheckpointError
from swiftcast.models import build_forecaster, build_model, load_checkpoint, save_checkpoint
from swiftcast.models.weights import load_state_dict_file


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.manual_seed(0)
    model = build_model("swiftnet_rn18", num_classes=19)
    model.train()
    with torch.no_grad():  # non-trivial BN statistics, so the round trip covers buffers too
        model.forward_with_features(torch.randn(2, 3, 64, 64))
    model.eval()
    path = tmp_path_factory.mktemp("ckpt") / "rn18"
    save_checkpoint(path, model, {"input_size": [64, 64], "metrics": {"miou": 0.5}})
    return model, path


def one_line_error(path) -> str:
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_round_trip_is_exact(saved):
    model, path = saved
    loaded, config = load_checkpoint(path)
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    assert config["format"] == "swiftcast.checkpoint/v1" and config["kind"] == "segmentation"
    assert config["architecture"] == "swiftnet_rn18" and config["num_classes"] == 19
    assert len(config["class_names"]) == 19 and config["normalization"]["mean"] == [73.15, 82.90, 72.3]
    assert config["metrics"] == {"miou": 0.5}
    assert config["model_id"].startswith("swiftnet_rn18-") and len(config["model_id"].split("-")[-1]) == 12
    assert load_checkpoint(path / "weights.safetensors")[1]["model_id"] == config["model_id"]


def test_forecaster_round_trip(tmp_path):
    torch.manual_seed(0)
    model = build_forecaster("deform_f2f8")
    torch.nn.init.normal_(model.out.weight, std=0.01)
    save_checkpoint(tmp_path, model, {"method": "deform_f2f8", "horizon_frames": 3, "feature_model_id": "x"})
    loaded, config = load_checkpoint(tmp_path)
    past = torch.randn(1, 512, 4, 6)
    with torch.no_grad():
        assert torch.equal(loaded(past), model.eval()(past))
    assert config["kind"] == "forecaster" and config["horizon_frames"] == 3


def copy_of(saved_path, tmp_path):
    return shutil.copytree(saved_path, tmp_path / "copy")


def test_truncated_weights(saved, tmp_path):
    path = copy_of(saved[1], tmp_path)
    weights = path / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    assert "safetensors" in one_line_error(path)


def test_corrupted_header_and_corrupted_data(saved, tmp_path):
    path = copy_of(saved[1], tmp_path)
    weights = path / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1000:-990] = bytes(10 * [0xAB])  # inside the tensor data: only the digest can tell
    weights.write_bytes(bytes(data))
    assert "model_id" in one_line_error(path)
    data[10:20] = b"garbage!!!"  # inside the JSON header
    weights.write_bytes(bytes(data))
    one_line_error(path)


def test_wrong_architecture_and_wrong_classes(saved, tmp_path):
    path = copy_of(saved[1], tmp_path)
    config_path = path / "config.json"
    config = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**config, "architecture": "swiftnet_mnv2"}))
    assert "do not fit architecture swiftnet_mnv2" in one_line_error(path)
    config_path.write_text(json.dumps({**config, "num_classes": 20}))
    assert "mis-shaped" in one_line_error(path)
    config_path.write_text(json.dumps({**config, "architecture": "swiftnet_rn1000"}))
    assert "unknown segmentation architecture" in one_line_error(path)
    config_path.write_text(json.dumps({**config, "format": "something/v9"}))
    assert "format" in one_line_error(path)
    config_path.write_text("{not json")
    assert "not valid JSON" in one_line_error(path)


class NotATensor:
    """Anything torch.load(weights_only=True) must refuse to unpickle."""


def test_pickle_files_are_refused(tmp_path):
    evil = tmp_path / "model.pt"
    torch.save({"weights": NotATensor()}, evil)
    with pytest.raises(CheckpointError, match="refusing to unpickle"):
        load_state_dict_file(evil)
    assert "import-checkpoint" in one_line_error(evil)
    assert "no such checkpoint" in one_line_error(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    assert "no config.json" in one_line_error(tmp_path / "empty")


def test_cli_prints_one_line_for_a_bad_checkpoint(saved, tmp_path, capsys):
    path = copy_of(saved[1], tmp_path)
    (path / "weights.safetensors").write_bytes(b"\x00" * 16)
    assert cli(["model-info", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error" in err and "Traceback" not in err


def test_forecast_decoder_is_a_part_of_its_own(tmp_path):
    """weights.safetensors is SwiftNet alone; the decoder sits next to it and model_id covers both."""
    from swiftcast.forecast.decoder import build_forecast_decoder, load_forecast_decoder
    from swiftcast.models.checkpoint import DECODER_WEIGHTS_NAME

    torch.manual_seed(0)
    model, decoder = build_model("swiftnet_rn18", num_classes=19), build_forecast_decoder(128, 19, (16, 8))
    save_checkpoint(tmp_path / "a", model, decoder=decoder)
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    assert config["forecast_decoder"] == {"num_features": 128, "widths": [16, 8]} and config["arch_kwargs"] == {}
    assert not any(k.startswith("forecast_decoder.") for k in load_state_dict_file(tmp_path / "a" / "weights.safetensors"))
    loaded, _ = load_forecast_decoder(tmp_path / "a")
    assert loaded.widths == (16, 8) and all(torch.equal(loaded.state_dict()[k], v) for k, v in decoder.state_dict().items())
    # another decoder, same segmentation weights: another model_id; without one, no decoder file is left behind
    save_checkpoint(tmp_path / "b", model, decoder=build_forecast_decoder(128, 19, (16, 8)))
    assert json.loads((tmp_path / "b" / "config.json").read_text())["model_id"] != config["model_id"]
    save_checkpoint(tmp_path / "b", model)
    assert not (tmp_path / "b" / DECODER_WEIGHTS_NAME).exists()
    with pytest.raises(CheckpointError, match="--stage decoder"):
        load_forecast_decoder(tmp_path / "b")
    (tmp_path / "a" / DECODER_WEIGHTS_NAME).unlink()
    assert "forecast_decoder.safetensors" in one_line_error(tmp_path / "a")


def test_older_checkpoints_with_the_decoder_inside_load_and_convert(tmp_path):
    """The layout from before the split (decoder tensors in weights.safetensors, decoder_widths in arch_kwargs)
    loads split, keeps its model_id, and convert-checkpoint rewrites it with the same tensors and id."""
    from safetensors.torch import save_file

    from swiftcast.forecast.decoder import build_forecast_decoder, load_forecast_decoder
    from swiftcast.models.checkpoint import model_id_for

    torch.manual_seed(0)
    model, decoder = build_model("swiftnet_rn18", num_classes=19), build_forecast_decoder(128, 19, (64, 32, 16))
    state = {**model.state_dict(), **{f"forecast_decoder.{k}": v for k, v in decoder.state_dict().items()}}
    old = tmp_path / "old"
    old.mkdir()
    save_file({k: v.contiguous() for k, v in state.items()}, str(old / "weights.safetensors"))
    model_id = model_id_for("swiftnet_rn18", state)
    (old / "config.json").write_text(json.dumps({
        "format": "swiftcast.checkpoint/v1", "kind": "segmentation", "architecture": "swiftnet_rn18",
        "arch_kwargs": {"decoder_widths": [64, 32, 16]}, "num_classes": 19, "model_id": model_id}))

    def check() -> None:
        seg, config = load_checkpoint(old)
        assert config["model_id"] == model_id and config["arch_kwargs"] == {}
        assert all(torch.equal(seg.state_dict()[k], v) for k, v in model.state_dict().items())
        loaded, _ = load_forecast_decoder(old)
        assert loaded.widths == (64, 32, 16)
        assert all(torch.equal(loaded.state_dict()[k], v) for k, v in decoder.state_dict().items())

    check()
    assert cli(["convert-checkpoint", str(old)]) == 0
    assert (old / "forecast_decoder.safetensors").is_file()
    assert set(load_state_dict_file(old / "weights.safetensors")) == set(model.state_dict())
    check()


def test_a_model_that_still_carries_its_decoder_saves_in_the_new_layout(tmp_path):
    """A model built while the decoder was a submodule (e.g. by a training run started before) saves split."""
    from swiftcast.forecast.decoder import build_forecast_decoder, load_forecast_decoder

    torch.manual_seed(0)
    model = build_model("swiftnet_rn18", num_classes=19)
    model.forecast_decoder = build_forecast_decoder(128, 19)
    save_checkpoint(tmp_path, model)
    seg, config = load_checkpoint(tmp_path)
    assert config["forecast_decoder"]["widths"] == [128, 128, 128] and not hasattr(seg, "forecast_decoder")
    assert load_forecast_decoder(tmp_path)[0].widths == (128, 128, 128)
