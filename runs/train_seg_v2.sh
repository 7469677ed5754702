#!/usr/bin/env bash
# Session-2 continuation of the shipped model: 75 iterations of the 700-iteration run from models/swiftnet_rn18_synth (lr 1e-3, saved as runs/seg_v2_init), then this 400-iteration cosine run; 300 train sequences of the current generator.
set -u
cd "$(dirname "$0")/.."
CMD=(.venv/bin/swiftcast train --data data/synth_v2 --model swiftnet_rn18 --init runs/seg_v2_init
     --out runs/swiftnet_rn18_synth_v2
     --size 256x512 --crop 256x256 --batch-size 8 --iters 400 --frames every:2 --scale 0.75,1.5
     --lr 1e-3 --backbone-lr-ratio 1.0 --backbone-wd 1e-4 --val-every 200 --val-frames index:19 --val-max-images 50
     --save-every 25 --threads 2 --workers 1 --seed 1)
if [ -f runs/swiftnet_rn18_synth_v2/train_state.pt ]; then CMD+=(--resume); fi
export OMP_WAIT_POLICY=PASSIVE
exec "${CMD[@]}"
