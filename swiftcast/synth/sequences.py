"""Write synthetic sequences in the Cityscapes layout (``leftImg8bit_sequence/`` + ``gtFine/`` for every frame).

Determinism: sequence ``k`` of a split is drawn from ``SeedSequence([seed, split code, k])`` alone, so it is the
same whatever the number of sequences, the start index or the number of worker processes; PNGs are written with
fixed OpenCV parameters, and llvmpipe rasterises deterministically, so the same seed gives byte-identical files.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from swiftcast.data.labels import CLASS_NAMES, NUM_CLASSES, train_ids_to_label_ids
from swiftcast.errors import SwiftcastError

FRAMES_PER_SEQUENCE = 30
SPLIT_CODES = {"train": 1, "val": 2, "test": 3}
#: fake city names per split (Cityscapes groups sequences by city)
CITIES = {
    "train": ("synthberg", "synthdorf", "synthhausen", "synthfeld", "synthheim", "synthbruck"),
    "val": ("synthfurt", "synthstadt"),
    "test": ("synthburg",),
}
FORMAT = "swiftcast.synth/v1"


def _png_params() -> list[int]:
    """Fixed PNG settings (zlib level 1, run-length strategy: fast, and same pixels -> same bytes)."""
    import cv2

    return [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE]


def check_size(size: tuple[int, int]) -> tuple[int, int]:
    """The renderer's limits on (height, width) (parse "HxW" with ``swiftcast.data.transforms.parse_size``)."""
    h, w = (int(v) for v in size)
    if not (16 <= h <= 4096 and 16 <= w <= 4096):
        raise SwiftcastError(f"image size {h}x{w} is out of range: height and width must be between 16 and 4096")
    return h, w


def sequence_seed(seed: int, split: str, index: int) -> np.random.SeedSequence:
    """The seed of one sequence: independent of how many sequences are written or by which worker."""
    if split not in SPLIT_CODES:
        raise SwiftcastError(f"unknown split {split!r}; choose from {', '.join(SPLIT_CODES)}")
    return np.random.SeedSequence([int(seed) & 0xFFFFFFFF, SPLIT_CODES[split], int(index)])


def city_of(split: str, index: int) -> str:
    cities = CITIES[split]
    return cities[index % len(cities)]


def frame_stem(city: str, index: int, frame: int) -> str:
    return f"{city}_{index:06d}_{frame:06d}"


@dataclass(frozen=True)
class FramePaths:
    image: Path
    label_ids: Path
    train_ids: Path


def frame_paths(root: Path, split: str, index: int, frame: int) -> FramePaths:
    city = city_of(split, index)
    stem = frame_stem(city, index, frame)
    return FramePaths(
        image=root / "leftImg8bit_sequence" / split / city / f"{stem}_leftImg8bit.png",
        label_ids=root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png",
        train_ids=root / "gtFine" / split / city / f"{stem}_gtFine_labelTrainIds.png",
    )


def sequence_world(seed: int, split: str, index: int):
    """(world, noise generator) of one sequence; the world always covers the full 30 frames."""
    from swiftcast.synth.scene import generate_world
    from swiftcast.synth.world import FPS

    world_ss, noise_ss = sequence_seed(seed, split, index).spawn(2)
    world = generate_world(np.random.default_rng(world_ss), (FRAMES_PER_SEQUENCE - 1) / FPS)
    return world, np.random.default_rng(noise_ss)


def render_sequence(renderer, height: int, width: int, seed: int, split: str, index: int,
                    frames: int = FRAMES_PER_SEQUENCE) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield (frame, RGB uint8 (H, W, 3), trainIds uint8 (H, W)) for the first ``frames`` frames of a sequence
    (a prefix of the full 30-frame sequence)."""
    from swiftcast.synth.world import FPS, Intrinsics

    world, noise_rng = sequence_world(seed, split, index)
    intr = Intrinsics.for_size(height, width)
    for k in range(frames):
        t = k / FPS
        rgb, train_ids = world.render(renderer, t, intr)
        yield k, world.postprocess(rgb, t, noise_rng), train_ids


def write_sequence(renderer, root: Path, height: int, width: int, seed: int, split: str, index: int,
                   frames: int = FRAMES_PER_SEQUENCE) -> np.ndarray:
    """Render and write one sequence; returns its per-class pixel counts (256 bins of trainIds)."""
    import cv2

    params = _png_params()
    counts = np.zeros(256, dtype=np.int64)
    for k, rgb, train_ids in render_sequence(renderer, height, width, seed, split, index, frames):
        paths = frame_paths(root, split, index, k)
        paths.image.parent.mkdir(parents=True, exist_ok=True)
        paths.train_ids.parent.mkdir(parents=True, exist_ok=True)
        ok = cv2.imwrite(str(paths.image), rgb[:, :, ::-1], params)
        ok &= cv2.imwrite(str(paths.label_ids), train_ids_to_label_ids(train_ids), params)
        ok &= cv2.imwrite(str(paths.train_ids), train_ids, params)
        if not ok:
            raise SwiftcastError(f"could not write PNGs under {root} (disk full or not writable?)")
        counts += np.bincount(train_ids.ravel(), minlength=256)
    return counts


# --- worker processes: one GL context each -------------------------------------------------------------------------
_WORKER: dict = {}


def _worker_init(height: int, width: int, single_thread: bool) -> None:
    if single_thread:
        os.environ["LP_NUM_THREADS"] = "0"  # one llvmpipe thread per process: processes share the cores
    from swiftcast.synth.render import Renderer

    _WORKER["renderer"] = Renderer(height, width)


def _worker_task(job: tuple) -> tuple[int, np.ndarray]:
    root, height, width, seed, split, index, frames = job
    return index, write_sequence(_WORKER["renderer"], Path(root), height, width, seed, split, index, frames)


def generate_split(out: Path, split: str, sequences: int, seed: int, size: tuple[int, int], workers: int = 1,
                   frames: int = FRAMES_PER_SEQUENCE, start: int = 0, progress: bool = True) -> dict:
    """Write sequences ``start .. start + sequences - 1`` of a split; returns (and writes) a summary JSON."""
    from tqdm import tqdm

    if sequences < 1:
        raise SwiftcastError("--sequences must be at least 1")
    if not 1 <= frames <= FRAMES_PER_SEQUENCE:
        raise SwiftcastError(f"--frames must be between 1 and {FRAMES_PER_SEQUENCE}")
    if workers < 1:
        raise SwiftcastError("--workers must be at least 1")
    sequence_seed(seed, split, 0)  # validates the split
    height, width = size = check_size(size)
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".swiftcast_write_test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise SwiftcastError(f"cannot write to {out}: {exc.strerror or exc}") from None
    jobs = [(str(out), height, width, seed, split, k, frames) for k in range(start, start + sequences)]
    counts = np.zeros(256, dtype=np.int64)
    t0 = time.perf_counter()
    bar = tqdm(total=sequences * frames, unit="frame", desc=f"synth {split}", disable=not progress)
    try:
        if workers == 1:
            from swiftcast.synth.render import Renderer

            renderer = Renderer(height, width)
            for job in jobs:
                counts += _worker_task_with(renderer, job)
                bar.update(frames)
            renderer.release()
        else:
            ctx = mp.get_context("spawn")
            with ctx.Pool(workers, initializer=_worker_init, initargs=(height, width, True)) as pool:
                for _, c in pool.imap_unordered(_worker_task, jobs):
                    counts += c
                    bar.update(frames)
    finally:
        bar.close()
    elapsed = time.perf_counter() - t0
    summary = split_summary(split, seed, size, start, sequences, frames, counts)
    name = f"synth_{split}.json" if start == 0 else f"synth_{split}_{start:06d}.json"
    (out / name).write_text(json.dumps(summary, indent=2) + "\n")
    summary["wall_time_s"] = elapsed  # not written: keeps the file byte-identical for a seed
    return summary


def _worker_task_with(renderer, job: tuple) -> np.ndarray:
    root, height, width, seed, split, index, frames = job
    return write_sequence(renderer, Path(root), height, width, seed, split, index, frames)


def split_summary(split: str, seed: int, size: tuple[int, int], start: int, sequences: int, frames: int,
                  counts: np.ndarray) -> dict:
    """What was generated, with the camera intrinsics and class pixel frequencies (deterministic content only)."""
    from swiftcast.synth.world import FPS, Intrinsics

    intr = Intrinsics.for_size(*size)
    total = int(counts[:NUM_CLASSES].sum() + counts[255])
    return {
        "format": FORMAT,
        "split": split,
        "seed": int(seed),
        "size": [int(size[0]), int(size[1])],
        "first_sequence": int(start),
        "sequences": int(sequences),
        "frames_per_sequence": int(frames),
        "fps": FPS,
        "cities": list(CITIES[split]),
        "camera": {"fx": intr.fx, "fy": intr.fy, "cx": intr.cx, "cy": intr.cy},
        "class_pixel_fraction": {name: float(counts[i]) / max(total, 1) for i, name in enumerate(CLASS_NAMES)},
    }
