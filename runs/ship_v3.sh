#!/usr/bin/env bash
# Session 3: ship the SwiftNet with the lite skip-less decoder (runs/train_lite_decoder.sh), then retrain the
# forecasters for it on data/synth_v2 (the current generator; 120 train sequences), score and card them.
#   runs/ship_v3.sh seg | forecast H METHOD | finish
# RUN_DIR, MSE_ITERS, FT_ITERS override where the forecasters go and how long they train (runs/ship_v4.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
S=.venv/bin/swiftcast
step=${1:-}
V=${RUN_DIR:-runs/v3}; MSE=${MSE_ITERS:-600}; FT=${FT_ITERS:-100}
res() { [ -f "$1/train_state.pt" ] && echo --resume || true; }
if [[ $step == seg ]]; then
  rm -rf models/swiftnet_rn18_synth.new && mkdir -p models/swiftnet_rn18_synth.new
  cp runs/swiftnet_rn18_synth_lite/weights.safetensors runs/swiftnet_rn18_synth_lite/config.json models/swiftnet_rn18_synth.new/
  rm -rf models/swiftnet_rn18_synth && mv models/swiftnet_rn18_synth.new models/swiftnet_rn18_synth
  EVAL="swiftcast eval --data data/synth_v2 --model models/swiftnet_rn18_synth --frames index:19 --json models/swiftnet_rn18_synth/eval_val.json"
  $S eval --data data/synth_v2 --model models/swiftnet_rn18_synth --frames index:19 --json models/swiftnet_rn18_synth/eval_val.json --threads 2
  $S model-card models/swiftnet_rn18_synth --eval models/swiftnet_rn18_synth/eval_val.json --eval-command "$EVAL"
fi
if [[ $step == forecast ]]; then
  H=$2; M=$3
  common=(--data data/synth_v2 --seg-model models/swiftnet_rn18_synth --horizon $H --save-every 25 --threads 1 --seed 0 --no-val)
  case $M in
    conv_f2f)    $S train-forecast "${common[@]}" --method conv_f2f --batch-size 12 --iters $MSE --lr 1e-3 --out $V/conv_f2f_${H} $(res $V/conv_f2f_${H}) ;;
    deform_f2f8) $S train-forecast "${common[@]}" --method deform_f2f8 --batch-size 12 --iters $MSE --lr 1e-3 --out $V/deform_f2f8_${H} $(res $V/deform_f2f8_${H}) ;;
    deform_f2f8_ft) $S train-forecast "${common[@]}" --method deform_f2f8 --finetune --init $V/deform_f2f8_${H} --batch-size 8 --iters $FT \
                      --out $V/deform_f2f8_ft_${H} $(res $V/deform_f2f8_ft_${H}) ;;
  esac
fi
if [[ $step == finish ]]; then
  rm -rf models/*_f2f*_synth
  for H in short mid; do
    for M in conv_f2f deform_f2f8 deform_f2f8_ft; do
      src=$V/${M}_${H}; dst=models/${M}_${H}_synth
      [ -f "$src/weights.safetensors" ] || continue
      mkdir -p "$dst"; cp "$src/weights.safetensors" "$src/config.json" "$dst/"
    done
  done
  EVAL="swiftcast eval-forecast --data data/synth_v2 --seg-model models/swiftnet_rn18_synth --json models/eval_forecast_val.json"
  $S eval-forecast --data data/synth_v2 --seg-model models/swiftnet_rn18_synth --json models/eval_forecast_val.json --threads 2 --quiet | tee runs/logs/eval_forecast_v3.txt
  for d in models/*_f2f*_synth; do
    $S model-card "$d" --eval models/eval_forecast_val.json --eval-command "$EVAL"
  done
fi
