"""A checkpoint (segmentation model or forecaster) -> an ONNX file (``swiftcast export-onnx``).

Without ``out`` the file goes into the export cache, where the runtime (``backend: onnxruntime``) finds it; an
int8 export made this way is what the semseg node with ``precision: int8`` (or ``auto`` on a CPU with int8 dot
products) uses. int8 calibrates on frames the synthetic world renders at the export size unless ``calib_data``
names a folder. The fp32 export is checked against torch on a random input before it is returned (max |difference|
printed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from swiftcast.errors import CheckpointError, SwiftcastError
from swiftcast.runtime import onnx_export as ox


def _size(size: Sequence[int] | None, model: str | Path, config: dict) -> tuple[int, int]:
    from swiftcast.runtime.segmenter import check_input_size

    if not size:
        size = config.get("input_size")
        if not size:
            raise CheckpointError(f"{model}: config has no input_size; pass --size HxW")
    checked = check_input_size(list(size))
    assert checked is not None
    return checked


def _parity(model: torch.nn.Module, config: dict, path: Path, size: tuple[int, int]) -> float:
    """Max |ONNX - torch| over all outputs on one random input (fp32 exports only)."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(0)
    if config.get("kind", "segmentation") == "segmentation":
        inputs = (torch.randn(1, 3, *size, generator=gen),)
        with torch.inference_mode():
            expected = model.forward_with_features(*inputs)
    else:
        shape = (1, int(getattr(model, "in_channels", 128)), *ox.feature_size(size))
        inputs = tuple(torch.randn(*shape, generator=gen) for _ in range(int(getattr(model, "num_past", 4))))
        with torch.inference_mode():
            expected = (model(torch.cat(inputs, dim=1)),)
    feeds = {i.name: x.numpy() for i, x in zip(session.get_inputs(), inputs)}
    got = session.run(None, feeds)
    return max(float(np.abs(g - e.numpy()).max()) for g, e in zip(got, expected))


def export_onnx(
    model: str | Path,
    *,
    out: str | Path | None = None,
    size: Sequence[int] | None = None,
    precision: str = "fp32",
    calib_data: str | Path | None = None,
    calib_images: int = ox.DEFAULT_CALIB_IMAGES,
    calib_split: str = "val",
    calib_frames: str = ox.DEFAULT_CALIB_FRAMES,
    calibration: str = ox.DEFAULT_QUANT.calibration,
    activations: str = ox.DEFAULT_QUANT.activations,
) -> Path:
    """Export checkpoint ``model`` at image ``size`` (default: its input size) to ``out`` (default: the export cache
    the runtime reads) and return the file. fp32 is checked against torch on a random input; int8 (segmentation
    models) calibrates on ``calib_images`` frames of ``calib_data``, or rendered ones without it."""
    from swiftcast.models import load_checkpoint
    from swiftcast.runtime.paths import resolve_user_path

    if calib_images < 1:
        raise SwiftcastError(f"--calib-images must be >= 1 (got {calib_images})")
    path = resolve_user_path(model)
    if not path.exists():
        raise CheckpointError(f"checkpoint {model} not found (looked at {path})")
    net, config = load_checkpoint(path)
    size = _size(size, model, config)
    kind = config.get("kind", "segmentation")
    if precision == "int8" and kind != "segmentation":
        raise SwiftcastError("--precision int8 is for segmentation models; export forecasters in fp32")
    model_id = str(config.get("model_id", ""))
    out = Path(out) if out else Path(ox.default_cache_dir()) / ox.export_name(model_id, size, precision)
    if out.suffix != ".onnx":
        raise SwiftcastError(f"--out {out} should end in .onnx")
    if precision == "fp32":
        print(f"exporting {model_id} ({kind}) at {size[0]}x{size[1]} ...", flush=True)
        ox.export_fp32(net, config, out, size)
        diff = _parity(net, config, out, size)
        print(f"max |onnxruntime - torch| on a random input: {diff:.2e}")
    else:
        from swiftcast.data.transforms import CITYSCAPES_MEAN, CITYSCAPES_STD

        norm = config.get("normalization") or {}
        mean, std = norm.get("mean", CITYSCAPES_MEAN), norm.get("std", CITYSCAPES_STD)
        if calib_data:
            data = resolve_user_path(calib_data)
            if not data.exists():
                raise SwiftcastError(f"calibration data {data} not found (--calib-data DIR: a Cityscapes-layout "
                                     "folder, e.g. from 'swiftcast synth'; without it frames are rendered)")
            frames = ox.calibration_frames(data, size, mean, std, calib_images, calib_split, calib_frames)
            source = calibrated_on = f"{ox.FOLDER_FRAMES}{data}"
        else:
            print(f"rendering {calib_images} synthetic calibration frames at {size[0]}x{size[1]} ...", flush=True)
            frames = ox.rendered_calibration_frames(size, mean, std, calib_images)
            source, calibrated_on = "rendered synthetic frames", ox.RENDERED_FRAMES
        import tempfile

        with tempfile.TemporaryDirectory(prefix="swiftcast-export-") as tmp:
            print(f"exporting {model_id} at {size[0]}x{size[1]} (fp32) ...", flush=True)
            fp32 = ox.export_fp32(net, config, Path(tmp) / "fp32.onnx", size)
            print(f"quantising to int8 on {len(frames)} {source} ({calibration}) ...", flush=True)
            settings = ox.QuantSettings(**{**ox.DEFAULT_QUANT.__dict__, "calibration": calibration,
                                           "activations": activations})
            ox.quantize_int8(fp32, out, frames, settings, calibrated_on)
    return out
