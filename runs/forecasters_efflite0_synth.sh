#!/usr/bin/env bash
# Trains the learned forecasters for models/swiftnet_efflite0_synth (the shipped F2MF ones among them), both
# horizons (short = t+3, mid = t+9 frames at 17 Hz): F2MF (Šarić et al., CVPR 2020; feature MSE, then -FT on the
# warped single-frame labels), DeformF2F-8 and its -FT (through the frozen decoder, and with the decoder tuned
# together with it: --tune-decoder), and ConvF2F (Šarić et al., GCPR 2019). The two horizons
# train side by side, one thread each. Then scores them all with the protocol of Šarić et al. (GCPR 2019) on the
# val split of a world seed never used for training, and writes their model cards. Resumable: run it again after
# an interruption.
set -euo pipefail
cd "$(dirname "$0")/.."
source .venv/bin/activate
export OMP_WAIT_POLICY=PASSIVE
DATA=${DATA:-data/forecast}      # 120 train sequences of the world seed 0 (data/synth) and its val split
VAL=${VAL:-data/synth_val1}      # 50 val sequences of world seed 1
SEG=${SEG:-models/swiftnet_efflite0_synth}
RUN=${RUN:-runs/forecasters_efflite0_synth}
F2MF_MSE=${F2MF_MSE_ITERS:-1000}; F2MF_FT=${F2MF_FT_ITERS:-300}  # F2MF trains fast: 6-12 iterations/s
MSE=${MSE_ITERS:-1500}; FT=${FT_ITERS:-300}                       # DeformF2F-8 and ConvF2F
TAG=efflite0_synth
if [ ! -d "$DATA/gtFine/train" ]; then
  swiftcast synth --out data/synth --split train --sequences 120 --seed 0 --workers 2
  swiftcast synth --out data/synth --split val --sequences 50 --seed 0 --workers 2
  DATA=data/synth
fi
[ -d "$VAL/gtFine/val" ] || swiftcast synth --out "$VAL" --split val --sequences 50 --seed 1 --workers 2
# train OUT_DIR ARGS...: one forecaster, resumed if its training state is there, skipped once it has finished
train() {
  local out=$1; shift
  [ -f "$out/.done" ] && return 0
  local resume=(); [ -f "$out/train_state.pt" ] && resume=(--resume)
  swiftcast train-forecast --data "$DATA" --seg-model "$SEG" --save-every 100 --threads 1 --seed 0 --no-val \
    --out "$out" "$@" "${resume[@]}"
  touch "$out/.done"
}
f2mf() {
  local H=$1
  train "$RUN/f2mf_$H" --horizon $H --method f2mf --batch-size 12 --iters $F2MF_MSE --lr 1e-3
  train "$RUN/f2mf_ft_$H" --horizon $H --method f2mf --finetune --init "$RUN/f2mf_$H" --batch-size 8 --iters $F2MF_FT
}
f2f() {
  local H=$1
  train "$RUN/deform_f2f8_$H" --horizon $H --method deform_f2f8 --batch-size 12 --iters $MSE --lr 1e-3
  train "$RUN/deform_f2f8_ft_$H" --horizon $H --method deform_f2f8 --finetune --init "$RUN/deform_f2f8_$H" \
    --batch-size 8 --iters $FT
  train "$RUN/deform_f2f8_ftdec_$H" --horizon $H --method deform_f2f8 --finetune --tune-decoder \
    --init "$RUN/deform_f2f8_$H" --batch-size 8 --iters $FT
  train "$RUN/conv_f2f_$H" --horizon $H --method conv_f2f --batch-size 12 --iters $MSE --lr 1e-3
}
mkdir -p "$RUN"
# F2MF's short horizon first: it caches the features and single-frame labels every other run then reads
f2mf short > "$RUN.short.log" 2>&1
( f2mf mid; f2f mid ) > "$RUN.mid.log" 2>&1 &
f2f short >> "$RUN.short.log" 2>&1
wait

for H in short mid; do
  for M in f2mf f2mf_ft deform_f2f8 deform_f2f8_ft deform_f2f8_ftdec conv_f2f; do
    mkdir -p "models/${M}_${H}_$TAG"
    cp "$RUN/${M}_$H"/*.safetensors "$RUN/${M}_$H/config.json" "models/${M}_${H}_$TAG/"
  done
done
EVAL=(swiftcast eval-forecast --data "$VAL" --seg-model "$SEG" --json models/eval_forecast_$TAG.json)
"${EVAL[@]}" --threads 2
for d in models/*_{short,mid}_$TAG; do
  swiftcast model-card "$d" --eval models/eval_forecast_$TAG.json --eval-command "${EVAL[*]}" \
    --reproduce runs/forecasters_efflite0_synth.sh
done
