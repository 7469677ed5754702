#!/usr/bin/env bash
# Copy the session-2 forecasters into models/, score them with the seed's protocol, write their cards.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
S=.venv/bin/swiftcast
for H in short mid; do
  for pair in "conv_f2f_${H}:conv_f2f_${H}_synth" "deform_f2f8_${H}:deform_f2f8_${H}_synth" "deform_f2f8_ft_${H}:deform_f2f8_ft_${H}_synth"; do
    src=runs/v2/${pair%%:*}; dst=models/${pair##*:}
    rm -rf "$dst"; mkdir -p "$dst"; cp "$src/weights.safetensors" "$src/config.json" "$dst/"
  done
  # the seed's last row: -FT of the "2 samples per sequence" model (runs/ship_v2.sh forecast H deform_f2f8_2s / _ft_2s)
  if [ -f runs/v2/deform_f2f8_ft_2s_${H}/weights.safetensors ]; then
    dst=models/deform_f2f8_ft_2s_${H}_synth; rm -rf "$dst"; mkdir -p "$dst"
    cp runs/v2/deform_f2f8_ft_2s_${H}/weights.safetensors runs/v2/deform_f2f8_ft_2s_${H}/config.json "$dst/"
  fi
done
EVAL="swiftcast eval-forecast --data data/forecast --seg-model models/swiftnet_rn18_synth --json models/eval_forecast_val.json"
$S eval-forecast --data data/forecast --seg-model models/swiftnet_rn18_synth --json models/eval_forecast_val.json --threads 2 --quiet | tee runs/logs/eval_forecast_v2.txt
for d in models/*_f2f*_synth; do
  $S model-card "$d" --eval models/eval_forecast_val.json --eval-command "$EVAL"
done
