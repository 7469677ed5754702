#!/usr/bin/env bash
set -u
cd "$(dirname "$0")/.."
(nice -n 5 runs/ship_v4.sh forecast short deform_f2f8 > runs/logs/v4_deform_short.log 2>&1 && nice -n 5 runs/ship_v4.sh forecast short deform_f2f8_ft > runs/logs/v4_ft_short.log 2>&1; nice -n 5 runs/ship_v4.sh forecast short conv_f2f > runs/logs/v4_conv_short.log 2>&1) &
(nice -n 5 runs/ship_v4.sh forecast mid deform_f2f8 > runs/logs/v4_deform_mid.log 2>&1 && nice -n 5 runs/ship_v4.sh forecast mid deform_f2f8_ft > runs/logs/v4_ft_mid.log 2>&1; nice -n 5 runs/ship_v4.sh forecast mid conv_f2f > runs/logs/v4_conv_mid.log 2>&1) &
wait
echo TRAINING DONE
