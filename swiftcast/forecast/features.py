"""SPP features of every frame of every sequence, extracted once with the frozen segmentation model and cached.

Forecasters train and are evaluated on features, never on pixels: a 30-frame sequence at 256x512 is 30 x 128 x 8
x 16 half floats (1 MB), so a whole split fits in memory and the backbone runs once per frame instead of once per
training step. The cache lives in ``<cache_dir>/<feature extractor id>/<split>.safetensors`` (one float16 tensor
(T, C, h, w) per sequence; the id digests every weight except the skip-less decoder's, which the features do not
depend on) and ``<cache_dir>/index.json`` records, per extractor and split, a fingerprint of the image files and
the input size; other weights, a regenerated dataset or another input size therefore never reuse stale features.

On request (``with_labels=True``, what F2MF trains and is evaluated with) the cache also holds the full single-frame
model's labels of every frame at the skip-less decoder's output stride 4: argmax at the input size, then the pixel
nearest each 4x4 cell's centre, as uint8 (T, H/4, W/4) in ``<split>.labels.safetensors`` next to the features,
keyed and invalidated exactly like them (the ladder decoder they come from is part of the extractor id).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence as Seq

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from swiftcast.data.cityscapes import CityscapesDataset, Frame, Sequence
from swiftcast.errors import DataError

CACHE_FORMAT = "swiftcast.feature-cache/v1"
INDEX_FILE = "index.json"


@dataclass
class SequenceFeatures:
    """The cached features of one sequence, plus the frames they came from (for their ground truth)."""

    key: str
    frames: list[Frame]
    features: torch.Tensor  # (T, C, h, w) float16
    labels: torch.Tensor | None = None  # (T, H/4, W/4) uint8 single-frame labels, with ``with_labels`` only

    def __len__(self) -> int:
        return len(self.frames)


@dataclass
class FeatureSet:
    """All sequences of one split encoded by one segmentation model."""

    split: str
    model_id: str
    input_size: tuple[int, int]
    sequences: list[SequenceFeatures]
    dataset: CityscapesDataset
    cache_file: Path | None = None

    def label(self, frame: Frame) -> np.ndarray:
        """Ground-truth trainIds of a frame (full resolution); DataError when the frame has none."""
        if frame.label_path is None:
            raise DataError(f"frame {frame.stem} of split {self.split!r} has no ground truth")
        index = self._frame_index()[frame.stem]
        _, label = self.dataset.load(index)
        assert label is not None
        return label

    def _frame_index(self) -> dict[str, int]:
        if not hasattr(self, "_index"):
            self._index = {f.stem: i for i, f in enumerate(self.dataset.frames)}
        return self._index

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return tuple(self.sequences[0].features.shape[1:]) if self.sequences else ()


def default_cache_dir(data_root: str | Path) -> Path:
    """``<data>/.cache/features``: next to the data it was computed from (deleting the data deletes the cache)."""
    return Path(data_root) / ".cache" / "features"


def _safe_name(model_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model_id) or "unnamed"


def feature_extractor_id(model: torch.nn.Module, architecture: str = "model") -> str:
    """Digest of the weights the features depend on: the segmentation model without any forecast decoder, so a
    checkpoint that only got a new forecast decoder (``swiftcast train --stage decoder``) reuses its cache."""
    from swiftcast.models.weights import weights_digest

    state = {k: v for k, v in model.state_dict().items() if not k.startswith("forecast_decoder.")}
    return f"{architecture}-features-{weights_digest(state)[:12]}"


def fingerprint(frames: Seq[Frame], input_size: Seq[int]) -> str:
    """Digest of the image files (relative name, size, mtime) and the input size the features are computed at."""
    h = hashlib.sha256(json.dumps(list(input_size)).encode())
    for f in frames:
        st = f.image_path.stat()
        h.update(f"{f.stem}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:32]


def _read_index(cache_dir: Path) -> dict:
    path = cache_dir / INDEX_FILE
    try:
        index = json.loads(path.read_text())
    except (OSError, ValueError):
        return {"format": CACHE_FORMAT, "models": {}}
    if not isinstance(index, dict) or index.get("format") != CACHE_FORMAT or not isinstance(index.get("models"), dict):
        return {"format": CACHE_FORMAT, "models": {}}
    return index


def _save_atomic(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, path)


def _cached_labels(entry: dict | None, path: Path, digest: str, size: tuple[int, int], keys: list[str]
                   ) -> dict[str, torch.Tensor] | None:
    """The cached single-frame labels when they are current (same images, input size and grid), else None."""
    info = (entry or {}).get("labels") or {}
    if info.get("fingerprint") != digest or info.get("size") != list(size) or not path.is_file():
        return None
    try:
        labels = load_file(path)
    except (SafetensorError, OSError, ValueError):
        return None  # damaged: recompute
    return labels if all(k in labels for k in keys) else None


def _write_json_atomic(path: Path, obj: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)


@torch.inference_mode()
def extract_sequence(
    segmenter, dataset: CityscapesDataset, frames: Seq[Frame], index: dict[str, int], batch_size: int = 8,
    labels_size: tuple[int, int] | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Features (T, C, h, w) float16 of one sequence's frames, preprocessed exactly as the runtime does; with
    ``labels_size`` also the single-frame labels (T, *labels_size) uint8 of the same backbone pass."""
    out, labels = [], []
    for start in range(0, len(frames), batch_size):
        batch = [segmenter.preprocess(dataset.load(index[f.stem])[0]) for f in frames[start : start + batch_size]]
        x = torch.cat(batch).to(segmenter.device)
        if labels_size is None:
            out.append(segmenter.model.features(x).to(torch.float16).cpu())
            continue
        logits, feats = segmenter.model.forward_with_features(x)
        out.append(feats.to(torch.float16).cpu())
        full = logits.contiguous(memory_format=torch.channels_last).argmax(1).to(torch.uint8).cpu().numpy()
        labels.append(torch.from_numpy(np.stack([fine_labels(lab, labels_size) for lab in full])))
    return torch.cat(out) if labels_size is None else (torch.cat(out), torch.cat(labels))


def fine_labels(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Single-frame labels (H, W) at any size -> the decoder's stride-4 grid ``size``: the pixel nearest each
    cell's centre (what F2MF warps; the forecast node makes the same from the published ``semseg/labels``)."""
    from swiftcast.data.transforms import labels_at_size

    return labels_at_size(np.ascontiguousarray(labels, np.uint8), size)


def labels_size_for(input_size: Seq[int]) -> tuple[int, int]:
    """The skip-less decoder's output grid (stride 4) for the model's input size."""
    from swiftcast.models.upsample import size_at_stride

    return size_at_stride((int(input_size[0]), int(input_size[1])), 4)


def load_segmenter(seg_model: str | os.PathLike[str], device: str = "cpu"):
    """The frozen feature extractor (a :class:`swiftcast.runtime.segmenter.Segmenter`, eval mode, no warm-up)."""
    from swiftcast.runtime.segmenter import Segmenter

    return Segmenter(seg_model, device=device, warmup=False)


def load_features(
    data_root: str | Path,
    split: str,
    segmenter,
    cache_dir: str | Path | None = None,
    batch_size: int = 8,
    progress: bool = True,
    min_frames: int = 1,
    with_labels: bool = False,
) -> FeatureSet:
    """Features of every sequence of ``split``: read from the cache when it is current, else extracted and cached.

    ``segmenter`` is what :func:`load_segmenter` returns. Sequences shorter than ``min_frames`` are skipped.
    ``with_labels``: also the single-frame labels at stride 4 (``SequenceFeatures.labels``; cached the same way).
    """
    dataset = CityscapesDataset(data_root, split, layout="leftImg8bit_sequence", require_labels=False)
    sequences: list[Sequence] = [s for s in dataset.sequences if len(s.frames) >= min_frames]
    if not sequences:
        raise DataError(f"no sequence of at least {min_frames} frames in {data_root} split {split!r}")
    frames = [f for s in sequences for f in s.frames]
    model_id = segmenter.model_id or "unnamed"
    cache_key = feature_extractor_id(segmenter.model, str(segmenter.config.get("architecture", "model")))
    digest = fingerprint(frames, segmenter.input_size)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir(data_root)
    cache_file = cache_dir / _safe_name(cache_key) / f"{split}.safetensors"
    keys = [s.key for s in sequences]

    cached = _read_index(cache_dir)["models"].get(cache_key, {}).get(split)
    tensors: dict[str, torch.Tensor] | None = None
    if cached and cached.get("fingerprint") == digest and cache_file.is_file():
        try:
            tensors = load_file(cache_file)
        except (SafetensorError, OSError, ValueError):
            tensors = None  # damaged cache: recompute
        if tensors is not None and any(k not in tensors for k in keys):
            tensors = None

    labels_file = cache_file.with_name(f"{split}.labels.safetensors")
    labels_size = labels_size_for(segmenter.input_size)
    labels: dict[str, torch.Tensor] | None = None
    if with_labels and tensors is not None:
        labels = _cached_labels(cached, labels_file, digest, labels_size, keys)

    if tensors is None or (with_labels and labels is None):
        index = {f.stem: i for i, f in enumerate(dataset.frames)}
        t0 = time.perf_counter()
        fresh: dict[str, torch.Tensor] = {}
        labels = {} if with_labels else None
        what = "features + labels" if with_labels else "features"
        bar = tqdm(sequences, desc=f"{what} {split}", unit="seq", disable=not progress)
        for s in bar:
            got = extract_sequence(segmenter, dataset, s.frames, index, batch_size,
                                   labels_size if with_labels else None)
            if with_labels:
                got, labels[s.key] = got
            fresh[s.key] = got.contiguous()
        meta = {"feature_extractor": cache_key, "split": split, "fingerprint": digest}
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        if tensors is None:
            tensors = fresh
            _save_atomic(tensors, cache_file, meta)
        if labels is not None:
            _save_atomic(labels, labels_file, meta)
        index_json = _read_index(cache_dir)  # re-read: another split may have been cached meanwhile
        entries = index_json["models"].setdefault(cache_key, {})
        first = next(iter(tensors.values()))
        if fresh is tensors or split not in entries:
            entries[split] = {
                "file": str(cache_file.relative_to(cache_dir)),
                "fingerprint": digest,
                "data_root": str(Path(data_root).resolve()),
                "input_size": list(segmenter.input_size),
                "feature_shape": list(first.shape[1:]),
                "dtype": "float16",
                "num_sequences": len(sequences),
                "num_frames": len(frames),
                "extract_seconds": round(time.perf_counter() - t0, 2),
            }
        if labels is not None:
            entries[split]["labels"] = {
                "file": str(labels_file.relative_to(cache_dir)), "fingerprint": digest, "size": list(labels_size),
                "dtype": "uint8", "what": "single-frame argmax at the input size, cell centres at stride 4"}
        _write_json_atomic(cache_dir / INDEX_FILE, index_json)

    seqs = [SequenceFeatures(s.key, list(s.frames), tensors[s.key], labels[s.key] if labels else None)
            for s in sequences]
    for s in seqs:
        if s.features.shape[0] != len(s.frames) or (s.labels is not None and s.labels.shape[0] != len(s.frames)):
            raise DataError(f"feature cache {cache_file} is inconsistent for {s.key}; delete {cache_dir}")
    return FeatureSet(split, model_id, tuple(segmenter.input_size), seqs, dataset, cache_file)
