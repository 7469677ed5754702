"""Which input pixels a forecast pixel depends on ("explaining results" in Šarić et al., GCPR 2019;
``swiftcast explain-forecast``).

For a chosen pixel of the forecast, the gradient of its log-max-softmax with respect to the four input frames
(t-9, t-6, t-3, t) is taken through the whole pipeline: backbone + SPP of every input frame, the forecaster and
the skip-less decoder. The strongest-gradient pixels (the top ``top`` share over all four frames together, so a
frame that matters little shows little red) are painted red over each input frame, the chosen pixel is marked in
green, and the forecast and the future ground truth are shown next to them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from swiftcast.checkout import recorded_path
from swiftcast.errors import DataError, SwiftcastError
from swiftcast.runtime.paths import DEFAULT_SEGMENTATION_CHECKPOINT

FRAME_NAMES = ("t-9", "t-6", "t-3", "t")


@dataclass
class Explanation:
    gradients: np.ndarray  # (P, H, W) float32: L2 norm over colour channels of d score / d input, per frame
    forecast: np.ndarray  # (H, W) uint8 trainIds at the model's input size
    pixel: tuple[int, int]  # (row, col) at the model's input size
    predicted_class: int
    score: float  # the log-max-softmax of the pixel

    def frame_shares(self) -> np.ndarray:
        """Share of the total gradient mass that falls on each input frame."""
        total = float(self.gradients.sum())
        return self.gradients.sum(axis=(1, 2)) / total if total > 0 else np.zeros(len(self.gradients))

    def top_mask(self, top: float) -> np.ndarray:
        """(P, H, W) bool: the ``top`` share of pixels with the strongest gradient over all frames together."""
        flat = self.gradients.reshape(-1)
        k = max(1, int(round(top * flat.size)))
        threshold = np.partition(flat, flat.size - k)[flat.size - k]
        return (self.gradients >= threshold) & (self.gradients > 0)


def explain_pixel(
    seg_model: nn.Module, decoder: nn.Module, forecaster: nn.Module, images: torch.Tensor, pixel: tuple[int, int]
) -> Explanation:
    """Gradient of the forecast's log-max-softmax at ``pixel`` w.r.t. ``images`` (P, 3, H, W), normalised, oldest
    first; ``pixel`` is (row, col) at the images' size. ``decoder``: the forecast decoder of ``seg_model``."""
    from swiftcast.forecast.forecaster import predict_features

    height, width = images.shape[-2:]
    row, col = pixel
    if not (0 <= row < height and 0 <= col < width):
        raise SwiftcastError(f"pixel {pixel} lies outside the {height}x{width} model input")
    x = images.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        feats = seg_model.features(x)  # (P, C, h, w): the frozen backbone + SPP, as in training
        future = predict_features(forecaster, feats.unsqueeze(0))
        logits = decoder(future, out_size=(height, width))
        log_probs = torch.log_softmax(logits[0, :, row, col], dim=0)
        score = log_probs.max()
        score.backward()
    grads = x.grad.detach().norm(dim=1).cpu().numpy().astype(np.float32)
    forecast = logits[0].detach().argmax(0).to(torch.uint8).cpu().numpy()
    return Explanation(grads, forecast, (row, col), int(log_probs.argmax()), float(score.detach()))


def _find_sequence(data: str | Path, split: str | None, name: str):
    from swiftcast.data.cityscapes import CityscapesDataset, has_split

    splits = [split] if split else [s for s in ("val", "train", "test") if has_split(data, s, "leftImg8bit_sequence")]
    if not splits:
        raise DataError(f"no leftImg8bit_sequence/<split> folder under {data}")
    for sp in splits:
        dataset = CityscapesDataset(data, sp, layout="leftImg8bit_sequence", require_labels=False)
        for seq in dataset.sequences:
            if name in (f"{seq.city}_{seq.seq}", seq.key):
                return dataset, seq
    raise DataError(f"no sequence {name!r} (CITY_SEQ, e.g. frankfurt_000001) in split(s) {', '.join(splits)} of {data}")


def _overlay(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = (rgb.astype(np.float32) * 0.55).astype(np.uint8)  # dim the frame so the red stands out
    out[mask] = (255, 0, 0)
    return out


def save_figure(path: Path, inputs: Sequence[np.ndarray], explanation: Explanation, forecast_rgb: np.ndarray,
                gt_rgb: np.ndarray | None, future_rgb: np.ndarray, pixel_full: tuple[int, int], title: str,
                top: float, frame_names: Sequence[str] = FRAME_NAMES) -> None:
    """Top row: the inputs with their strongest-gradient pixels in red. Bottom row: the forecast, the future
    ground truth, the (unobserved) future frame and how the gradient splits over the input frames."""
    import matplotlib

    matplotlib.use("Agg")
    import cv2
    import matplotlib.pyplot as plt

    full_h, full_w = inputs[0].shape[:2]
    mask = explanation.top_mask(top)
    shares = explanation.frame_shares()
    panel_w = 4.2
    fig, axes = plt.subplots(2, len(inputs), figsize=(panel_w * len(inputs), 2 * (panel_w * full_h / full_w + 0.6) + 0.5),
                             squeeze=False)
    row, col = pixel_full
    for i, (rgb, ax) in enumerate(zip(inputs, axes[0])):
        m = cv2.resize(mask[i].astype(np.uint8), (full_w, full_h), interpolation=cv2.INTER_NEAREST).astype(bool)
        ax.imshow(_overlay(rgb, m))
        ax.set_title(f"{frame_names[i]}  ({100 * shares[i]:.0f}% of gradient)", fontsize=10)
    panels = [("forecast", forecast_rgb), ("future ground truth", gt_rgb), ("future frame (unobserved)", future_rgb)]
    for ax, (name, img) in zip(axes[1], panels):
        if img is None:
            ax.text(0.5, 0.5, "no ground truth", ha="center", va="center")
        else:
            ax.imshow(img)
        ax.set_title(name, fontsize=10)
    for ax in list(axes[0]) + list(axes[1][: len(panels)]):
        ax.set_xticks([])
        ax.set_yticks([])
        if ax.images:
            ax.plot([col], [row], marker="o", markersize=9, markerfacecolor="none", markeredgecolor="lime",
                    markeredgewidth=2)
    if len(inputs) > len(panels):
        ax_bar = axes[1][len(panels)]
        ax_bar.bar(list(frame_names[: len(inputs)]), 100 * shares, color="tab:red")
        ax_bar.set_ylim(0, 100)
        ax_bar.set_yticks([0, 25, 50, 75, 100])
        ax_bar.set_ylabel("% of gradient")
        ax_bar.set_title("gradient per input frame", fontsize=10)
        for ax in axes[1][len(panels) + 1 :]:
            ax.axis("off")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def explain_forecast(
    data: str | Path,
    sequence: str,
    pixel: tuple[int, int],
    horizon: str,
    out: str | Path,
    *,
    forecaster: str | Path | None = None,
    seg_model: str | Path = DEFAULT_SEGMENTATION_CHECKPOINT,
    models_dir: str | Path = "models",
    split: str | None = None,
    target_frame: int = 20,
    top: float = 0.01,
) -> Path:
    """Explain the forecast of ``pixel`` (row, col in image pixels) for the target frame (1-based) of ``sequence``:
    writes the figure, the gradients (npz) and a JSON summary into ``out``; returns the figure's path.
    ``forecaster`` defaults to the shipped one for ``horizon`` under ``models_dir``."""
    from swiftcast.data.labels import CLASS_NAMES, colorize_train_ids
    from swiftcast.data.transforms import resize_label
    from swiftcast.forecast.decoder import load_forecast_decoder
    from swiftcast.forecast.features import load_segmenter
    from swiftcast.forecast.forecaster import (
        default_forecaster,
        forecaster_decoder,
        load_forecaster_checkpoint,
        method_label,
    )
    from swiftcast.forecast.protocol import get_horizon, window_ending_at

    if not 0 < top < 1:
        raise SwiftcastError(f"--top must lie in (0, 1), got {top}")
    row, col = pixel
    hz = get_horizon(horizon)
    segmenter = load_segmenter(seg_model)
    path = forecaster or default_forecaster(models_dir, segmenter.model_id, hz.frames)
    if path is None:
        raise SwiftcastError(f"no shipped forecaster for {horizon} term and segmentation model "
                             f"{segmenter.model_id} under {models_dir}: pass --forecaster CKPT")
    net, config = load_forecaster_checkpoint(path, expected_feature_model_id=segmenter.model_id)
    if int(config["horizon_frames"]) != hz.frames:
        raise SwiftcastError(f"{path} forecasts {config['horizon_frames']} frames ahead, not {hz.frames} "
                             f"(--horizon {horizon})")

    dataset, seq = _find_sequence(data, split, sequence)
    window = window_ending_at(target_frame - 1 - hz.frames, hz)
    if min(window.inputs) < 0 or window.target >= len(seq.frames):
        raise SwiftcastError(f"sequence {sequence} has {len(seq.frames)} frames: target frame "
                             f"{target_frame} with inputs {[i + 1 for i in window.inputs]} does not fit")
    index = {f.stem: i for i, f in enumerate(dataset.frames)}
    frames = [dataset.load(index[seq.frames[i].stem]) for i in window.inputs]
    target_rgb, target_gt = dataset.load(index[seq.frames[window.target].stem])
    full_h, full_w = frames[0][0].shape[:2]
    if not (0 <= row < full_h and 0 <= col < full_w):
        raise SwiftcastError(f"--pixel {row},{col} lies outside the {full_h}x{full_w} images of {sequence}")
    in_h, in_w = segmenter.input_size
    pixel_in = (min(in_h - 1, row * in_h // full_h), min(in_w - 1, col * in_w // full_w))

    images = torch.cat([segmenter.preprocess(rgb) for rgb, _ in frames])
    decoder, _ = load_forecast_decoder(segmenter.checkpoint, segmenter.device)
    decoder = forecaster_decoder(path, config, decoder, segmenter.device)
    explanation = explain_pixel(segmenter.model, decoder, net, images, pixel_in)

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"explain_{sequence}_{horizon}_r{row}_c{col}"
    forecast_full = resize_label(explanation.forecast, (full_h, full_w))

    cls = explanation.predicted_class
    gt_cls = int(target_gt[row, col]) if target_gt is not None else None
    title = (f"{method_label(config)}, {horizon} term (t+{hz.frames}), {sequence}, pixel ({row}, {col}): "
             f"forecast {CLASS_NAMES[cls] if cls < len(CLASS_NAMES) else cls}"
             + (f", ground truth {CLASS_NAMES[gt_cls] if gt_cls < len(CLASS_NAMES) else 'ignore'}"
                if gt_cls is not None else ""))
    save_figure(out / f"{stem}.png", [rgb for rgb, _ in frames], explanation,
                colorize_train_ids(forecast_full)[..., ::-1],
                None if target_gt is None else colorize_train_ids(target_gt)[..., ::-1], target_rgb, (row, col), title,
                top)
    np.savez_compressed(out / f"{stem}_gradients.npz", gradients=explanation.gradients.astype(np.float16),
                        forecast=explanation.forecast)
    summary = {
        "sequence": sequence,
        "horizon": horizon,
        "input_frames": [i + 1 for i in window.inputs],
        "target_frame": window.target + 1,
        "pixel": [row, col],
        "pixel_at_model_input": list(pixel_in),
        "forecaster": {"path": recorded_path(path), "model_id": config.get("model_id"), "name": method_label(config)},
        "seg_model": {"path": recorded_path(segmenter.checkpoint), "model_id": segmenter.model_id},
        "forecast_class": CLASS_NAMES[cls] if cls < len(CLASS_NAMES) else cls,
        "ground_truth_class": None if gt_cls is None else (CLASS_NAMES[gt_cls] if gt_cls < len(CLASS_NAMES) else "ignore"),
        "log_max_softmax": explanation.score,
        "gradient_share_per_frame": dict(zip(FRAME_NAMES, (round(float(s), 4) for s in explanation.frame_shares()))),
        "top": top,
    }
    (out / f"{stem}.json").write_text(json.dumps(summary, indent=2) + "\n")
    return out / f"{stem}.png"
