#!/usr/bin/env bash
# Reproduces the shipped forecasters on models/swiftnet_rn18_synth's features, for both horizons (short = t+3, mid =
# t+9 frames): ConvF2F and DeformF2F-8 (1500 MSE iterations each) and DeformF2F-8-FT (300 iterations of
# cross-entropy through the frozen skip-less decoder, from DeformF2F-8). Then scores them all with the protocol of
# Šarić et al. (GCPR 2019) and writes their model cards. Resumable: run it again after an interruption.
# The shipped ones trained on 120 train sequences; extra arguments are passed to every `swiftcast train-forecast`.
set -euo pipefail
cd "$(dirname "$0")/.."
source .venv/bin/activate
export OMP_WAIT_POLICY=PASSIVE
DATA=${DATA:-data/synth}
SEG=${SEG:-models/swiftnet_rn18_synth}
RUN=${RUN:-runs/forecasters_rn18_synth}
if [ ! -d "$DATA/gtFine/train" ]; then
  swiftcast synth --out "$DATA" --split train --sequences 300 --seed 0 --workers 2
  swiftcast synth --out "$DATA" --split val --sequences 50 --seed 0 --workers 2
fi
EXTRA=("$@")
# train OUT_DIR ARGS...: one forecaster, resumed if its training state is there, skipped once it has finished
train() {
  local out=$1; shift
  [ -f "$out/.done" ] && return 0
  local resume=(); [ -f "$out/train_state.pt" ] && resume=(--resume)
  swiftcast train-forecast --data "$DATA" --seg-model "$SEG" --save-every 25 --threads 1 --seed 0 --no-val \
    --out "$out" "$@" "${resume[@]}" "${EXTRA[@]}"
  touch "$out/.done"
}
for H in short mid; do
  train "$RUN/conv_f2f_$H" --horizon $H --method conv_f2f --batch-size 12 --iters 1500 --lr 1e-3
  train "$RUN/deform_f2f8_$H" --horizon $H --method deform_f2f8 --batch-size 12 --iters 1500 --lr 1e-3
  train "$RUN/deform_f2f8_ft_$H" --horizon $H --method deform_f2f8 --finetune --init "$RUN/deform_f2f8_$H" \
    --batch-size 8 --iters 300
done

for H in short mid; do
  for M in conv_f2f deform_f2f8 deform_f2f8_ft; do
    mkdir -p "models/${M}_${H}_synth"
    cp "$RUN/${M}_$H/weights.safetensors" "$RUN/${M}_$H/config.json" "models/${M}_${H}_synth/"
  done
done
EVAL=(swiftcast eval-forecast --data "$DATA" --seg-model "$SEG" --json models/eval_forecast_val.json)
"${EVAL[@]}" --threads 2
for d in models/{conv_f2f,deform_f2f8,deform_f2f8_ft}_{short,mid}_synth; do
  swiftcast model-card "$d" --eval models/eval_forecast_val.json --eval-command "${EVAL[*]}" \
    --reproduce runs/forecasters_rn18_synth.sh
done
