"""Image I/O, Cityscapes normalisation and the SwiftNet training augmentation.

Everything works on numpy arrays decoded by OpenCV (RGB uint8 images, uint8 trainId label maps) and turns into
torch tensors only at the end, so the per-frame cost in the runtime is one subtraction and one division.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
import torch

from swiftcast.data.labels import IGNORE_ID
from swiftcast.errors import DataError

#: Cityscapes mean / std of RGB pixel values on the 0..255 scale (what SwiftNet was trained with).
CITYSCAPES_MEAN: tuple[float, float, float] = (73.15, 82.90, 72.3)
CITYSCAPES_STD: tuple[float, float, float] = (47.67, 48.49, 47.73)

Size = tuple[int, int]  # (height, width)


def parse_size(text: str) -> Size:
    """Parse ``"HxW"`` (e.g. ``"512x1024"``) into ``(H, W)``; a :class:`DataError` names the bad value."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise DataError(f"size {text!r} is not HxW (e.g. 512x1024)") from None
    if h <= 0 or w <= 0:
        raise DataError(f"size {text!r} must be positive")
    return h, w


@lru_cache(maxsize=8)
def _stats(mean: tuple[float, ...], std: tuple[float, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    # cached so the runtime does not rebuild two small tensors for every frame
    m = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
    return m, 1.0 / s


def normalize_rgb(
    rgb_uint8: np.ndarray,
    mean: Sequence[float] = CITYSCAPES_MEAN,
    std: Sequence[float] = CITYSCAPES_STD,
) -> torch.Tensor:
    """RGB uint8 image (H, W, 3) -> normalised float32 tensor (3, H, W): ``(x - mean) / std`` per channel."""
    if rgb_uint8.ndim != 3 or rgb_uint8.shape[2] != 3:
        raise DataError(f"expected an RGB image of shape (H, W, 3), got {tuple(rgb_uint8.shape)}")
    m, inv_s = _stats(tuple(float(v) for v in mean), tuple(float(v) for v in std))
    x = torch.from_numpy(np.ascontiguousarray(rgb_uint8)).permute(2, 0, 1).float()
    return x.sub_(m).mul_(inv_s)


def read_rgb(path: str | Path) -> np.ndarray:
    """Decode an image file into RGB uint8 (H, W, 3); a :class:`DataError` if it is missing or unreadable."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise DataError(f"cannot read image {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_label(path: str | Path) -> np.ndarray:
    """Decode a single-channel label PNG (uint8, H x W) without any colour conversion."""
    label = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if label is None:
        raise DataError(f"cannot read label map {path}")
    if label.ndim != 2:
        raise DataError(f"label map {path} has {label.shape[2]} channels, expected a single-channel PNG")
    return label


def resize_rgb(rgb: np.ndarray, size: Size) -> np.ndarray:
    """Resize an image to ``(H, W)``: area averaging when shrinking (no aliasing), bilinear otherwise.

    Training, evaluation and the runtime all call this, so a model sees the same interpolation everywhere.
    """
    h, w = size
    if rgb.shape[:2] == (h, w):
        return rgb
    shrink = h < rgb.shape[0] and w < rgb.shape[1]
    return cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def labels_at_size(label: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a trainId map taking the pixel nearest each output cell's centre (OpenCV's
    INTER_NEAREST_EXACT; plain INTER_NEAREST would take every cell's top-left pixel, a 1.5-pixel shift at stride 4)."""
    import cv2

    h, w = size
    if label.shape[:2] == (h, w):
        return label
    return cv2.resize(label, (w, h), interpolation=cv2.INTER_NEAREST_EXACT)


def resize_label(label: np.ndarray, size: Size) -> np.ndarray:
    """Resize a label map with nearest-neighbour sampling (ids must never be blended)."""
    h, w = size
    if label.shape[:2] == (h, w):
        return label
    return cv2.resize(label, (w, h), interpolation=cv2.INTER_NEAREST)


def label_to_tensor(label: np.ndarray) -> torch.Tensor:
    """uint8 trainId map -> int64 tensor (what ``cross_entropy`` wants)."""
    return torch.from_numpy(np.ascontiguousarray(label)).long()


class EvalTransform:
    """Resize the image to the model's input size and normalise it; the label stays at full resolution.

    Metrics are computed at the ground truth's own resolution (as cityscapesScripts does), so logits are
    upsampled to the label size instead of downsampling the label.
    """

    def __init__(
        self,
        size: Size | None = None,
        mean: Sequence[float] = CITYSCAPES_MEAN,
        std: Sequence[float] = CITYSCAPES_STD,
    ) -> None:
        self.size, self.mean, self.std = size, tuple(mean), tuple(std)

    def __call__(
        self, rgb: np.ndarray, label: np.ndarray | None, rng: np.random.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.size is not None:
            rgb = resize_rgb(rgb, self.size)
        return normalize_rgb(rgb, self.mean, self.std), None if label is None else label_to_tensor(label)


class PhotometricAugment:
    """Camera-like appearance changes on an RGB uint8 crop, so a model trained on rendered images meets real
    cameras prepared: colour jitter (brightness, contrast, saturation, hue), exposure/gamma, blur, sensor noise
    and JPEG artefacts. Each is applied with its own probability; all draws come from the sample's ``rng``."""

    def __init__(self, strength: float = 1.0) -> None:
        self.strength = strength

    def __call__(self, rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        s = self.strength
        x = rgb.astype(np.float32)
        if rng.random() < 0.8:  # brightness and contrast around the image mean
            gain = rng.uniform(1 - 0.4 * s, 1 + 0.4 * s)
            contrast = rng.uniform(1 - 0.4 * s, 1 + 0.4 * s)
            mean = x.mean()
            x = (x - mean) * contrast + mean * gain
        if rng.random() < 0.8:  # saturation, and a per-channel white-balance cast
            grey = x.mean(axis=2, keepdims=True)
            x = grey + (x - grey) * rng.uniform(1 - 0.5 * s, 1 + 0.5 * s)
            x = x * rng.uniform(1 - 0.1 * s, 1 + 0.1 * s, size=3).astype(np.float32)
        x = np.clip(x, 0, 255)
        if rng.random() < 0.5:  # exposure curve
            gamma = float(np.exp(rng.uniform(-0.4 * s, 0.4 * s)))
            x = 255.0 * (x / 255.0) ** gamma
        out = x.astype(np.uint8)
        if rng.random() < 0.3:  # hue shift
            hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV)
            hsv[..., 0] = (hsv[..., 0].astype(np.int16) + int(rng.integers(-8, 9) * s)) % 180
            out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
        if rng.random() < 0.3:  # defocus / motion softness
            out = cv2.GaussianBlur(out, (0, 0), sigmaX=float(rng.uniform(0.3, 0.3 + 1.2 * s)))
        if rng.random() < 0.3:  # sensor noise
            noise = rng.normal(0.0, rng.uniform(1.0, 1.0 + 7.0 * s), size=out.shape).astype(np.float32)
            out = np.clip(out.astype(np.float32) + noise, 0, 255).astype(np.uint8)
        if rng.random() < 0.3:  # compression artefacts
            quality = int(rng.integers(30, 91))
            ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok:
                out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
        return np.ascontiguousarray(out)


#: what ``swiftcast train --augment`` accepts: the official SwiftNet geometry only, or geometry + photometric
AUGMENTATIONS = ("basic", "strong")


class TrainTransform:
    """SwiftNet augmentation: resize to the base size, random scale, random crop (padded), horizontal flip.

    ``size`` is the model's input size (the resolution the image is first brought to), the random scale factor is
    drawn uniformly from ``scale_range`` relative to it, and a ``crop`` window is taken at a random position.
    Where the scaled image is smaller than the crop, the image is padded with the mean colour (zero after
    normalisation) and the label with the ignore id, so padding never contributes to the loss.
    """

    def __init__(
        self,
        crop: Size,
        size: Size | None = None,
        scale_range: tuple[float, float] = (0.5, 2.0),
        flip: bool = True,
        mean: Sequence[float] = CITYSCAPES_MEAN,
        std: Sequence[float] = CITYSCAPES_STD,
        photometric: PhotometricAugment | None = None,
    ) -> None:
        lo, hi = scale_range
        self.photometric = photometric
        if not 0 < lo <= hi:
            raise DataError(f"scale range {scale_range} must satisfy 0 < min <= max")
        self.crop, self.size, self.scale_range, self.flip = crop, size, (lo, hi), flip
        self.mean, self.std = tuple(mean), tuple(std)
        self._pad_colour = tuple(int(round(v)) for v in self.mean)

    def __call__(
        self, rgb: np.ndarray, label: np.ndarray | None, rng: np.random.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if label is None:
            raise DataError("training needs a label map for every image")
        rng = rng if rng is not None else np.random.default_rng()
        base_h, base_w = self.size if self.size is not None else label.shape[:2]
        scale = rng.uniform(*self.scale_range)
        target = (max(1, round(base_h * scale)), max(1, round(base_w * scale)))
        rgb, label = resize_rgb(rgb, target), resize_label(label, target)

        ch, cw = self.crop
        pad_h, pad_w = max(0, ch - target[0]), max(0, cw - target[1])
        if pad_h or pad_w:  # the smaller image lands at a random place inside the crop
            top, left = int(rng.integers(0, pad_h + 1)), int(rng.integers(0, pad_w + 1))
            border = (top, pad_h - top, left, pad_w - left)
            rgb = cv2.copyMakeBorder(rgb, *border, cv2.BORDER_CONSTANT, value=self._pad_colour)
            label = cv2.copyMakeBorder(label, *border, cv2.BORDER_CONSTANT, value=IGNORE_ID)
        y0 = int(rng.integers(0, rgb.shape[0] - ch + 1))
        x0 = int(rng.integers(0, rgb.shape[1] - cw + 1))
        rgb, label = rgb[y0 : y0 + ch, x0 : x0 + cw], label[y0 : y0 + ch, x0 : x0 + cw]
        if self.flip and rng.random() < 0.5:
            rgb, label = rgb[:, ::-1], label[:, ::-1]
        if self.photometric is not None:
            rgb = self.photometric(np.ascontiguousarray(rgb), rng)
        return normalize_rgb(rgb, self.mean, self.std), label_to_tensor(label)
