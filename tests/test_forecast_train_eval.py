"""train-forecast / eval-forecast end to end on a tiny generated world (64x128, 30-frame sequences).

The segmentation model is random (features are still a deterministic function of the frames), so what is checked
is the machinery: the feature cache, that F2F training lowers its loss on the training windows, fine-tuning through
the frozen decoder, exact resumption, and the paper's table / JSON for oracle, copy-last and forecasters.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from forecast_fixtures import (  # noqa: F401 (one_torch_thread is an autouse fixture)
    one_torch_thread,
    random_forecaster_checkpoint,
    random_seg_checkpoint,
    write_moving_objects,
)
from swiftcast.cli import main as cli
from swiftcast.forecast import features as features_mod
from swiftcast.forecast.decoder import load_forecast_decoder
from swiftcast.forecast.features import load_features, load_segmenter
from swiftcast.forecast.forecaster import load_forecaster_checkpoint, method_label, predict_features
from swiftcast.forecast.protocol import get_horizon, training_windows
from swiftcast.models import load_checkpoint, read_config


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("forecast")
    write_moving_objects(root / "data", splits=("train", "val"), sequences=2, size=(64, 128), seed=0)
    seg = random_seg_checkpoint(root / "seg", size=(64, 128), seed=0)
    return {"root": root, "data": root / "data", "seg": seg}


def _train(world: dict, out: Path, *extra: str, iters: int = 40) -> int:
    argv = ["train-forecast", "--data", str(world["data"]), "--seg-model", str(world["seg"]), "--out", str(out),
            "--iters", str(iters), "--batch-size", "6", *extra]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "argv", ["swiftcast", *argv])  # what the checkpoint records as the training command
        return cli(argv)


def _losses(world: dict, net: torch.nn.Module, horizon: str) -> tuple[float, float]:
    """(MSE of ``net``, MSE of copy-last) over every training window."""
    seg = load_segmenter(world["seg"])
    fs = load_features(world["data"], "train", seg, progress=False)
    ours = base = 0.0
    n = 0
    with torch.no_grad():
        for s in fs.sequences:
            feats = s.features.float()
            for w in training_windows(len(s.frames), get_horizon(horizon)):
                pred = predict_features(net, feats[list(w.inputs)].unsqueeze(0))[0]
                ours += float(F.mse_loss(pred, feats[w.target]))
                base += float(F.mse_loss(feats[w.last], feats[w.target]))
                n += 1
    return ours / n, base / n


def test_feature_cache_is_reused_and_keyed_by_model(world: dict, tmp_path: Path, monkeypatch) -> None:
    seg = load_segmenter(world["seg"])
    cache = tmp_path / "cache"
    first = load_features(world["data"], "val", seg, cache, progress=False)
    assert len(first.sequences) == 2 and first.sequences[0].features.shape == (30, 128, 2, 4)
    assert first.sequences[0].features.dtype == torch.float16
    index = json.loads((cache / "index.json").read_text())
    key = features_mod.feature_extractor_id(seg.model, "swiftnet_rn18")
    assert index["models"][key]["val"]["num_frames"] == 60

    def no_extraction(*args, **kwargs):
        raise AssertionError("features were extracted again although the cache is current")

    monkeypatch.setattr(features_mod, "extract_sequence", no_extraction)
    again = load_features(world["data"], "val", seg, cache, progress=False)
    assert torch.equal(again.sequences[1].features, first.sequences[1].features)

    # a new skip-less decoder alone (what `train --stage decoder` changes) leaves the features and the cache valid
    from swiftcast.forecast.decoder import build_forecast_decoder
    from swiftcast.models import save_checkpoint

    seg_only, seg_config = load_checkpoint(world["seg"])
    redecoded = save_checkpoint(tmp_path / "redecoded", seg_only, {"input_size": seg_config["input_size"]},
                                decoder=build_forecast_decoder())
    assert read_config(redecoded)["model_id"] != seg.model_id
    again = load_features(world["data"], "val", load_segmenter(redecoded), cache, progress=False)
    assert torch.equal(again.sequences[1].features, first.sequences[1].features)

    other = random_seg_checkpoint(tmp_path / "other_seg", size=(64, 128), seed=5)
    with pytest.raises(AssertionError, match="extracted again"):  # other feature weights never reuse the cache
        load_features(world["data"], "val", load_segmenter(other), cache, progress=False)


def test_training_lowers_the_loss_and_records_provenance(world: dict) -> None:
    out = world["root"] / "f2f_short"
    assert _train(world, out, "--horizon", "short", "--method", "deform_f2f8") == 0
    net, config = load_forecaster_checkpoint(out, read_config(world["seg"])["model_id"])
    assert config["kind"] == "forecaster" and config["method"] == "deform_f2f8" and config["horizon_frames"] == 3
    assert config["training"]["command"].startswith("swiftcast train-forecast") and config["training"]["seed"] == 0
    assert config["training"]["num_samples"] == 2 * 18  # every valid window of both train sequences
    assert config["training"]["optimizer"]["offset_lr_scale"] == 0.1  # the deformable layers' offsets learn slower
    # the untrained residual F2F equals copy-last, so beating copy-last on the training windows = loss went down
    trained, copy_last = _losses(world, net, "short")
    assert trained < 0.8 * copy_last, (trained, copy_last)
    val = config["metrics"]["val"]
    assert set(val) >= {"Oracle", "Copy last", "DeformF2F-8", "gap_closed_miou"} and val["num_sequences"] == 2
    world["short"] = out


def test_finetune_lowers_cross_entropy_through_the_frozen_decoder(world: dict) -> None:
    if "short" not in world:
        pytest.skip("needs the MSE-trained forecaster of the previous test")
    out = world["root"] / "f2f_short_ft"
    assert _train(world, out, "--horizon", "short", "--finetune", "--init", str(world["short"]), "--lr", "1e-3",
                  iters=25) == 0
    decoder, _ = load_forecast_decoder(world["seg"])
    seg = load_segmenter(world["seg"])
    fs = load_features(world["data"], "train", seg, progress=False)

    def cross_entropy(path: Path) -> float:
        net, _ = load_forecaster_checkpoint(path)
        total = 0.0
        with torch.no_grad():
            for s in fs.sequences:
                for w in training_windows(30, get_horizon("short")):
                    pred = predict_features(net, s.features[list(w.inputs)].float().unsqueeze(0))
                    logits = decoder(pred, out_size=(64, 128))
                    label = torch.from_numpy(fs.label(s.frames[w.target])).long().unsqueeze(0)
                    total += float(F.cross_entropy(logits, label, ignore_index=255))
        return total

    config = read_config(out)
    assert config["training"]["finetune"] is True and method_label(config) == "DeformF2F-8-FT"
    assert config["training"]["init"]["model_id"] == read_config(world["short"])["model_id"]
    assert cross_entropy(out) < cross_entropy(world["short"])


def test_deformable_offsets_learn_at_a_tenth_of_the_rate() -> None:
    from swiftcast.models.f2f import conv_f2f, deform_f2f8
    from swiftcast.train.forecast import OFFSET_LR_SCALE, param_groups

    net = deform_f2f8()
    slow, rest = param_groups(net, 1e-3, 1e-4)
    offsets = {id(p) for name, p in net.named_parameters() if ".offset." in name}
    assert {id(p) for p in slow["params"]} == offsets and len(offsets) == 8  # weight and bias of 4 layers
    assert slow["initial_lr"] == pytest.approx(1e-3 * OFFSET_LR_SCALE) and rest["initial_lr"] == 1e-3
    assert len(slow["params"]) + len(rest["params"]) == len(list(net.parameters()))
    assert [g["initial_lr"] for g in param_groups(conv_f2f(), 1e-3, 1e-4)] == [1e-3]  # no offsets: one group


def test_resuming_a_state_of_other_parameter_groups_is_one_line(world: dict, tmp_path: Path, capsys) -> None:
    from swiftcast.train import loop

    args = ("--horizon", "short", "--method", "deform_f2f8", "--no-val", "--save-every", "2")
    out = tmp_path / "older"
    assert _train(world, out, *args, "--stop-at", "2", iters=4) == 0
    state = loop.load_training_state(out / loop.STATE_FILE)
    groups = state["optimizer"]["param_groups"]  # as an older version saved it: every parameter in one group
    merged = dict(groups[-1], params=sorted(i for g in groups for i in g["params"]))
    state["optimizer"]["param_groups"] = [merged]
    torch.save(state, out / loop.STATE_FILE)
    capsys.readouterr()
    assert _train(world, out, *args, "--resume", iters=4) == 2
    err = capsys.readouterr().err
    assert "older SwiftCast" in err and "Traceback" not in err


def test_stop_and_resume_continue_exactly(world: dict, tmp_path: Path, monkeypatch) -> None:
    args = ("--horizon", "mid", "--method", "conv_f2f", "--save-every", "5", "--no-val")
    assert _train(world, tmp_path / "straight", *args, iters=12) == 0

    resumed = tmp_path / "resumed"
    assert _train(world, resumed, *args, "--stop-at", "7", iters=12) == 0  # a planned stop
    assert read_config(resumed)["training"]["iteration"] == 7
    assert _train(world, resumed, *args, iters=12) == 2  # refuses to overwrite without --resume

    from swiftcast.train import loop

    real = loop.set_learning_rates

    def ctrl_c_at_9(optimizer, iteration, total, min_lr):
        if iteration == 9:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: finish this step, save, exit
        real(optimizer, iteration, total, min_lr)

    monkeypatch.setattr(loop, "set_learning_rates", ctrl_c_at_9)
    assert _train(world, resumed, *args, "--resume", iters=12) == 0
    assert read_config(resumed)["training"]["iteration"] == 10
    monkeypatch.setattr(loop, "set_learning_rates", real)
    assert _train(world, resumed, *args, "--resume", iters=12) == 0

    a, _ = load_checkpoint(tmp_path / "straight")
    b, config = load_checkpoint(resumed)
    assert config["training"]["iteration"] == 12 and len(config["training"]["resumed_with"]) == 2
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.allclose(x, y, atol=1e-6), name


def test_eval_forecast_prints_the_seed_table_and_writes_json(world: dict, tmp_path: Path, capsys) -> None:
    models = tmp_path / "models"
    seg_id = read_config(world["seg"])["model_id"]
    random_forecaster_checkpoint(models / "deform_short", world["seg"], 3, seed=1, perturb=0.05)
    random_forecaster_checkpoint(models / "conv_mid", world["seg"], 9, method="conv_f2f", seed=2, perturb=0.05)
    other_seg = random_seg_checkpoint(tmp_path / "other_seg", seed=9)
    random_forecaster_checkpoint(models / "for_another_model", other_seg, 3)  # must be left out
    out_json = tmp_path / "eval.json"
    rc = cli(["eval-forecast", "--data", str(world["data"]), "--seg-model", str(world["seg"]), "--models-dir",
              str(models), "--json", str(out_json), "--quiet"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "short mIoU" in printed and "mid mIoU-MO" in printed and "gap short" in printed
    assert "sf gap short" in printed and "sf gap mid" in printed
    result = json.loads(out_json.read_text())
    assert result["seg_model"]["model_id"] == seg_id
    assert result["protocol"]["horizons"]["short"]["input_frames"] == [8, 11, 14, 17]
    assert result["protocol"]["horizons"]["mid"]["input_frames"] == [2, 5, 8, 11]
    res = result["results"]
    assert list(res) == ["Oracle", "Copy last", "Oracle (single frame)", "Copy last (single frame)",
                         "Flow extrapolation", "ConvF2F", "DeformF2F-8"]
    for method, horizons in (("Oracle", ("short", "mid")), ("Copy last", ("short", "mid")),
                             ("Oracle (single frame)", ("short", "mid")), ("Copy last (single frame)", ("short", "mid")),
                             ("Flow extrapolation", ("short", "mid")), ("DeformF2F-8", ("short",)),
                             ("ConvF2F", ("mid",))):
        for h in horizons:
            r = res[method][h]
            assert set(r) >= {"miou", "miou_mo", "per_class"} and len(r["per_class"]) == 19
            assert r["num_sequences"] == 2
    # the oracle does not depend on the horizon, copy-last does (objects move between frames 11 and 17)
    assert res["Oracle"]["short"]["miou"] == res["Oracle"]["mid"]["miou"]
    assert res["Oracle (single frame)"]["short"]["miou"] == res["Oracle (single frame)"]["mid"]["miou"]
    # the single-frame rows are the full model's labels of the images themselves, scored like the semseg node's
    sf = _single_frame_scores(world, "val")
    assert res["Oracle (single frame)"]["short"]["miou"] == pytest.approx(sf[19], abs=1e-9)
    assert res["Copy last (single frame)"]["short"]["miou"] == pytest.approx(sf[16], abs=1e-9)
    assert res["Copy last (single frame)"]["mid"]["miou"] == pytest.approx(sf[10], abs=1e-9)
    # flow extrapolation: frame t's labels carried along the flow from t back to t-3 (3 and 9 frames ahead)
    assert res["Flow extrapolation"]["short"]["miou"] == pytest.approx(sf["flow", 16, 3], abs=1e-9)
    assert res["Flow extrapolation"]["mid"]["miou"] == pytest.approx(sf["flow", 10, 9], abs=1e-9)
    gap = result["gap_closed_single_frame"]["DeformF2F-8"]["short"]
    c, o, m = (res[n]["short"]["miou"] for n in ("Copy last (single frame)", "Oracle (single frame)", "DeformF2F-8"))
    assert gap is None if abs(o - c) < 0.005 else gap == pytest.approx((m - c) / (o - c))
    assert set(result["gap_closed_single_frame"]) == {"Flow extrapolation", "DeformF2F-8", "ConvF2F"}
    assert "for_another_model" not in json.dumps(result["checkpoints"])


def _single_frame_scores(world: dict, split: str) -> dict:
    """mIoU over the val sequences of the full model's labels of frame index k against frame 19's ground truth;
    ``("flow", k, ahead)``: those labels carried ``ahead`` frames on along the flow from frame k to k - 1."""
    from swiftcast.data.cityscapes import CityscapesDataset
    from swiftcast.forecast.motion import FlowExtrapolation
    from swiftcast.metrics import ConfusionMeter
    from swiftcast.runtime.segmenter import Segmenter

    seg = Segmenter(world["seg"], warmup=False)
    flow = FlowExtrapolation()
    data = CityscapesDataset(world["data"], split, layout="leftImg8bit_sequence", require_labels=False)
    index = {f.stem: i for i, f in enumerate(data.frames)}
    out = {}
    for k in (19, 16, 10):
        meter = ConfusionMeter()
        for s in data.sequences:
            truth = data.load(index[s.frames[19].stem])[1]
            pred = seg(data.load(index[s.frames[k].stem])[0], want_features=False).labels
            meter.update(torch.from_numpy(pred), torch.from_numpy(truth))
        out[k] = meter.summary()["miou"]
    for k, ahead in ((16, 3), (10, 9)):
        meter = ConfusionMeter()
        for s in data.sequences:
            truth = data.load(index[s.frames[19].stem])[1]
            image, past = (data.load(index[s.frames[j].stem])[0] for j in (k, k - 1))
            pred = seg(image, want_features=False).labels
            pred = flow.forecast(pred, flow.motion(image, past, 1), ahead)
            meter.update(torch.from_numpy(pred), torch.from_numpy(truth))
        out["flow", k, ahead] = meter.summary()["miou"]
    return out


def test_format_table_single_frame_gap_share() -> None:
    from swiftcast.eval.forecast import format_table

    row = lambda v: {"short": {"miou": v, "miou_mo": v}}  # noqa: E731
    results = {"Oracle": row(0.30), "Copy last": row(0.20), "Oracle (single frame)": row(0.40),
               "Copy last (single frame)": row(0.20), "F2F": row(0.25)}
    table = format_table(results, ["short"])
    f2f = next(line for line in table.splitlines() if line.startswith("F2F"))
    assert f2f.split()[-2:] == ["0.50", "0.25"]  # (25 - 20) / (30 - 20), then (25 - 20) / (40 - 20)
    results["Oracle (single frame)"] = row(0.203)  # a gap under 0.5 points: no share
    table = format_table(results, ["short"])
    assert next(line for line in table.splitlines() if line.startswith("F2F")).split()[-1] == "n/a"
    assert "sf gap n/a (short)" in table


def test_user_errors_are_one_line(world: dict, tmp_path: Path, capsys) -> None:
    assert _train(world, tmp_path / "x", "--horizon", "short", "--finetune") == 2
    assert "--finetune needs --init" in capsys.readouterr().err
    other_seg = random_seg_checkpoint(tmp_path / "other_seg", seed=9)
    foreign = random_forecaster_checkpoint(tmp_path / "foreign", other_seg, 3)
    rc = cli(["eval-forecast", "--data", str(world["data"]), "--seg-model", str(world["seg"]),
              "--forecasters", str(foreign), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "forecasts features of segmentation model" in err and "Traceback" not in err
    rc = cli(["eval-forecast", "--data", str(tmp_path / "missing"), "--seg-model", str(world["seg"]), "--quiet"])
    assert rc == 2 and "does not exist" in capsys.readouterr().err


def test_two_samples_per_sequence_is_a_row_of_its_own(world: dict, tmp_path: Path, capsys) -> None:
    """The paper's last row: --samples-per-sequence 2 trains on the protocol window (target = the 20th frame) plus
    one more per sequence, and eval-forecast lists it apart from the same method trained on every window."""
    out = tmp_path / "two"
    assert _train(world, out, "--horizon", "short", "--samples-per-sequence", "2", "--no-val", iters=3) == 0
    config = read_config(out)
    assert config["training"]["samples_per_seq"] == 2 and config["training"]["num_samples"] == 2 * 2
    assert method_label(config) == "DeformF2F-8 (2 samples/seq)"
    every = random_forecaster_checkpoint(tmp_path / "every", world["seg"], 3, seed=1)
    capsys.readouterr()
    rc = cli(["eval-forecast", "--data", str(world["data"]), "--seg-model", str(world["seg"]), "--forecasters",
              str(every), str(out), "--horizons", "short", "--json", str(tmp_path / "e.json"), "--quiet"])
    assert rc == 0
    rows = [line.split("  ")[0] for line in capsys.readouterr().out.splitlines()]
    assert rows.index("DeformF2F-8") < rows.index("DeformF2F-8 (2 samples/seq)")
    assert set(json.loads((tmp_path / "e.json").read_text())["results"]) == {
        "Oracle", "Copy last", "Oracle (single frame)", "Copy last (single frame)", "Flow extrapolation",
        "DeformF2F-8", "DeformF2F-8 (2 samples/seq)"}


def test_finetune_labels_are_taken_at_each_cell_centre() -> None:
    """The -FT loss compares stride-4 logits with the pixel nearest each 4x4 cell's centre; ignore stays ignore."""
    from swiftcast.train.forecast import labels_at_size

    label = np.arange(16 * 32, dtype=np.uint8).reshape(16, 32) % 19
    label[8:12, 4:8] = 255
    small = labels_at_size(label, (4, 8))
    np.testing.assert_array_equal(small, label[2::4, 2::4])
    assert small[2, 1] == 255


def test_finetune_resumes_bit_exactly(world: dict, tmp_path: Path) -> None:
    init = random_forecaster_checkpoint(tmp_path / "init", world["seg"], 3, seed=3, perturb=0.05)
    args = ("--horizon", "short", "--finetune", "--init", str(init), "--no-val", "--save-every", "0")
    assert _train(world, tmp_path / "straight", *args, iters=6) == 0
    assert _train(world, tmp_path / "split", *args, "--stop-at", "3", iters=6) == 0
    assert _train(world, tmp_path / "split", *args, "--resume", iters=6) == 0
    a, _ = load_checkpoint(tmp_path / "straight")
    b, config = load_checkpoint(tmp_path / "split")
    assert config["training"]["iteration"] == 6 and "output stride 4" in config["training"]["loss"]
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name


def test_tune_decoder_saves_the_decoder_that_decodes_the_forecaster(world: dict, tmp_path: Path, capsys) -> None:
    """-FT with --tune-decoder: the decoder learns with the forecaster (its batch-norm statistics stay), is saved
    in the forecaster's checkpoint (covered by its model_id), resumes exactly, and decodes that forecaster's
    features wherever it is used; a forecaster without one keeps the segmentation checkpoint's."""
    from swiftcast.forecast.forecaster import SemanticForecaster, forecaster_decoder
    from swiftcast.models.checkpoint import DECODER_WEIGHTS_NAME

    init = random_forecaster_checkpoint(tmp_path / "init", world["seg"], 3, seed=3, perturb=0.05)
    args = ("--horizon", "short", "--finetune", "--tune-decoder", "--init", str(init), "--no-val",
            "--save-every", "0", "--lr", "1e-3")
    assert _train(world, tmp_path / "straight", *args, iters=6) == 0
    assert _train(world, tmp_path / "split", *args, "--stop-at", "3", iters=6) == 0
    assert _train(world, tmp_path / "split", *args, "--resume", iters=6) == 0
    seg_decoder, _ = load_forecast_decoder(world["seg"])
    tuned, config = load_forecast_decoder(tmp_path / "split")
    straight, _ = load_forecast_decoder(tmp_path / "straight")
    assert (tmp_path / "split" / DECODER_WEIGHTS_NAME).is_file() and config["training"]["tune_decoder"] is True
    assert config["forecast_decoder"]["num_classes"] == seg_decoder.num_classes
    assert "tuned with the forecaster" in config["training"]["loss"]
    assert config["name"] == "DeformF2F-8-FT (tuned decoder)"
    assert config["training"]["optimizer"]["offset_lr_scale"] == 0.1  # the decoder's group is not the offsets'
    changed = []
    for (name, x), (_, y), (_, z) in zip(tuned.state_dict().items(), straight.state_dict().items(),
                                         seg_decoder.state_dict().items()):
        assert torch.equal(x, y), name  # resumed exactly
        if "running_" in name or "num_batches" in name:
            assert torch.equal(x, z), name  # batch-norm statistics stay the single-frame features'
        elif not torch.equal(x, z):
            changed.append(name)
    assert changed, "no decoder weight learned"

    net, fconfig = load_forecaster_checkpoint(tmp_path / "split")
    assert forecaster_decoder(tmp_path / "split", fconfig, seg_decoder) is not seg_decoder
    assert forecaster_decoder(init, read_config(init), seg_decoder) is seg_decoder
    forecaster = SemanticForecaster(tmp_path / "split", world["seg"])
    for (name, x), (_, y) in zip(forecaster.decoder.state_dict().items(), tuned.state_dict().items()):
        assert torch.equal(x, y), name

    # eval-forecast decodes it with the tuned decoder, and the oracle and copy-last through that decoder too
    capsys.readouterr()
    rc = cli(["eval-forecast", "--data", str(world["data"]), "--seg-model", str(world["seg"]), "--forecasters",
              str(tmp_path / "split"), "--horizons", "short", "--no-flow", "--json", str(tmp_path / "e.json"),
              "--quiet"])
    assert rc == 0, capsys.readouterr().err
    saved = json.loads((tmp_path / "e.json").read_text())
    label = "DeformF2F-8-FT (tuned decoder)"
    own_refs = {f"Oracle, decoder of {label}", f"Copy last, decoder of {label}"}
    assert {label, *own_refs} <= set(saved["results"])
    assert label in saved["gap_closed"] and not own_refs & set(saved["gap_closed"])  # references

    # the forecast node's "auto" takes the tuned -FT over a frozen one (whatever the folder names)
    import shutil

    from swiftcast.forecast.forecaster import default_forecaster

    frozen = ("--horizon", "short", "--finetune", "--init", str(init), "--no-val", "--save-every", "0")
    assert _train(world, tmp_path / "models" / "z_frozen", *frozen, iters=2) == 0
    shutil.copytree(tmp_path / "split", tmp_path / "models" / "a_tuned", ignore=shutil.ignore_patterns("train_state*"))
    seg_id = read_config(world["seg"])["model_id"]
    assert default_forecaster(tmp_path / "models", seg_id, 3).name == "a_tuned"

    assert _train(world, tmp_path / "x", "--horizon", "short", "--tune-decoder") == 2
    assert "--tune-decoder needs --finetune" in capsys.readouterr().err
