"""ONNX export and the onnxruntime backend: parity with torch (fp32), accuracy cost of int8, forecaster export,
the export/bench commands, the semseg node on onnxruntime, and one-line errors for bad values.

Everything runs on tiny inputs (64x128 images, 2x4 feature maps) and models the tests make themselves.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from swiftcast.cli import main as cli
from swiftcast.errors import SwiftcastError
from swiftcast.runtime import onnx_export as ox

SIZE = (64, 128)


def _fit_tiny_model(data: Path, out: Path) -> Path:
    """A SwiftNet RN-18 whose head is fitted on the tiny split (class colour + noise), so that its predictions
    mean something and int8 has an accuracy to lose (a random-init model's argmax is mostly noise). The backbone
    stays random and runs once (no_grad); only SPP, ladder and classifier train - seconds, not minutes."""
    from torch.utils.data import DataLoader

    from swiftcast.data.cityscapes import CityscapesDataset, collate
    from swiftcast.data.transforms import EvalTransform
    from swiftcast.models import build_model, save_checkpoint
    from swiftcast.models.upsample import upsample

    torch.manual_seed(0)
    model = build_model("swiftnet_rn18", num_classes=19, backbone_weights=None)
    dataset = CityscapesDataset(data, "train", frames="every:4", transform=EvalTransform(SIZE))
    batch = next(iter(DataLoader(dataset, batch_size=len(dataset), collate_fn=collate)))
    model.eval()
    with torch.no_grad():
        *skips, top = model.backbone(batch["image"])
    head = [p for n, p in model.named_parameters() if not n.startswith("backbone.")]
    opt = torch.optim.Adam(head, lr=3e-3)
    for _ in range(40):  # BN stays in eval mode (init statistics): plain affine layers, stable on 12 images
        logits = upsample(model.logits(model.ladder(model.spp(top), skips[::-1])), SIZE)
        loss = torch.nn.functional.cross_entropy(logits, batch["label"].long(), ignore_index=255)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    from swiftcast.forecast.decoder import build_forecast_decoder

    return save_checkpoint(out, model, {"input_size": list(SIZE)}, decoder=build_forecast_decoder())


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Tiny data (train to fit, val to score), a fitted checkpoint and an isolated export cache."""
    from conftest import write_tiny_cityscapes

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("onnx")
    data = write_tiny_cityscapes(root / "data", sequences_per_city=3, frames_per_sequence=8, size=SIZE)
    checkpoint = _fit_tiny_model(data, root / "ckpt")
    cache = root / "cache"
    return {"root": root, "data": data, "checkpoint": checkpoint, "cache": cache,
            "request": ox.ExportRequest(cache_dir=cache, calib_data=data, calib_images=16, calib_split="train")}


def _segmenters(world, *configs):
    from swiftcast.runtime.segmenter import Segmenter

    return [Segmenter(world["checkpoint"], backend=b, precision=p, export=world["request"], feature_dtype="float32",
                      num_threads=1) for b, p in configs]


def _val_frames(world):
    from swiftcast.data.cityscapes import CityscapesDataset

    dataset = CityscapesDataset(world["data"], "val")
    return [dataset.load(i) for i in range(len(dataset))]


def test_fp32_matches_torch(world):
    torch_seg, ort_seg = _segmenters(world, ("torch", "fp32"), ("onnxruntime", "fp32"))
    assert ort_seg.onnx_path and Path(ort_seg.onnx_path).parent == world["cache"]
    session = ort_seg.backend.session
    worst, agree, pixels = 0.0, 0, 0
    for rgb, _ in _val_frames(world):
        x = torch_seg.preprocess(rgb)
        with torch.inference_mode():
            logits, feats = torch_seg.model.forward_with_features(x)
        got_logits, got_feats = session.run(None, {"image": x.numpy()})
        worst = max(worst, float(np.abs(got_logits - logits.numpy()).max()))
        np.testing.assert_allclose(got_feats, feats.numpy(), atol=1e-4, rtol=1e-4)
        a, b = torch_seg(rgb), ort_seg(rgb)
        agree += int((a.labels == b.labels).sum())
        pixels += a.labels.size
        np.testing.assert_allclose(b.features, a.features, atol=1e-4, rtol=1e-4)
    assert worst < 1e-3, worst
    assert agree / pixels >= 0.999


def test_export_carries_metadata_and_is_reused(world):
    from swiftcast.runtime.segmenter import Segmenter

    (seg,) = _segmenters(world, ("onnxruntime", "fp32"))
    meta = ox.read_metadata(seg.onnx_path)
    assert meta["swiftcast.model_id"] == seg.model_id
    assert meta["swiftcast.input_size"] == "64x128" and meta["swiftcast.precision"] == "fp32"
    assert json.loads(meta["swiftcast.config"])["num_classes"] == 19
    before = Path(seg.onnx_path).stat().st_mtime_ns
    again = Segmenter(world["checkpoint"], backend="onnxruntime", export=world["request"], warmup=False)
    assert again.onnx_path == seg.onnx_path and Path(seg.onnx_path).stat().st_mtime_ns == before


def test_int8_costs_little_accuracy(world):
    from swiftcast.metrics import ConfusionMeter

    fp32, int8 = _segmenters(world, ("onnxruntime", "fp32"), ("onnxruntime", "int8"))
    assert ox.read_metadata(int8.onnx_path)["swiftcast.precision"] == "int8"
    meters = {"fp32": ConfusionMeter(), "int8": ConfusionMeter()}
    agree = []
    for rgb, label in _val_frames(world):
        a, b = fp32(rgb).labels, int8(rgb).labels
        meters["fp32"].update(a, label)
        meters["int8"].update(b, label)
        agree.append(float((a == b).mean()))
    miou = {k: m.summary()["miou"] for k, m in meters.items()}
    assert miou["fp32"] > 0.12, f"the tiny model did not fit: {miou}"  # else the comparison says nothing
    assert abs(miou["fp32"] - miou["int8"]) <= 0.03, miou
    assert np.mean(agree) >= 0.85, np.mean(agree)  # a sanity floor: unrelated labels would agree ~1/19


def test_deform_forecaster_export_matches_torch(tmp_path):
    import onnxruntime as ort

    from swiftcast.models import build_forecaster, load_checkpoint, save_checkpoint

    torch.manual_seed(0)
    net = build_forecaster("deform_f2f8", in_channels=16, num_past=4)
    with torch.no_grad():  # untrained offsets are zero (a plain conv): give them something to deform with
        for name, p in net.named_parameters():
            if name.endswith("offset.weight") or name.startswith("out."):
                p.normal_(0, 0.05)
    ckpt = save_checkpoint(tmp_path / "f2f", net, {"input_size": list(SIZE)})
    model, config = load_checkpoint(ckpt)
    out = ox.export_fp32(model, config, tmp_path / "f2f.onnx", SIZE)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ox.forecaster_inputs(4)
    past = [torch.randn(1, 16, 2, 4) for _ in range(4)]
    with torch.inference_mode():
        expected = model(torch.cat(past, 1)).numpy()
    got = session.run(None, {f"past_{i}": p.numpy() for i, p in enumerate(past)})[0]
    assert np.abs(expected - past[-1].numpy()).max() > 1e-2  # the offsets really move the samples
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)
    assert ox.read_metadata(out)["swiftcast.kind"] == "forecaster"


def test_forecaster_on_onnxruntime_matches_torch_and_is_cached(world, tmp_path):
    """backend onnxruntime: forecaster + skip-less decoder as one graph; the labels agree with the torch path, the
    second forecaster for the same weights reuses the export, and decode_scale keys its own export."""
    from swiftcast.forecast.forecaster import SemanticForecaster
    from swiftcast.models import build_forecaster, read_config, save_checkpoint

    torch.manual_seed(1)
    net = build_forecaster("deform_f2f8")
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("offset.weight") or name.startswith("out."):
                p.normal_(0, 0.02)
    seg_id = read_config(world["checkpoint"])["model_id"]
    ckpt = save_checkpoint(tmp_path / "f2f", net, {"method": "deform_f2f8", "horizon_frames": 3,
                                                   "feature_model_id": seg_id})
    cache, said = tmp_path / "cache", []
    eager = SemanticForecaster(ckpt, world["checkpoint"])
    fast = SemanticForecaster(ckpt, world["checkpoint"], backend="onnxruntime", num_threads=1, cache_dir=cache,
                              log=said.append)
    exports = lambda: [line for line in said if line.startswith("exporting")]  # noqa: E731
    assert len(exports()) == 1 and any(line.startswith("exported") and " s: " in line for line in said)
    rng = np.random.default_rng(0)
    for _ in range(3):
        past = [rng.standard_normal((128, 2, 4)).astype(np.float16) for _ in range(4)]
        a, b = eager(past, (70, 130), confidence=True), fast(past, (70, 130), confidence=True)
        assert b.labels.shape == (70, 130) and b.labels.dtype == np.uint8
        assert (a.labels == b.labels).mean() >= 0.999
        assert np.abs(a.confidence.astype(int) - b.confidence.astype(int)).max() <= 1
        plain = fast(past, (70, 130))  # without confidence the argmax runs in ONNX Runtime as well
        assert plain.confidence is None and (plain.labels == a.labels).mean() >= 0.999
    SemanticForecaster(ckpt, world["checkpoint"], backend="onnxruntime", cache_dir=cache, log=said.append)
    assert len(exports()) == 1  # reused
    SemanticForecaster(ckpt, world["checkpoint"], backend="onnxruntime", cache_dir=cache, log=said.append,
                       decode_scale=0.5)
    assert len(exports()) == 2 and "32x64" in exports()[1]
    with pytest.raises(SwiftcastError, match="choose from torch, onnxruntime"):
        SemanticForecaster(ckpt, world["checkpoint"], backend="tensorrt")


def test_export_and_bench_commands(world, tmp_path, capsys, monkeypatch):
    out = tmp_path / "model.onnx"
    assert cli(["export-onnx", "--model", str(world["checkpoint"]), "--out", str(out), "--size", "64x96"]) == 0
    assert "max |onnxruntime - torch|" in capsys.readouterr().out
    assert ox.read_metadata(out)["swiftcast.input_size"] == "64x96"
    report = tmp_path / "bench.json"
    args = ["bench-model", "--model", str(world["checkpoint"]), "--backend", "onnxruntime", "--size", "64x128",
            "--threads", "1", "--warmup", "1", "--repeats", "3", "--json", str(report)]
    monkeypatch.setenv("SWIFTCAST_CACHE_DIR", str(tmp_path / "bench-cache"))
    assert cli(args) == 0
    result = json.loads(report.read_text())
    assert result["median_ms"] > 0 and result["p90_ms"] >= result["median_ms"] and len(result["times_ms"]) == 3
    assert result["config"]["backend"] == "onnxruntime" and result["config"]["size"] == [64, 128]


@pytest.mark.parametrize(
    "args, message",
    [
        (["export-onnx", "--model", "/no/such/ckpt", "--out", "x.onnx"], "not found"),
        (["export-onnx", "--model", "{ckpt}", "--size", "10x20", "--out", "x.onnx"], "must be [H, W]"),
        (["export-onnx", "--model", "{ckpt}", "--out", "x.txt"], "should end in .onnx"),
        (["export-onnx", "--model", "{ckpt}", "--precision", "int8", "--calib-data", "/no/data"], "not found"),
        (["bench-model", "--model", "{ckpt}", "--precision", "int8"], "needs backend onnxruntime"),
        (["bench-model", "--model", "{ckpt}", "--size", "64x128", "--repeats", "0"], "--repeats >= 1"),
    ],
)
def test_bad_values_give_one_line(world, capsys, args, message):
    args = [a.replace("{ckpt}", str(world["checkpoint"])) for a in args]
    assert cli(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_segmenter_and_backend_refuse_bad_values(world, tmp_path):
    from swiftcast.runtime.segmenter import OnnxRuntimeBackend, Segmenter

    with pytest.raises(SwiftcastError, match="needs backend onnxruntime"):
        Segmenter(world["checkpoint"], backend="torch", precision="int8")
    with pytest.raises(SwiftcastError, match="precision 'fp16' is not one of auto, fp32, int8"):
        Segmenter(world["checkpoint"], backend="onnxruntime", precision="fp16")
    (seg,) = _segmenters(world, ("onnxruntime", "fp32"))
    with pytest.raises(SwiftcastError, match="exported from other weights"):
        OnnxRuntimeBackend(seg.onnx_path, "float16", expect={"swiftcast.model_id": "swiftnet_rn18-000000000000"})
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a graph")
    with pytest.raises(SwiftcastError, match="ONNX Runtime cannot load it"):
        OnnxRuntimeBackend(junk, "float16")
    no_data = ox.ExportRequest(cache_dir=tmp_path / "empty-cache", calib_data=tmp_path / "missing")
    with pytest.raises(SwiftcastError, match="swiftcast export-onnx --model .* --precision int8"):
        Segmenter(world["checkpoint"], backend="onnxruntime", precision="int8", export=no_data)


@pytest.mark.ros
def test_node_on_onnxruntime_publishes_the_same_labels(world, tmp_path):
    """One real semseg process with backend onnxruntime (export pre-made in the shared cache: start-up stays
    fast); plus a start with precision int8 on torch, which must stop with one line naming the parameter."""
    from sensor_msgs.msg import Image

    from ros_utils import NodeProcess, RosProbe, allocate_domain_id, cleanup_fastdds_shm, require_ros, \
        ros_child_env, semseg_command, stamp_is
    from test_semseg_node import _picture, image_msg, labels_of

    require_ros()
    (torch_seg,) = _segmenters(world, ("torch", "fp32"))
    _segmenters(world, ("onnxruntime", "fp32"))  # fills the cache the node reads
    domain = allocate_domain_id()
    env = {**ros_child_env(domain), "SWIFTCAST_CACHE_DIR": str(world["cache"].parent / "node-cache")}
    (world["cache"].parent / "node-cache").mkdir(exist_ok=True)
    (world["cache"].parent / "node-cache" / "onnx").mkdir(exist_ok=True)
    for f in world["cache"].glob("*_fp32.onnx"):
        (world["cache"].parent / "node-cache" / "onnx" / f.name).write_bytes(f.read_bytes())
    ck = f"checkpoint:={world['checkpoint']}"
    bad = NodeProcess(semseg_command("-p", ck, "-p", "precision:=int8"), env)
    node = NodeProcess(semseg_command("-p", ck, "-p", "backend:=onnxruntime", "-p", "precision:=fp32", "-p",
                                      "log_period_s:=0.0"), env)
    probe = RosProbe(domain)
    try:
        labels = probe.subscribe(Image, "/perception/semseg/labels")
        camera = probe.publisher(Image, "/camera/image_raw")
        node.wait_for_output(r"ready: ", timeout=120)
        assert "exporting" not in node.output()  # found the cached export
        probe.wait_for_subscribers(camera)
        rgb = _picture(3, (96, 160))
        msg = image_msg(np.ascontiguousarray(rgb[..., ::-1]), "bgr8")
        msg.header.stamp.sec, msg.header.stamp.nanosec = 77, 5
        out = probe.publish_until(camera, msg, lambda: labels.wait_for(stamp_is(77, 5), 0), 60)
        got, expected = labels_of(out), torch_seg(rgb).labels
        assert got.shape == (96, 160) and (got == expected).mean() >= 0.999
        assert bad.wait(120) == 2
        lines = [line for line in bad.output().splitlines() if line.strip()]
        assert len(lines) == 1 and "parameter 'precision'" in lines[0] and "needs backend onnxruntime" in lines[0]
    finally:
        probe.close()
        codes = [node.stop(), bad.stop()]
        cleanup_fastdds_shm()
    assert codes[0] == 0, node.output()


# --- out of the box: int8 without a data folder, precision auto ------------------------------------------------
def _random_checkpoint(folder: Path, arch: str = "swiftnet_rn18", size=SIZE) -> Path:
    from swiftcast.models import build_model, save_checkpoint

    torch.manual_seed(0)
    return save_checkpoint(folder, build_model(arch, num_classes=19, backbone_weights=None),
                           {"input_size": list(size)})


def test_rendered_calibration_frames_are_deterministic():
    a = ox.rendered_calibration_frames(SIZE, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), count=5)
    b = ox.rendered_calibration_frames(SIZE, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), count=5)
    assert len(a) == 5 and all(x.shape == (1, 3, *SIZE) and x.dtype == np.float32 for x in a)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert len({float(x.mean()) for x in a}) == 5  # different frames, not one repeated
    assert 20 < float(np.mean([x.std() for x in a])) < 120  # real pictures on the 0-255 scale, not blank


@pytest.mark.parametrize("arch", ["swiftnet_rn18", "swiftnet_efflite0"])
def test_int8_export_needs_no_data_folder(tmp_path, monkeypatch, arch):
    """No calibration folder anywhere (empty home and working directory): the int8 export calibrates on frames
    the synthetic world renders, says so and how long it took, and runs; also for the EfficientNet-Lite0
    SwiftNet (depthwise convs, ReLU6, TensorFlow "same" padding)."""
    from swiftcast.runtime.segmenter import Segmenter

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SWIFTCAST_HOME", str(tmp_path))
    checkpoint = _random_checkpoint(tmp_path / "ckpt", arch)
    said: list[str] = []
    request = ox.ExportRequest(cache_dir=tmp_path / "cache", calib_images=4)
    seg = Segmenter(checkpoint, backend="onnxruntime", precision="int8", export=request, num_threads=1,
                    log=said.append)
    meta = ox.read_metadata(seg.onnx_path)
    assert meta["swiftcast.precision"] == "int8" and seg.precision == "int8"
    assert json.loads(meta["swiftcast.quantization"])["calibration_images"] == 4
    assert any("rendered by the synthetic world" in line for line in said), said
    assert any(line.startswith("quantised") and " s: " in line for line in said), said
    labels = seg(np.full((*SIZE, 3), 128, np.uint8)).labels
    assert labels.shape == SIZE and labels.dtype == np.uint8


def test_int8_keeps_the_labels_of_the_shipped_relu6_model(tmp_path):
    """The shipped EfficientNet-Lite0 SwiftNet in int8 labels a synthetic drive as fp32 does: its ReLU6 (Clip)
    nodes are quantised, so each reads its convolution's output at the clipped range's resolution (about
    98 % of the pixels agree; left in float, about 94 % did, and the val mIoU fell by 9-13 points)."""
    from swiftcast.runtime.paths import DEFAULT_SEGMENTATION_CHECKPOINT
    from swiftcast.runtime.segmenter import Segmenter
    from swiftcast.synth.render import Renderer
    from swiftcast.synth.sequences import render_sequence

    size = (128, 256)
    request = ox.ExportRequest(cache_dir=tmp_path, calib_images=8)
    fp32, int8 = (Segmenter(DEFAULT_SEGMENTATION_CHECKPOINT, backend="onnxruntime", precision=p, input_size=size,
                            export=request, num_threads=2, warmup=False) for p in ("fp32", "int8"))
    drive = [rgb for _, rgb, _ in render_sequence(Renderer(*size), *size, 5, "test", 0, frames=30)][::4]
    recorded = json.loads(ox.read_metadata(int8.onnx_path)["swiftcast.quantization"])
    assert "Clip" in recorded["op_types"]
    agree = np.mean([(fp32(rgb).labels == int8(rgb).labels).mean() for rgb in drive])
    assert agree >= 0.97, agree


def test_an_int8_export_quantised_otherwise_is_made_again(tmp_path):
    """A cached int8 export made with other quantisation settings (an earlier version's) is not reused."""
    from swiftcast.runtime.segmenter import Segmenter

    checkpoint = _random_checkpoint(tmp_path / "ckpt", "swiftnet_efflite0")
    old = dataclasses.replace(ox.DEFAULT_QUANT, op_types=tuple(t for t in ox.DEFAULT_QUANT.op_types if t != "Clip"))
    made, recorded, stamps = [], [], []
    for quant in (old, ox.DEFAULT_QUANT, ox.DEFAULT_QUANT):
        made.append(Segmenter(checkpoint, backend="onnxruntime", precision="int8", num_threads=1, warmup=False,
                              export=ox.ExportRequest(cache_dir=tmp_path / "cache", calib_images=2, quant=quant)))
        recorded.append(json.loads(ox.read_metadata(made[-1].onnx_path)["swiftcast.quantization"])["op_types"])
        stamps.append(Path(made[-1].onnx_path).stat().st_mtime_ns)
    assert "Clip" not in recorded[0] and "Clip" in recorded[1] and recorded[2] == recorded[1]
    assert made[1].onnx_path == made[0].onnx_path and stamps[1] != stamps[0]  # the same cache entry, made again
    assert stamps[2] == stamps[1]  # and then reused


def test_an_int8_export_calibrated_otherwise_is_made_again(tmp_path):
    """A cached int8 export that does not say what it was calibrated on (an earlier version's rendered frames) is made
    again where frames would be rendered; one calibrated on a data folder (someone's choice) is reused."""
    import onnx

    from swiftcast.runtime.segmenter import Segmenter

    checkpoint = _random_checkpoint(tmp_path / "ckpt", "swiftnet_rn18")
    request = ox.ExportRequest(cache_dir=tmp_path / "cache", calib_images=2)

    def start() -> tuple[str, int, str]:
        seg = Segmenter(checkpoint, backend="onnxruntime", precision="int8", num_threads=1, warmup=False,
                        export=request)
        recorded = json.loads(ox.read_metadata(seg.onnx_path)["swiftcast.quantization"])
        return seg.onnx_path, Path(seg.onnx_path).stat().st_mtime_ns, recorded["calibrated_on"]

    def rewrite(path: str, calibrated_on: str | None) -> int:
        model = onnx.load(path)
        for entry in model.metadata_props:
            if entry.key == "swiftcast.quantization":
                recorded = json.loads(entry.value)
                recorded.pop("calibrated_on")
                if calibrated_on is not None:
                    recorded["calibrated_on"] = calibrated_on
                entry.value = json.dumps(recorded)
        onnx.save(model, path)
        return Path(path).stat().st_mtime_ns

    path, stamp, on = start()
    assert on == ox.RENDERED_FRAMES
    assert start()[1] == stamp  # reused as it is
    stamp = rewrite(path, None)  # an earlier version's export
    path, remade, on = start()
    assert remade != stamp and on == ox.RENDERED_FRAMES
    stamp = rewrite(path, f"{ox.FOLDER_FRAMES}/data/mine")
    assert start()[1:] == (stamp, f"{ox.FOLDER_FRAMES}/data/mine")


@pytest.mark.parametrize("features, backend, device, expected", [
    (["avx2", "fma", "avx512f", "avx512_vnni"], "onnxruntime", "cpu", "int8"),
    (["avx2", "fma", "avx_vnni"], "onnxruntime", "cpu", "int8"),
    (["avx2", "amx_bf16", "amx_int8"], "onnxruntime", "cpu", "int8"),
    (["avx2", "fma", "avx512f", "avx512_bf16"], "onnxruntime", "cpu", "fp32"),  # no int8 dot products
    ([], "onnxruntime", "cpu", "fp32"),  # an unknown CPU (e.g. no /proc/cpuinfo flags)
    (["avx512_vnni"], "torch", "cpu", "fp32"),  # torch runs fp32 only
    (["avx512_vnni"], "onnxruntime", "cuda", "fp32"),
])
def test_precision_auto_follows_the_cpu_features(features, backend, device, expected):
    from swiftcast.runtime.segmenter import choose_precision

    chosen, why = choose_precision(backend, "auto", torch.device(device), cpu_features=features)
    assert chosen == expected, why
    if expected == "int8":
        assert any(f in why for f in features), why
    for explicit in ("fp32", "int8") if backend == "onnxruntime" else ("fp32",):
        assert choose_precision(backend, explicit, torch.device(device), cpu_features=features)[0] == explicit


@pytest.mark.parametrize("features, measured, expected", [
    (["avx2", "avx512_vnni"], None, "int8"),  # int8 dot products: int8, nothing timed
    (["avx2", "fma"], {"fp32": 40.0, "int8": 35.0}, "int8"),  # none, but int8 measured faster here
    (["avx2", "fma"], {"fp32": 40.0, "int8": 39.0}, "fp32"),  # within the margin: fp32
])
def test_segmenter_precision_auto_logs_its_choice(world, monkeypatch, features, measured, expected):
    from swiftcast import hardware
    from swiftcast.runtime import segmenter
    from swiftcast.runtime.segmenter import Segmenter

    monkeypatch.setattr(hardware, "cpu_description", lambda: {"model": "Test CPU", "features": features})
    timed: list[dict] = []

    def time_exports(paths, size, num_threads=0, device=None, rounds=5):
        timed.append(dict(paths))
        return measured

    monkeypatch.setattr(segmenter, "time_exports", time_exports)
    said: list[str] = []
    seg = Segmenter(world["checkpoint"], backend="onnxruntime", precision="auto", export=world["request"],
                    num_threads=1, warmup=False, log=said.append)
    assert seg.precision == expected and seg.requested_precision == "auto"
    assert ox.read_metadata(seg.onnx_path)["swiftcast.precision"] == expected
    choice = [line for line in said if line.startswith("precision auto")]
    assert len(choice) == 1 and choice[0].startswith(f"precision auto -> {expected}: Test CPU"), said
    if measured is None:
        assert not timed
    else:  # both exports were timed, and the line says what was measured
        assert set(timed[0]) == {"fp32", "int8"} and f"int8 {measured['int8']:.1f} ms" in choice[0]


@pytest.mark.parametrize("features, measured, expected", [
    (["avx2", "avx512_vnni"], {"fp32": 40.0, "int8": 45.0}, "int8"),  # int8 dot products: int8 whatever the times
    (["avx2", "fma"], {"fp32": 40.0, "int8": 35.0}, "int8"),
    (["avx2", "fma"], {"fp32": 40.0, "int8": 39.0}, "fp32"),
])
def test_auto_precision_is_the_segmenters_rule(monkeypatch, features, measured, expected):
    """The benchmarks' view of precision auto: the same choice as the test above, from times measured elsewhere."""
    from swiftcast import hardware
    from swiftcast.runtime.segmenter import auto_precision

    monkeypatch.setattr(hardware, "cpu_description", lambda: {"model": "Test CPU", "features": features})
    precision, why = auto_precision(measured)
    assert precision == expected and why.startswith("Test CPU")
    assert ("measured here" in why) == ("avx512_vnni" not in features)


def test_time_exports_times_real_sessions(world):
    from swiftcast.runtime.segmenter import Segmenter, faster_of, time_exports

    paths = {p: Segmenter(world["checkpoint"], backend="onnxruntime", precision=p, export=world["request"],
                          num_threads=1, warmup=False).onnx_path for p in ("fp32", "int8")}
    ms = time_exports(paths, SIZE, num_threads=1, rounds=2)
    assert set(ms) == {"fp32", "int8"} and all(0 < v < 10_000 for v in ms.values())
    assert faster_of({"fp32": 10.0, "int8": 9.0}) == "int8" and faster_of({"fp32": 10.0, "int8": 9.9}) == "fp32"


def test_precision_auto_falls_back_to_fp32_when_int8_cannot_be_made(world, monkeypatch, tmp_path):
    from swiftcast import hardware
    from swiftcast.runtime.segmenter import Segmenter

    monkeypatch.setattr(hardware, "cpu_description", lambda: {"model": "Test CPU", "features": ["avx512_vnni"]})
    no_data = ox.ExportRequest(cache_dir=tmp_path / "cache", calib_data=tmp_path / "missing")
    said: list[str] = []
    seg = Segmenter(world["checkpoint"], backend="onnxruntime", precision="auto", export=no_data, warmup=False,
                    log=said.append)
    assert seg.precision == "fp32" and "int8 export failed" in seg.precision_reason
    assert any(line.startswith("precision auto -> fp32: no int8 export") for line in said), said


def test_bench_model_int8_on_a_fresh_clone(tmp_path, capsys, monkeypatch):
    """bench-model --precision int8 with nothing but the code: no data folder, empty export cache."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SWIFTCAST_CACHE_DIR", str(tmp_path / "cache"))
    report = tmp_path / "bench.json"
    assert cli(["bench-model", "--arch", "swiftnet_rn18", "--backend", "onnxruntime", "--precision", "int8",
                "--size", "64x128", "--threads", "1", "--warmup", "1", "--repeats", "2", "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "rendered by the synthetic world" in out and "quantised" in out
    config = json.loads(report.read_text())["config"]
    assert config["precision"] == "int8" and config["onnx"].endswith("_64x128_int8.onnx")
