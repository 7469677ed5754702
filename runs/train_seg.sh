#!/usr/bin/env bash
# The shipped model's training command (resumable: rerun this script after an interruption).
set -u
cd "$(dirname "$0")/.."
CMD=(.venv/bin/swiftcast train --data data/synth_seg --model swiftnet_rn18 --out runs/swiftnet_rn18_synth
     --size 256x512 --crop 256x256 --batch-size 8 --iters 450 --frames every:2 --scale 0.75,1.5
     --lr 1e-3 --backbone-lr-ratio 1.0 --backbone-wd 1e-4 --val-every 225 --val-frames index:19 --val-max-images 50
     --save-every 25 --threads 2 --workers 1 --seed 0)
if [ -f runs/swiftnet_rn18_synth/train_state.pt ]; then CMD+=(--resume); fi
export OMP_WAIT_POLICY=PASSIVE  # spinning OpenMP threads crawl on a shared 2-core machine
exec "${CMD[@]}"
