"""Overlays of a segmentation checkpoint on the real outdoor photos scikit-image ships (cameraman, rocket launch,
astronaut), side by side in one JPEG for its model card, and the share of the pixels given to each class.

    python runs/real_photos.py CHECKPOINT OUT.jpg

The synthetic world has no real footage with ground truth, so this is a look, not a score: which classes transfer
from the synthetic world to real cameras and which do not.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from skimage import data

from swiftcast.data.labels import CLASS_NAMES

PHOTOS = ("camera", "rocket", "astronaut")
HEIGHT = 256


def main(checkpoint: str, out: str) -> int:
    with tempfile.TemporaryDirectory(prefix="swiftcast-real-photos-") as tmp:
        photos, results = Path(tmp, "photos"), Path(tmp, "out")
        photos.mkdir()
        for name in PHOTOS:
            image = getattr(data, name)()
            code = cv2.COLOR_GRAY2BGR if image.ndim == 2 else cv2.COLOR_RGB2BGR
            cv2.imwrite(str(photos / f"{name}.png"), cv2.cvtColor(image, code))
        subprocess.run([sys.executable, "-m", "swiftcast.cli", "segment", str(photos), "--out", str(results),
                        "--checkpoint", checkpoint], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        tiles = []
        for name in PHOTOS:
            overlay = cv2.imread(str(results / f"{name}_overlay.png"))
            tiles.append(cv2.resize(overlay, (round(overlay.shape[1] * HEIGHT / overlay.shape[0]), HEIGHT),
                                    interpolation=cv2.INTER_AREA))
            labels = cv2.imread(str(results / f"{name}_labels.png"), cv2.IMREAD_UNCHANGED)
            counts = np.bincount(labels.ravel(), minlength=256)[: len(CLASS_NAMES)] / labels.size
            top = ", ".join(f"{CLASS_NAMES[c]} {100 * counts[c]:.0f} %" for c in np.argsort(counts)[::-1][:4])
            print(f"{name}: {top}")
    cv2.imwrite(out, np.concatenate(tiles, axis=1), [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[1].strip())
    sys.exit(main(*sys.argv[1:]))
