#!/usr/bin/env bash
# Trains the refiner of flow extrapolation for models/swiftnet_efflite0_synth on the 600 train sequences of world
# seed 0 (data/synth), scores it with the forecasting protocol of Šarić et al. (GCPR 2019) on the val splits of
# world seeds 1-3 (never used for training) and writes its model card. Resumable: run it again after an
# interruption.
set -euo pipefail
cd "$(dirname "$0")/.."
source .venv/bin/activate
SEG=${SEG:-models/swiftnet_efflite0_synth}
OUT=runs/flow_refiner_efflite0_synth
[ -d data/synth/gtFine/train ] || swiftcast synth --out data/synth --split train --sequences 600 --seed 0 --workers 2
[ -d data/synth/gtFine/val ] || swiftcast synth --out data/synth --split val --sequences 50 --seed 0 --workers 2
for s in 1 2 3; do
  [ -d data/synth_val$s/gtFine/val ] || swiftcast synth --out data/synth_val$s --split val --sequences 50 --seed $s --workers 2
done
resume=(); [ -f "$OUT/train_state.pt" ] && resume=(--resume)
[ -f "$OUT/.done" ] || { swiftcast train-flow-refiner --data data/synth --seg-model "$SEG" --out "$OUT" --iters 2000 \
  --batch-size 8 --val-every 500 --threads 2 "${resume[@]}" && touch "$OUT/.done"; }
mkdir -p models/flow_refiner_efflite0_synth
cp "$OUT/weights.safetensors" "$OUT/config.json" models/flow_refiner_efflite0_synth/
for s in 1 2 3; do
  swiftcast eval-forecast --data data/synth_val$s --seg-model "$SEG" --threads 2 --quiet \
    --json runs/flow_refiner_efflite0_synth_val$s.json
done
swiftcast model-card models/flow_refiner_efflite0_synth --eval runs/flow_refiner_efflite0_synth_val1.json \
  --eval-command "swiftcast eval-forecast --data data/synth_val1 --seg-model $SEG"
