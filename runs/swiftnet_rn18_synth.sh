#!/usr/bin/env bash
# Reproduces models/swiftnet_rn18_synth: SwiftNet ResNet-18 from scratch on the synthetic world, in the stages its
# config.json records (each from the previous one's weights), then its lite skip-less decoder (64-32-16) for the
# forecast node; evaluates it and writes its model card. Resumable: run it again after an interruption.
# The card's two decoder-only runs at full width are left out: the lite decoder replaces what they trained. The
# first stage originally ran on 89 sequences of an earlier version of the synthetic world, so a rerun lands close
# to the shipped weights, not on them. Extra arguments are passed to every `swiftcast train`.
set -euo pipefail
cd "$(dirname "$0")/.."
source .venv/bin/activate
export OMP_WAIT_POLICY=PASSIVE  # spinning OpenMP threads crawl on a small shared CPU
DATA=${DATA:-data/synth}
RUN=${RUN:-runs/swiftnet_rn18_synth}
OUT=${OUT:-models/swiftnet_rn18_synth}
if [ ! -d "$DATA/gtFine/train" ]; then
  swiftcast synth --out "$DATA" --split train --sequences 300 --seed 0 --workers 2
  swiftcast synth --out "$DATA" --split val --sequences 50 --seed 0 --workers 2
fi
COMMON=(--data "$DATA" --size 256x512 --crop 256x256 --batch-size 8 --frames every:2 --scale 0.75,1.5 --lr 1e-3
        --val-frames index:19 --val-max-images 50 --save-every 25 --threads 2 --workers 1)
FULL=(--model swiftnet_rn18 --backbone-lr-ratio 1.0 --backbone-wd 1e-4)
# train OUT_DIR ARGS...: one stage, resumed if its training state is there, skipped once it has finished
train() {
  local out=$1; shift
  [ -f "$out/.done" ] && return 0
  local resume=(); [ -f "$out/train_state.pt" ] && resume=(--resume)
  swiftcast train "${COMMON[@]}" --out "$out" "$@" "${resume[@]}" "${EXTRA[@]}"
  touch "$out/.done"
}
EXTRA=("$@")
train "$RUN/1_scratch" "${FULL[@]}" --iters 450 --stop-at 425 --val-every 225 --seed 0
train "$RUN/2_warm" "${FULL[@]}" --init "$RUN/1_scratch" --iters 700 --stop-at 75 --val-every 350 --seed 1
train "$RUN/3_cosine" "${FULL[@]}" --init "$RUN/2_warm" --iters 400 --val-every 200 --seed 1
train "$RUN/4_lite_decoder" --stage decoder --init "$RUN/3_cosine" --decoder-widths 64,32,16 --iters 1200 --save-every 50 --seed 0

mkdir -p "$OUT"
cp "$RUN/4_lite_decoder/weights.safetensors" "$RUN/4_lite_decoder/config.json" "$OUT/"
EVAL=(swiftcast eval --data "$DATA" --model "$OUT" --frames index:19 --json "$OUT/eval_val.json")
"${EVAL[@]}" --threads 2
swiftcast model-card "$OUT" --eval "$OUT/eval_val.json" --eval-command "${EVAL[*]}" --reproduce runs/swiftnet_rn18_synth.sh
