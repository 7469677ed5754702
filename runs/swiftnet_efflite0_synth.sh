#!/usr/bin/env bash
# Reproduces models/swiftnet_efflite0_synth: SwiftNet on an ImageNet-initialised EfficientNet-Lite0, trained on the
# synthetic world with strong photometric augmentation, bf16 where the CPU has it. Resumable: run it again after
# an interruption and it continues where the last checkpoint left off.
set -euo pipefail
cd "$(dirname "$0")/.."
source .venv/bin/activate
RUN=${RUN:-runs/swiftnet_efflite0_synth}
if [ ! -d data/synth/gtFine/train ]; then
  swiftcast synth --out data/synth --split train --sequences 300 --seed 0 --workers 2
  swiftcast synth --out data/synth --split val --sequences 50 --seed 0 --workers 2
fi
CMD=(swiftcast train --data data/synth --model swiftnet_efflite0 --backbone-weights imagenet --out "$RUN"
     --size 256x512 --crop 256x256 --batch-size 8 --iters 4000 --frames every:2 --scale 0.5,2.0
     --augment strong --val-every 1000 --val-frames index:19 --save-every 100 --seed 0)
if [ -f "$RUN/train_state.pt" ]; then CMD+=(--resume); fi
export OMP_WAIT_POLICY=PASSIVE
exec "${CMD[@]}" "$@"
