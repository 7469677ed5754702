#!/usr/bin/env bash
set -u
cd "$(dirname "$0")/.."
while pgrep -f "train_lite_decoder.sh" >/dev/null || pgrep -f "cachefeat.py" >/dev/null; do sleep 10; done
runs/ship_v3.sh seg > runs/logs/v3_seg.log 2>&1 || exit 1
(runs/ship_v3.sh forecast short deform_f2f8 > runs/logs/v3_deform_short.log 2>&1 && runs/ship_v3.sh forecast short deform_f2f8_ft > runs/logs/v3_ft_short.log 2>&1; runs/ship_v3.sh forecast short conv_f2f > runs/logs/v3_conv_short.log 2>&1) &
(runs/ship_v3.sh forecast mid deform_f2f8 > runs/logs/v3_deform_mid.log 2>&1 && runs/ship_v3.sh forecast mid deform_f2f8_ft > runs/logs/v3_ft_mid.log 2>&1; runs/ship_v3.sh forecast mid conv_f2f > runs/logs/v3_conv_mid.log 2>&1) &
wait
runs/ship_v3.sh finish > runs/logs/v3_finish.log 2>&1
echo PIPELINE DONE
