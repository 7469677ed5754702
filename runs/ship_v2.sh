#!/usr/bin/env bash
# Session 2: after runs/train_seg_v2.sh — skip-less decoder, eval + card, then the forecasters on the new features.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
S=.venv/bin/swiftcast
step=${1:-all}
res() { [ -f "$1/train_state.pt" ] && echo --resume || true; }
if [[ $step == all || $step == decoder ]]; then
  $S train --data data/synth_v2 --stage decoder --init runs/swiftnet_rn18_synth_v2 --out runs/swiftnet_rn18_synth_v2_dec \
     --size 256x512 --crop 256x256 --batch-size 8 --iters 120 --frames every:2 --scale 0.75,1.5 --lr 1e-3 \
     --val-frames index:19 --val-max-images 50 --save-every 20 --threads 2 --workers 1 --seed 0 $(res runs/swiftnet_rn18_synth_v2_dec)
fi
if [[ $step == all || $step == card ]]; then
  mkdir -p models/swiftnet_rn18_synth
  cp runs/swiftnet_rn18_synth_v2_dec/weights.safetensors runs/swiftnet_rn18_synth_v2_dec/config.json models/swiftnet_rn18_synth/
  EVAL="swiftcast eval --data data/synth_v2 --model models/swiftnet_rn18_synth --frames index:19 --json models/swiftnet_rn18_synth/eval_val.json"
  $S eval --data data/synth_v2 --model models/swiftnet_rn18_synth --frames index:19 --json models/swiftnet_rn18_synth/eval_val.json --threads 2
  $S model-card models/swiftnet_rn18_synth --eval models/swiftnet_rn18_synth/eval_val.json --eval-command "$EVAL"
fi
# forecasters: `forecast H METHOD` (one thread each; run several side by side once the train cache exists)
if [[ $step == forecast ]]; then
  H=$2; M=$3
  common=(--data data/forecast --seg-model models/swiftnet_rn18_synth --horizon $H --save-every 25 --threads 1 --seed 0 --no-val)
  case $M in
    conv_f2f)    $S train-forecast "${common[@]}" --method conv_f2f --batch-size 12 --iters 300 --lr 1e-3 --out runs/v2/conv_f2f_${H} $(res runs/v2/conv_f2f_${H}) ;;
    deform_f2f8) $S train-forecast "${common[@]}" --method deform_f2f8 --batch-size 12 --iters 300 --lr 1e-3 --out runs/v2/deform_f2f8_${H} $(res runs/v2/deform_f2f8_${H}) ;;
    deform_f2f8_ft) $S train-forecast "${common[@]}" --method deform_f2f8 --finetune --init runs/v2/deform_f2f8_${H} --batch-size 8 --iters 100 \
                      --out runs/v2/deform_f2f8_ft_${H} $(res runs/v2/deform_f2f8_ft_${H}) ;;
    deform_f2f8_2s) $S train-forecast "${common[@]}" --method deform_f2f8 --samples-per-sequence 2 --batch-size 12 --iters 300 --lr 1e-3 \
                      --out runs/v2/deform_f2f8_2s_${H} $(res runs/v2/deform_f2f8_2s_${H}) ;;
    deform_f2f8_ft_2s) $S train-forecast "${common[@]}" --method deform_f2f8 --samples-per-sequence 2 --finetune --init runs/v2/deform_f2f8_2s_${H} \
                      --batch-size 8 --iters 100 --out runs/v2/deform_f2f8_ft_2s_${H} $(res runs/v2/deform_f2f8_ft_2s_${H}) ;;
  esac
fi
