"""Forecaster checkpoints and the runtime forecaster: past SPP features -> future trainId labels.

A forecaster checkpoint (``kind = "forecaster"``) only maps features to features; it is meaningful only with the
segmentation checkpoint whose features it was trained on (``feature_model_id``), whose skip-less forecast decoder
(:mod:`swiftcast.forecast.decoder`) turns the forecast features into labels. :class:`SemanticForecaster` holds
both and is what the forecast node, replay and ``explain-forecast`` call.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from swiftcast.errors import CheckpointError, SwiftcastError
from swiftcast.forecast.decoder import as_decoder, load_forecast_decoder
from swiftcast.forecast.protocol import INPUT_OFFSETS, Horizon, get_horizon

#: runtimes of :class:`SemanticForecaster`
FORECAST_BACKENDS: tuple[str, ...] = ("torch", "onnxruntime")

#: checkpoint ``method`` -> the name the table of Šarić et al. (GCPR 2019) uses
METHOD_NAMES: dict[str, str] = {"conv_f2f": "ConvF2F", "deform_f2f8": "DeformF2F-8", "copy_last": "Copy last",
                                 "f2mf": "F2MF"}
#: methods that forecast from the past features *and* the single-frame labels of frame t (see :func:`predict_fine`)
LAST_LABEL_METHODS: tuple[str, ...] = ("f2mf",)


def needs_last_labels(config: dict[str, Any]) -> bool:
    """Whether a forecaster checkpoint (its config) also needs the single-frame labels of the newest frame."""
    return (config.get("method") or config.get("architecture")) in LAST_LABEL_METHODS


def method_label(config: dict[str, Any]) -> str:
    """The row name of a forecaster in the paper's table, e.g. ``DeformF2F-8-FT (2 samples/seq)`` or
    ``DeformF2F-8-FT (tuned decoder)``."""
    method = config.get("method") or config.get("architecture", "?")
    label = METHOD_NAMES.get(method, method)
    training = config.get("training") or {}
    if training.get("finetune"):
        label += "-FT"
    notes = ["tuned decoder"] if training.get("tune_decoder") else []
    samples = int(training.get("samples_per_seq") or 0)
    if samples:
        notes.append(f"{samples} sample{'s' if samples != 1 else ''}/seq")
    return f"{label} ({', '.join(notes)})" if notes else label


def load_forecaster_checkpoint(
    path: str | os.PathLike[str], expected_feature_model_id: str | None = None, device: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Load a forecaster (eval mode, frozen) and check it was made for ``expected_feature_model_id``'s features."""
    from swiftcast.models import load_checkpoint
    from swiftcast.runtime.paths import resolve_user_path

    resolved = resolve_user_path(path)
    if not resolved.exists():
        raise CheckpointError(f"forecaster checkpoint {path} not found (looked at {resolved})")
    net, config = load_checkpoint(resolved, device=device)
    if config.get("kind") != "forecaster":
        raise CheckpointError(f"{path} is a {config.get('kind')} checkpoint, not a forecaster")
    try:
        get_horizon(int(config["horizon_frames"]))
    except (KeyError, TypeError, ValueError, SwiftcastError):
        raise CheckpointError(
            f"{path}: config has no valid horizon_frames (got {config.get('horizon_frames')!r})"
        ) from None
    feature_id = config.get("feature_model_id")
    if expected_feature_model_id is not None and feature_id != expected_feature_model_id:
        raise CheckpointError(
            f"{path} forecasts features of segmentation model {feature_id!r}, not of {expected_feature_model_id!r}"
        )
    net.eval().requires_grad_(False)
    return net, config


def forecaster_decoder(
    path: str | os.PathLike[str], config: dict[str, Any], seg_decoder: nn.Module, device: str | torch.device = "cpu"
) -> nn.Module:
    """The decoder of a forecaster's features: the one its -FT tuned together with it (``train-forecast
    --tune-decoder``, carried in its checkpoint), else ``seg_decoder``, its segmentation checkpoint's."""
    if config.get("forecast_decoder") is None:
        return seg_decoder
    return load_forecast_decoder(path, device=device)[0]


def discover_forecasters(models_dir: str | os.PathLike[str], feature_model_id: str | None = None) -> list[Path]:
    """Forecaster checkpoints directly under ``models_dir`` (sorted), optionally only those for one feature model."""
    from swiftcast.runtime.paths import resolve_user_path

    root = resolve_user_path(models_dir)
    found = []
    if root.is_dir():
        for config_path in sorted(root.glob("*/config.json")):
            try:
                config = json.loads(config_path.read_text())
            except (OSError, ValueError):
                continue
            if not isinstance(config, dict) or config.get("kind") != "forecaster":
                continue
            if feature_model_id is None or config.get("feature_model_id") == feature_model_id:
                found.append(config_path.parent)
    return found


def default_forecaster(
    models_dir: str | os.PathLike[str], feature_model_id: str, horizon_frames: int, with_last_labels: bool = False
) -> Path | None:
    """The shipped forecaster for a horizon: DeformF2F over ConvF2F, fine-tuned over MSE-only, a decoder tuned with
    it over the frozen one (None if none).

    ``with_last_labels``: the caller can pass the single-frame labels of the newest frame, so F2MF checkpoints
    qualify too and come first; without it they are left out (they cannot run on features alone)."""
    candidates = []
    for path in discover_forecasters(models_dir, feature_model_id):
        try:
            config = json.loads((path / "config.json").read_text())
        except (OSError, ValueError):
            continue
        if config.get("horizon_frames") == horizon_frames and (with_last_labels or not needs_last_labels(config)):
            training = config.get("training") or {}
            rank = (needs_last_labels(config), config.get("method") == "deform_f2f8", bool(training.get("finetune")),
                    bool(training.get("tune_decoder")), path.name)
            candidates.append((rank, path))
    return max(candidates)[1] if candidates else None


def predict_features(net: nn.Module, past: torch.Tensor) -> torch.Tensor:
    """Past features (N, P, C, h, w), oldest first -> forecast features (N, C, h, w)."""
    if past.dim() != 5:
        raise ValueError(f"past features must be (N, P, C, h, w), got {tuple(past.shape)}")
    n, p, c, h, w = past.shape
    return net(past.reshape(n, p * c, h, w))


def fine_decoder(decoder: nn.Module, image_size: Sequence[int], scale: float = 1.0
                 ) -> Callable[[torch.Tensor], torch.Tensor]:
    """features -> the skip-less decoder's logits at its output stride 4 for an image of ``image_size`` x ``scale``
    (channels-last, as in :func:`decode_labels`): the ``decode`` an F2MF forecaster blends with."""
    size = decode_size_for(image_size, scale)
    decoder = as_decoder(decoder)

    def decode(features: torch.Tensor) -> torch.Tensor:
        x = features.contiguous(memory_format=torch.channels_last)
        return decoder(x, out_size=size, upsample_logits=False)

    return decode


def predict_fine(
    net: nn.Module, decoder: nn.Module, past: torch.Tensor, last_labels: torch.Tensor, image_size: Sequence[int],
    scale: float = 1.0,
) -> torch.Tensor:
    """F2MF's forecast: past features (N, P, C, h, w) oldest first and the single-frame labels of frame t (N, H, W)
    on the decoder's stride-4 grid -> class probabilities (N, K, H, W) there (argmax = the forecast labels).
    Labels on another grid (``scale`` < 1) are resized nearest-neighbour to the decoder's."""
    if past.dim() != 5:
        raise ValueError(f"past features must be (N, P, C, h, w), got {tuple(past.shape)}")
    n, p, c, h, w = past.shape
    grid = tuple(-(-v // 4) for v in decode_size_for(image_size, scale))
    if tuple(last_labels.shape[-2:]) != grid:
        last_labels = torch.nn.functional.interpolate(last_labels[:, None].float(), size=grid,
                                                      mode="nearest-exact")[:, 0]
    return net(past.reshape(n, p * c, h, w), last_fine=last_labels, decode=fine_decoder(decoder, image_size, scale))


@torch.inference_mode()
def decode_labels(
    decoder: nn.Module,
    features: torch.Tensor,
    image_size: tuple[int, int],
    out_size: tuple[int, int] | None = None,
    confidence: bool = False,
    scale: float = 1.0,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Forecast features (N, C, h, w) -> trainIds (N, H, W) uint8 at ``out_size`` (default ``image_size``), and
    with ``confidence`` the max softmax x 255 (N, H, W) uint8 too.

    The one decode shared by the forecast node, replay, ``eval-forecast`` and train-forecast's validation, so
    the scores describe what the node publishes. The skip-less decoder runs for an image of ``image_size`` (the
    segmentation model's input size) up to its output stride 4; the argmax is taken there and the uint8 labels
    are resized nearest-neighbour. Upsampling 19 logit channels bilinearly to full size first and taking the
    argmax there cost as much as the decoder's convolutions and changed the protocol's mIoU by <= 0.03 pp on
    the synthetic val split. Channels-last memory: torch's argmax over the channels of an NCHW map is ~8x slower.

    ``scale`` < 1 decodes as if for an image ``scale`` times the input size (the decoder's convolutions cost
    ``scale``^2 as much): a speed/accuracy trade-off for small devices, not the trained operating point (on the
    synthetic val split the oracle lost 1.6 mIoU points at 0.5 and 6.7 at 0.25).
    """
    x = features.float().contiguous(memory_format=torch.channels_last)
    logits = as_decoder(decoder)(x, out_size=decode_size_for(image_size, scale), upsample_logits=False)
    return labels_from_logits(logits, out_size or image_size, confidence)


def decode_size_for(image_size: Sequence[int], scale: float = 1.0) -> tuple[int, int]:
    """The image size the decoder runs for at decode ``scale`` (see :func:`decode_labels`)."""
    if not 0.0 < scale <= 1.0:
        raise SwiftcastError(f"decode scale must be in (0, 1], got {scale}")
    return max(1, round(image_size[0] * scale)), max(1, round(image_size[1] * scale))


def labels_from_logits(
    logits: torch.Tensor, out_size: Sequence[int], confidence: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """Decoder logits (N, K, h, w) at stride 4 -> trainIds (N, H, W) uint8 at ``out_size`` (argmax, then nearest
    resize), and with ``confidence`` the max softmax x 255 too: the second half of :func:`decode_labels`, shared
    by every runtime of the decoder."""
    from swiftcast.data.transforms import resize_label

    out_size = (int(out_size[0]), int(out_size[1]))
    logits = logits.contiguous(memory_format=torch.channels_last)
    if confidence:
        prob, labels_t = torch.softmax(logits, 1).max(1)
        conf_t = (prob * 255).round().to(torch.uint8)
    else:
        labels_t, conf_t = logits.argmax(1), None
    labels = labels_t.to(torch.uint8).cpu().numpy()
    out_labels = np.stack([resize_label(lab, out_size) for lab in labels])
    out_conf = None if conf_t is None else np.stack([resize_label(c, out_size) for c in conf_t.cpu().numpy()])
    return out_labels, out_conf


@dataclass
class Forecast:
    labels: np.ndarray  # (H, W) uint8 trainIds
    confidence: np.ndarray | None  # (H, W) uint8, max softmax x 255; None unless asked for


class SemanticForecaster:
    """A forecaster checkpoint plus the forecast decoder of its segmentation checkpoint (or its own, where its -FT
    tuned one: :func:`forecaster_decoder`).

    Args:
        checkpoint: forecaster checkpoint folder (relative paths per :mod:`swiftcast.runtime.paths`).
        decoder: the forecast decoder (:func:`~swiftcast.forecast.decoder.load_forecast_decoder`) or the path of
            the segmentation checkpoint holding it; pass a loaded one to share it between several horizons.
        seg_config: the segmentation config when ``decoder`` is a module (for its model_id and input size).
        decode_scale: see :func:`decode_labels` (1 = decode for the model's input size, as trained).
        backend: ``torch`` (eager), or ``onnxruntime``: forecaster + skip-less decoder exported as one fp32 graph
            (cached like the segmentation exports), about 2x faster than eager on a CPU with the lite decoder
            (eager runs each operator on its own); for F2MF the graph also takes the stride-4
            labels of frame t and warps and blends them too.
        num_threads: ONNX Runtime intra-op threads (0 = one per core); torch's count is the process's.
        cache_dir: where ONNX exports are cached (default ``~/.cache/swiftcast/onnx``).
        log: called with a line when an export has to be made first (seconds).
    """

    def __init__(
        self,
        checkpoint: str | os.PathLike[str],
        decoder: nn.Module | str | os.PathLike[str],
        seg_config: dict[str, Any] | None = None,
        device: str | torch.device = "cpu",
        decode_scale: float = 1.0,
        backend: str = "torch",
        num_threads: int = 0,
        cache_dir: str | os.PathLike[str] | None = None,
        log: Callable[[str], None] | None = None,
    ) -> None:
        from swiftcast.runtime.paths import resolve_user_path

        if not 0.0 < decode_scale <= 1.0:
            raise SwiftcastError(f"decode scale must be in (0, 1], got {decode_scale}")
        if backend not in FORECAST_BACKENDS:
            raise SwiftcastError(f"backend {backend!r} is not available (choose from {', '.join(FORECAST_BACKENDS)})")
        self.decode_scale = float(decode_scale)
        self.backend = backend
        if isinstance(decoder, nn.Module):
            if seg_config is None:
                raise ValueError("seg_config is needed with a loaded forecast decoder")
            decoder = as_decoder(decoder)
        else:
            decoder, seg_config = load_forecast_decoder(decoder, device=device)
        self.decoder = decoder
        self.seg_config = dict(seg_config)
        self.feature_model_id = str(self.seg_config.get("model_id", ""))
        self.device = torch.device(device)
        self.net, self.config = load_forecaster_checkpoint(checkpoint, self.feature_model_id, device=self.device)
        self.decoder = forecaster_decoder(checkpoint, self.config, self.decoder, self.device)
        self.checkpoint = str(checkpoint)
        self.horizon: Horizon = get_horizon(int(self.config["horizon_frames"]))
        self.input_size: tuple[int, int] = tuple(int(v) for v in self.seg_config.get("input_size") or ())  # type: ignore
        self.offsets: tuple[int, ...] = tuple(self.config.get("input_offsets") or INPUT_OFFSETS)
        #: F2MF: every call also needs the single-frame labels of the newest frame (``last_labels=``)
        self.needs_last_labels: bool = bool(getattr(self.net, "needs_last_labels", False))
        self.session = None
        if backend == "onnxruntime":
            self.session = self._ort_session(resolve_user_path(checkpoint), num_threads, cache_dir, log)

    def _ort_session(self, path: Path, num_threads: int, cache_dir: Any, log: Any) -> Any:
        from swiftcast.runtime.onnx_export import ensure_forecast_export
        from swiftcast.runtime.segmenter import _argmax_graph, ort_session

        # the argmax in ONNX Runtime too: 3x cheaper than torch's on the (1, K, H/4, W/4) logits
        self._argmax = ort_session(_argmax_graph(), num_threads)
        if not self.input_size:
            raise CheckpointError("backend onnxruntime needs the segmentation config's input_size")
        decode_size = decode_size_for(self.input_size, self.decode_scale)
        onnx_path = ensure_forecast_export(path if path.is_dir() else path.parent, self.net, self.config,
                                          self.decoder, self.seg_config, self.input_size, decode_size,
                                          cache_dir, log)
        return ort_session(onnx_path, num_threads, self.device)

    @property
    def model_id(self) -> str:
        return str(self.config.get("model_id", ""))

    @torch.inference_mode()
    def forecast_features(self, past: Sequence[np.ndarray | torch.Tensor]) -> torch.Tensor:
        """The four past feature maps (each (C, h, w), oldest first) -> forecast features (1, C, h, w), float32."""
        if len(past) != len(self.offsets):
            raise ValueError(f"expected {len(self.offsets)} past feature maps, got {len(past)}")
        # copies: wire buffers are read-only and float16; the forecaster runs in float32
        stacked = torch.stack([p.float() if isinstance(p, torch.Tensor) else torch.tensor(p, dtype=torch.float32)
                               for p in past])
        stacked = stacked.to(self.device).unsqueeze(0)
        return predict_features(self.net, stacked)

    def _stack(self, past: Sequence[np.ndarray | torch.Tensor]) -> list[np.ndarray]:
        if len(past) != len(self.offsets):
            raise ValueError(f"expected {len(self.offsets)} past feature maps, got {len(past)}")
        return [np.asarray(p.float() if isinstance(p, torch.Tensor) else p, np.float32)[None] for p in past]

    def decode(self, features: torch.Tensor, out_size: tuple[int, int], confidence: bool = False) -> Forecast:
        """Forecast features (1, C, h, w) -> labels at ``out_size`` via :func:`decode_labels` (decoded for the
        segmentation model's input size, like the single-frame labels, so forecasts and live labels compare)."""
        size = self.input_size or tuple(int(32 * v) for v in features.shape[-2:])
        labels, conf = decode_labels(self.decoder, features, size, out_size, confidence, self.decode_scale)
        return Forecast(labels[0], None if conf is None else conf[0])

    def __call__(
        self, past: Sequence[np.ndarray | torch.Tensor], out_size: tuple[int, int], confidence: bool = False,
        last_labels: np.ndarray | None = None,
    ) -> Forecast:
        """Past features (oldest first) -> future trainIds (H, W) at ``out_size``.

        ``last_labels``: the single-frame trainIds (H', W') uint8 of the newest past frame at any size (e.g. the
        published ``semseg/labels``); required when :attr:`needs_last_labels`, ignored otherwise."""
        if self.needs_last_labels:
            return self._fine(past, out_size, confidence, last_labels)
        if self.session is None:
            return self.decode(self.forecast_features(past), out_size, confidence)
        feeds = {f"past_{i}": p for i, p in enumerate(self._stack(past))}
        logits = self.session.run(None, feeds)[0]
        if not confidence:
            from swiftcast.data.transforms import resize_label

            labels = self._argmax.run(None, {"logits": logits})[0][0]
            return Forecast(np.ascontiguousarray(resize_label(labels, out_size)), None)
        labels, conf = labels_from_logits(torch.from_numpy(logits), out_size, confidence)
        return Forecast(labels[0], None if conf is None else conf[0])

    @torch.inference_mode()
    def _fine(self, past: Sequence[np.ndarray | torch.Tensor], out_size: tuple[int, int], confidence: bool,
              last_labels: np.ndarray | None) -> Forecast:
        from swiftcast.forecast.features import fine_labels, labels_size_for

        if last_labels is None:
            raise ValueError(f"{method_label(self.config)} also needs the single-frame labels of the newest frame: "
                             "pass last_labels=")
        if len(past) != len(self.offsets):
            raise ValueError(f"expected {len(self.offsets)} past feature maps, got {len(past)}")
        size = self.input_size or tuple(int(32 * v) for v in np.shape(past[-1])[-2:])
        grid = labels_size_for(decode_size_for(size, self.decode_scale))
        last_np = fine_labels(np.asarray(last_labels), grid)
        if self.session is not None:  # one graph: forecaster, decoder, warp and blend (see ensure_forecast_export)
            from swiftcast.runtime.onnx_export import LAST_LABELS_INPUT

            feeds = {f"past_{i}": p for i, p in enumerate(self._stack(past))}
            probs_np = self.session.run(None, {**feeds, LAST_LABELS_INPUT: last_np[None]})[0]
            if not confidence:
                from swiftcast.data.transforms import resize_label

                labels = self._argmax.run(None, {"logits": probs_np})[0][0]
                return Forecast(np.ascontiguousarray(resize_label(labels, out_size)), None)
            probs = torch.from_numpy(probs_np)
        else:
            last = torch.from_numpy(last_np).to(self.device)[None]
            stacked = torch.stack([p.float() if isinstance(p, torch.Tensor) else torch.tensor(p, dtype=torch.float32)
                                   for p in past]).to(self.device).unsqueeze(0)
            probs = predict_fine(self.net, self.decoder, stacked, last, size, self.decode_scale)
        labels, conf = labels_from_logits(torch.log(probs.clamp_min(1e-12)), out_size, confidence)
        return Forecast(labels[0], None if conf is None else conf[0])
