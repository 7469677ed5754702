#!/usr/bin/env bash
set -u
cd "$(dirname "$0")/.."
while pgrep -f "runs/v2/deform_f2f8_ft_(short|mid) " >/dev/null; do sleep 10; done
for H in short mid; do
  (runs/ship_v2.sh forecast $H deform_f2f8_2s > runs/logs/v2_2s_$H.log 2>&1 && runs/ship_v2.sh forecast $H deform_f2f8_ft_2s > runs/logs/v2_ft_2s_$H.log 2>&1) &
done
wait
echo 2S DONE
