"""Cityscapes-layout dataset reader.

Two image layouts are understood, both paired with ``gtFine/<split>/<city>/``:

* ``leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png`` - the annotated frames of real Cityscapes;
* ``leftImg8bit_sequence/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png`` - 30-frame video snippets (real
  Cityscapes has ground truth for the 20th frame of each snippet only, our synthetic world for every frame).

Ground truth is read from ``*_gtFine_labelTrainIds.png`` when present, otherwise ``*_gtFine_labelIds.png`` is
mapped to trainIds with the cityscapesScripts table (a fresh Cityscapes download has only the latter).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from torch.utils.data import Dataset

from swiftcast.checkout import recorded_path
from swiftcast.data.labels import label_ids_to_train_ids
from swiftcast.data.transforms import EvalTransform, read_label, read_rgb
from swiftcast.errors import DataError

IMAGE_SUFFIX = "_leftImg8bit.png"
TRAIN_IDS_SUFFIX = "_gtFine_labelTrainIds.png"
LABEL_IDS_SUFFIX = "_gtFine_labelIds.png"
LAYOUTS = ("leftImg8bit", "leftImg8bit_sequence")
#: frames per snippet in Cityscapes' sequence folders (also what ``swiftcast synth`` writes)
SEQUENCE_LENGTH = 30

Transform = Callable[[np.ndarray, "np.ndarray | None", "np.random.Generator | None"], tuple]


@dataclass(frozen=True)
class Frame:
    """One image of the dataset and, when it exists, its ground truth."""

    city: str
    seq: str
    frame: str
    image_path: Path
    label_path: Path | None = None
    #: "trainIds" or "labelIds": how the label file is encoded
    label_kind: str | None = None

    @property
    def stem(self) -> str:
        """``<city>_<seq>_<frame>``: the Cityscapes file prefix (prediction files are named after it)."""
        return f"{self.city}_{self.seq}_{self.frame}"


@dataclass
class Sequence:
    """A run of consecutive frames (one Cityscapes snippet), in time order."""

    city: str
    seq: str
    frames: list[Frame] = field(default_factory=list)

    @property
    def key(self) -> str:
        """``<city>_<seq>_<first frame>``: unique even where Cityscapes reuses a seq id for several snippets."""
        return f"{self.city}_{self.seq}_{self.frames[0].frame}"

    @property
    def image_paths(self) -> list[Path]:
        return [f.image_path for f in self.frames]


def resolve_layout(root: str | Path, split: str, layout: str = "auto") -> Path:
    """The image folder ``root/<layout>/<split>``; ``auto`` prefers ``leftImg8bit`` and falls back to ``_sequence``."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"dataset folder {root} does not exist")
    candidates = LAYOUTS if layout == "auto" else (layout,)
    if layout not in LAYOUTS + ("auto",):
        raise DataError(f"unknown layout {layout!r}; choose from auto, {', '.join(LAYOUTS)}")
    for name in candidates:
        folder = root / name / split
        if folder.is_dir():
            return folder
    wanted = " or ".join(f"{root}/{name}/{split}" for name in candidates)
    raise DataError(f"no images for split {split!r}: expected {wanted} (Cityscapes layout)")


def has_split(root: str | Path, split: str, layout: str = "auto") -> bool:
    """Whether ``root`` holds images for ``split`` (e.g. to decide if validation is possible)."""
    try:
        resolve_layout(root, split, layout)
    except DataError:
        return False
    return True


def _parse_name(name: str) -> tuple[str, str, str] | None:
    if not name.endswith(IMAGE_SUFFIX):
        return None
    parts = name[: -len(IMAGE_SUFFIX)].rsplit("_", 2)  # city names may themselves contain '_'
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else None


def _scan_frames(root: Path, image_dir: Path, split: str) -> list[Frame]:
    frames: list[Frame] = []
    for city_dir in sorted(p for p in image_dir.iterdir() if p.is_dir()):
        gt_dir = root / "gtFine" / split / city_dir.name
        gt_files = set(os.listdir(gt_dir)) if gt_dir.is_dir() else set()
        for name in sorted(os.listdir(city_dir)):
            parsed = _parse_name(name)
            if parsed is None:
                continue
            city, seq, frame = parsed
            stem = f"{city}_{seq}_{frame}"
            label_path, kind = None, None
            if stem + TRAIN_IDS_SUFFIX in gt_files:
                label_path, kind = gt_dir / (stem + TRAIN_IDS_SUFFIX), "trainIds"
            elif stem + LABEL_IDS_SUFFIX in gt_files:
                label_path, kind = gt_dir / (stem + LABEL_IDS_SUFFIX), "labelIds"
            frames.append(Frame(city, seq, frame, city_dir / name, label_path, kind))
    return frames


def _split_runs(frames: list[Frame], sequence_length: int) -> list[Sequence]:
    """Group frames into snippets: same city and seq id, consecutive frame numbers, at most ``sequence_length``."""
    groups: dict[tuple[str, str], list[Frame]] = {}
    for f in frames:
        groups.setdefault((f.city, f.seq), []).append(f)
    sequences: list[Sequence] = []
    for (city, seq), group in sorted(groups.items()):
        group.sort(key=lambda f: int(f.frame))
        current = Sequence(city, seq)
        for f in group:
            prev = current.frames[-1] if current.frames else None
            if prev is not None and (int(f.frame) != int(prev.frame) + 1 or len(current.frames) >= sequence_length):
                sequences.append(current)
                current = Sequence(city, seq)
            current.frames.append(f)
        if current.frames:
            sequences.append(current)
    return sequences


def enumerate_sequences(
    root: str | Path, split: str, layout: str = "leftImg8bit_sequence", sequence_length: int = SEQUENCE_LENGTH
) -> list[Sequence]:
    """All snippets of a split in a stable order, each with its frames in time order (forecasting needs these)."""
    root = Path(root)
    image_dir = resolve_layout(root, split, layout)
    frames = _scan_frames(root, image_dir, split)
    if not frames:
        raise DataError(f"no *{IMAGE_SUFFIX} images under {image_dir}")
    return _split_runs(frames, sequence_length)


def select_frames(sequences: Iterable[Sequence], frames: str | None) -> list[Frame]:
    """Pick frames by their position inside each snippet.

    ``None`` or ``"all"``: every frame; ``"every:N"``: positions 0, N, 2N, ...; ``"index:I[,J...]"``: those
    positions only (``index:19`` = the 20th frame, the one real Cityscapes annotates).
    """
    spec = (frames or "all").strip().lower()
    try:
        if spec == "all":
            keep = lambda i: True  # noqa: E731
        elif spec.startswith("every:"):
            step = int(spec.split(":", 1)[1])
            if step <= 0:
                raise ValueError
            keep = lambda i: i % step == 0  # noqa: E731
        elif spec.startswith("index:"):
            wanted = {int(v) for v in spec.split(":", 1)[1].split(",")}
            keep = lambda i: i in wanted  # noqa: E731
        else:
            raise ValueError
    except ValueError:
        raise DataError(f"bad frame selection {frames!r}; use all, every:N (N >= 1) or index:I[,J...]") from None
    return [f for s in sequences for i, f in enumerate(s.frames) if keep(i)]


def read_train_ids(frame: Frame) -> np.ndarray | None:
    """A frame's ground truth as trainIds (from either label file kind), ``None`` when it has none."""
    if frame.label_path is None:
        return None
    label = read_label(frame.label_path)
    return label_ids_to_train_ids(label) if frame.label_kind == "labelIds" else label


class CityscapesDataset(Dataset):
    """Images (and trainId labels) of one split of a Cityscapes-layout folder.

    ``frames`` selects frames inside each snippet (see :func:`select_frames`); by default every image that has a
    ground-truth file is used. With ``require_labels=False`` images without ground truth are kept too (their
    label is ``None``). ``transform(rgb, label, rng)`` turns decoded arrays into tensors; the dataset index may be
    an ``int`` or an ``(int, seed)`` pair - the seed drives the augmentation, which makes training reproducible
    and resumable independently of how many loader workers there are.
    """

    def __init__(
        self,
        root: str | Path,
        split: str,
        frames: str | None = None,
        transform: Transform | None = None,
        layout: str = "auto",
        require_labels: bool = True,
        sequence_length: int = SEQUENCE_LENGTH,
    ) -> None:
        self.root, self.split = Path(root), split
        image_dir = resolve_layout(self.root, split, layout)
        self.layout = image_dir.parent.name
        scanned = _scan_frames(self.root, image_dir, split)
        if not scanned:
            raise DataError(f"no *{IMAGE_SUFFIX} images under {image_dir}")
        self.sequences = _split_runs(scanned, sequence_length)
        chosen = select_frames(self.sequences, frames)
        self.frames_spec = frames
        self.num_without_labels = sum(f.label_path is None for f in chosen)
        self.frames: list[Frame] = [f for f in chosen if f.label_path is not None or not require_labels]
        if not self.frames:
            gt = self.root / "gtFine" / split
            raise DataError(
                f"no images with ground truth in {image_dir} (frames={frames or 'all'}); expected "
                f"{gt}/<city>/<city>_<seq>_<frame>{TRAIN_IDS_SUFFIX} or ...{LABEL_IDS_SUFFIX}"
            )
        self.transform: Transform = transform if transform is not None else EvalTransform()
        self.cache = None  # a DecodedCache (swiftcast.data.cache) once use_cache() was called

    def use_cache(self, size: tuple[int, int], root: Path | None = None, progress: bool = True) -> None:
        """Read images and labels from a decoded uint8 cache at ``size`` (made on first use; training only:
        the labels are resized too, so metrics would no longer be at the ground truth's own resolution)."""
        from swiftcast.data.cache import DecodedCache

        if any(f.label_path is None for f in self.frames):
            raise DataError("the decoded cache is for training: every frame needs ground truth")
        self.cache = DecodedCache.build(self, size, root, progress)

    def __len__(self) -> int:
        return len(self.frames)

    def load(self, index: int, cached: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """Decoded RGB uint8 image and trainId label map (``None`` without ground truth) of one frame."""
        if cached and self.cache is not None:
            return np.array(self.cache.images[index]), np.array(self.cache.labels[index])
        frame = self.frames[index]
        rgb = read_rgb(frame.image_path)
        label = read_train_ids(frame)
        if label is None:
            return rgb, None
        if label.shape != rgb.shape[:2]:
            raise DataError(f"{frame.label_path} is {label.shape[1]}x{label.shape[0]} but its image is "
                            f"{rgb.shape[1]}x{rgb.shape[0]}")
        return rgb, label

    def __getitem__(self, item: int | tuple[int, int]) -> dict:
        index, seed = item if isinstance(item, tuple) else (item, None)
        rgb, label = self.load(index)
        rng = np.random.default_rng(seed) if seed is not None else None
        image, target = self.transform(rgb, label, rng)
        out = {"image": image, "index": index}
        if target is not None:
            out["label"] = target
        return out

    def describe(self) -> dict:
        """A JSON-able description for checkpoint configs and metric files."""
        return {
            "root": recorded_path(self.root),
            "split": self.split,
            "layout": self.layout,
            "frames": self.frames_spec or "all",
            "num_images": len(self.frames),
            "num_sequences": len(self.sequences),
        }


def collate(batch: list[dict]) -> dict:
    """Stack a batch; labels of different sizes (mixed-resolution eval) are kept as a list."""
    out: dict = {"image": torch.stack([b["image"] for b in batch]), "index": [b["index"] for b in batch]}
    if all("label" in b for b in batch):
        labels = [b["label"] for b in batch]
        same = all(lab.shape == labels[0].shape for lab in labels)
        out["label"] = torch.stack(labels) if same else labels
    return out
