#!/usr/bin/env bash
# Session 3: the lite skip-less decoder (64,32,16) for the forecast node's cost goal, on the shipped SwiftNet.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
OUT=runs/swiftnet_rn18_synth_lite
res() { [ -f "$1/train_state.pt" ] && echo --resume || true; }
.venv/bin/swiftcast train --data data/synth_v2 --stage decoder --init models/swiftnet_rn18_synth --decoder-widths 64,32,16 \
  --out $OUT --size 256x512 --crop 256x256 --batch-size 8 --iters 1200 --frames every:2 --scale 0.75,1.5 --lr 1e-3 \
  --val-frames index:19 --val-max-images 50 --save-every 50 --threads 2 --workers 1 --seed 0 $(res $OUT)
