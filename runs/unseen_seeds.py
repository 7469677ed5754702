"""A model card section: single-frame mIoU on the val splits of several world seeds never used for training.

    python runs/unseen_seeds.py EVAL_SEED1.json EVAL_SEED2.json ... > section.md

Each argument is a ``swiftcast eval --json`` result; the world seed is read from the name of its data folder
(``synth_val<seed>``). One val split is 50 sequences; the spread over seeds says how much a single split's score
can be trusted.
"""

from __future__ import annotations

import json
import re
import statistics
import sys


def main(paths: list[str]) -> int:
    rows = []
    for path in paths:
        result = json.loads(open(path).read())
        root = str(result.get("data", {}).get("root", path))
        seed = re.search(r"synth_val(\d+)", root)
        rows.append((seed.group(1) if seed else root, 100 * result["miou"], 100 * result["miou_mo"]))
    print("## Other unseen world seeds\n")
    print("The val splits (frame 20 of 50 sequences each) of world seeds the model never saw in training:\n")
    print("| world seed | mIoU | mIoU-MO |\n| --- | ---: | ---: |")
    for seed, miou, mo in rows:
        print(f"| {seed} | {miou:.1f} | {mo:.1f} |")
    mious, mos = [r[1] for r in rows], [r[2] for r in rows]
    print(f"| mean ± std | {statistics.mean(mious):.1f} ± {statistics.pstdev(mious):.1f} | "
          f"{statistics.mean(mos):.1f} ± {statistics.pstdev(mos):.1f} |")
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__.split("\n\n")[1].strip())
    sys.exit(main(sys.argv[1:]))
