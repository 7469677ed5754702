#!/usr/bin/env bash
set -u
cd "$(dirname "$0")/.."
while pgrep -f "out runs/swiftnet_rn18_synth_v2 " >/dev/null; do sleep 10; done
runs/ship_v2.sh decoder > runs/logs/v2_decoder.log 2>&1 || exit 1
runs/ship_v2.sh card > runs/logs/v2_card.log 2>&1 || exit 1
runs/ship_v2.sh forecast short conv_f2f > runs/logs/v2_conv_short.log 2>&1 || exit 1
(runs/ship_v2.sh forecast short deform_f2f8 > runs/logs/v2_deform_short.log 2>&1 && runs/ship_v2.sh forecast short deform_f2f8_ft > runs/logs/v2_ft_short.log 2>&1) &
(runs/ship_v2.sh forecast mid deform_f2f8 > runs/logs/v2_deform_mid.log 2>&1 && runs/ship_v2.sh forecast mid deform_f2f8_ft > runs/logs/v2_ft_mid.log 2>&1) &
runs/ship_v2.sh forecast mid conv_f2f > runs/logs/v2_conv_mid.log 2>&1
wait
echo PIPELINE DONE
