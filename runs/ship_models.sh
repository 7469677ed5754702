#!/usr/bin/env bash
# After runs/train_seg.sh: skip-less decoder stage, val eval, model card, then the forecasters.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
S=.venv/bin/swiftcast
step=${1:-all}
if [[ $step == all || $step == decoder ]]; then
  [ -f runs/swiftnet_rn18_synth_dec/train_state.pt ] && R=--resume || R=
  $S train --data data/synth_seg --stage decoder --init runs/swiftnet_rn18_synth --out runs/swiftnet_rn18_synth_dec \
     --size 256x512 --crop 256x256 --batch-size 8 --iters 120 --frames every:2 --scale 0.75,1.5 --lr 1e-3 \
     --val-frames index:19 --val-max-images 50 --save-every 20 --threads 2 --workers 1 --seed 0 $R
fi
if [[ $step == all || $step == card ]]; then
  mkdir -p models/swiftnet_rn18_synth
  cp runs/swiftnet_rn18_synth_dec/weights.safetensors runs/swiftnet_rn18_synth_dec/config.json models/swiftnet_rn18_synth/
  EVAL="swiftcast eval --data data/synth_v2 --model models/swiftnet_rn18_synth --frames index:19 --json models/swiftnet_rn18_synth/eval_val.json"
  $S eval --data data/synth_v2 --model models/swiftnet_rn18_synth --frames index:19 --json models/swiftnet_rn18_synth/eval_val.json
  $S model-card models/swiftnet_rn18_synth --eval models/swiftnet_rn18_synth/eval_val.json --eval-command "$EVAL"
fi
# forecasters, one horizon per call (run short and mid side by side, one thread each):
#   runs/ship_models.sh forecast short   /   runs/ship_models.sh forecast mid
if [[ $step == forecast ]]; then
  H=$2
  common=(--data data/forecast --seg-model models/swiftnet_rn18_synth --horizon $H --batch-size 12 --save-every 50
          --threads 1 --seed 0)
  for M in deform_f2f8 conv_f2f; do
    [ -f runs/${M}_${H}_synth/train_state.pt ] && R=--resume || R=
    $S train-forecast "${common[@]}" --method $M --out runs/${M}_${H}_synth --iters 600 --lr 1e-3 $R
  done
  [ -f runs/deform_f2f8_ft_${H}_synth/train_state.pt ] && R=--resume || R=
  $S train-forecast "${common[@]}" --method deform_f2f8 --finetune --init runs/deform_f2f8_${H}_synth \
     --out runs/deform_f2f8_ft_${H}_synth --iters 60 --save-every 10 $R
fi
