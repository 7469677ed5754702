"""A decoded training cache: every training image and label map of a split, resized once, in two uint8 arrays.

Decoding a PNG and resizing it costs about as much as a training step of a small model on a 2-core CPU, so a
loader that reads PNGs keeps a core busy that the step needs. The cache is made once per (dataset, frames, size)
and memory-mapped afterwards: reading a sample is a copy out of the page cache, and augmentation starts from an
image that is already at the model's input size.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from swiftcast.data.transforms import Size, resize_label, resize_rgb

if TYPE_CHECKING:
    from swiftcast.data.cityscapes import CityscapesDataset

CACHE_VERSION = 1


def default_cache_root() -> Path:
    """``$SWIFTCAST_CACHE`` or ``$XDG_CACHE_HOME/swiftcast`` (``~/.cache/swiftcast``): never inside the data."""
    if os.environ.get("SWIFTCAST_CACHE"):
        return Path(os.environ["SWIFTCAST_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "swiftcast"


def _fingerprint(dataset: "CityscapesDataset", size: Size) -> str:
    """Changes whenever a file of the selection, its size or modification time, or the cache size changes."""
    h = hashlib.sha256(f"v{CACHE_VERSION}|{size[0]}x{size[1]}|".encode())
    for frame in dataset.frames:
        for path in (frame.image_path, frame.label_path):
            stat = path.stat()
            h.update(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{frame.label_kind}\n".encode())
    return h.hexdigest()[:20]


class DecodedCache:
    """``images`` (N, H, W, 3) RGB and ``labels`` (N, H, W) trainIds, uint8, memory-mapped, in dataset order."""

    def __init__(self, folder: Path) -> None:
        meta = json.loads((folder / "meta.json").read_text())
        n, h, w = meta["count"], *meta["size"]
        self.folder, self.size = folder, (h, w)
        self.images = np.memmap(folder / "images.u8", dtype=np.uint8, mode="r", shape=(n, h, w, 3))
        self.labels = np.memmap(folder / "labels.u8", dtype=np.uint8, mode="r", shape=(n, h, w))

    def __len__(self) -> int:
        return len(self.labels)

    @classmethod
    def build(
        cls, dataset: "CityscapesDataset", size: Size, root: Path | None = None, progress: bool = True
    ) -> "DecodedCache":
        """Open the cache of ``dataset`` at ``size``, making it first if it does not exist yet (or is stale)."""
        folder = (root or default_cache_root()) / "train" / _fingerprint(dataset, size)
        if (folder / "meta.json").is_file():
            return cls(folder)
        folder.mkdir(parents=True, exist_ok=True)
        n, (h, w) = len(dataset), size
        images = np.memmap(folder / "images.u8", dtype=np.uint8, mode="w+", shape=(n, h, w, 3))
        labels = np.memmap(folder / "labels.u8", dtype=np.uint8, mode="w+", shape=(n, h, w))
        for i in tqdm(range(n), desc=f"decoding {n} training images once", disable=not progress, unit="img"):
            rgb, label = dataset.load(i, cached=False)
            images[i] = resize_rgb(rgb, size)
            labels[i] = resize_label(label, size)
        images.flush(), labels.flush()
        del images, labels
        meta = {"version": CACHE_VERSION, "count": n, "size": [h, w], "dataset": dataset.describe()}
        tmp = folder / "meta.json.tmp"
        tmp.write_text(json.dumps(meta, indent=1))
        os.replace(tmp, folder / "meta.json")  # written last: a half-made cache is never opened
        return cls(folder)
