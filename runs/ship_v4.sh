#!/usr/bin/env bash
# Session 3, second round: the forecasters of runs/ship_v3.sh trained longer (1500 MSE + 300 -FT iterations), into
# runs/v4; these are the shipped ones.
cd "$(dirname "$0")/.." && RUN_DIR=runs/v4 MSE_ITERS=1500 FT_ITERS=300 exec runs/ship_v3.sh "$@"
