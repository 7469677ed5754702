"""Cityscapes label definitions, taken from cityscapesScripts (never a hand-typed copy).

Everything in SwiftCast speaks *trainIds* (0..18, ignore = 255) internally; files on disk follow the Cityscapes
conventions (``*_labelIds.png`` with the 34 full ids, ``*_labelTrainIds.png`` with trainIds).
"""

from __future__ import annotations

import numpy as np
from cityscapesscripts.helpers.labels import Label, labels as _CITYSCAPES_LABELS

IGNORE_ID: int = 255
NUM_CLASSES: int = 19

#: The 19 evaluated classes in trainId order.
TRAIN_LABELS: tuple[Label, ...] = tuple(
    sorted((lab for lab in _CITYSCAPES_LABELS if 0 <= lab.trainId < NUM_CLASSES), key=lambda lab: lab.trainId)
)
CLASS_NAMES: tuple[str, ...] = tuple(lab.name for lab in TRAIN_LABELS)
#: RGB colours of the 19 classes (cityscapesScripts' palette).
CLASS_COLORS_RGB: np.ndarray = np.array([lab.color for lab in TRAIN_LABELS], dtype=np.uint8)
#: trainIds of the moving objects scored by mIoU-MO: person, rider, car, truck, bus, train, motorcycle, bicycle.
MOVING_TRAIN_IDS: tuple[int, ...] = tuple(range(11, 19))


def _build_luts() -> tuple[np.ndarray, np.ndarray]:
    label_to_train = np.full(256, IGNORE_ID, dtype=np.uint8)
    train_to_label = np.zeros(256, dtype=np.uint8)  # ignore -> 0 ("unlabeled")
    for lab in _CITYSCAPES_LABELS:
        if lab.id >= 0:
            label_to_train[lab.id] = lab.trainId if 0 <= lab.trainId < NUM_CLASSES else IGNORE_ID
    for lab in TRAIN_LABELS:
        train_to_label[lab.trainId] = lab.id
    return label_to_train, train_to_label


LABEL_ID_TO_TRAIN_ID, TRAIN_ID_TO_LABEL_ID = _build_luts()


def label_ids_to_train_ids(label_ids: np.ndarray) -> np.ndarray:
    """Map a Cityscapes ``labelIds`` image (uint8) to trainIds (ignore = 255)."""
    return LABEL_ID_TO_TRAIN_ID[np.asarray(label_ids, dtype=np.uint8)]


def train_ids_to_label_ids(train_ids: np.ndarray) -> np.ndarray:
    """Map a trainId image to Cityscapes ``labelIds`` (what the official evaluator reads)."""
    return TRAIN_ID_TO_LABEL_ID[np.asarray(train_ids, dtype=np.uint8)]


def train_id_palette_bgr() -> np.ndarray:
    """A 256x3 BGR lookup table (OpenCV order) for colouring trainId maps; ignore and unknown ids are black."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    palette[:NUM_CLASSES] = CLASS_COLORS_RGB[:, ::-1]
    return palette


def colorize_train_ids(train_ids: np.ndarray) -> np.ndarray:
    """Colour a trainId map (H, W) into a BGR image (H, W, 3)."""
    return train_id_palette_bgr()[np.asarray(train_ids, dtype=np.uint8)]
