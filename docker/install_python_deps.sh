#!/usr/bin/env bash
# Install SwiftCast's Python dependencies into an image's system Python (the one ROS 2 runs the nodes with):
# torch + torchvision from TORCH_INDEX_URL (CPU wheels on x86, JetPack wheels on a Jetson), everything else from
# pyproject.toml at the versions pinned in requirements.lock. ROS itself comes from the base image, so the lock's
# ROS/colcon wheels and the CUDA wheels of the PyPI torch build are left out.
#
#   docker/install_python_deps.sh [--no-lock] [--skip NAME]... TORCH_INDEX_URL TORCH_SPEC TORCHVISION_SPEC
#
# --no-lock: pyproject's ranges only (the lock is resolved for Python 3.11+: e.g. its numpy has no 3.10 wheels,
#            and JetPack 6 ships Python 3.10); --skip NAME: leave out a dependency the image does not need.
set -euo pipefail
use_lock=1
skip=(torch torchvision)  # installed first, from the right index
while [ $# -gt 0 ]; do
  case $1 in
    --no-lock) use_lock=0; shift ;;
    --skip) skip+=("$2"); shift 2 ;;
    *) break ;;
  esac
done
if [ $# -ne 3 ]; then
  echo "usage: $0 [--no-lock] [--skip NAME]... TORCH_INDEX_URL TORCH_SPEC TORCHVISION_SPEC" >&2
  exit 2
fi
index=$1 torch=$2 vision=$3
root=$(cd "$(dirname "$0")/.." && pwd)

python3 -m pip install --index-url "$index" "$torch" "$vision"

# the core package's dependencies (pyproject.toml) minus the skipped ones; a regex, not tomllib (Python 3.10)
mapfile -t deps < <(python3 - "$root/pyproject.toml" "${skip[@]}" <<'PY'
import re
import sys

text = open(sys.argv[1], encoding="utf-8").read()
skip = {name.lower() for name in sys.argv[2:]}
block = re.search(r"^dependencies = \[(.*?)^\]", text, re.S | re.M).group(1)
for dep in re.findall(r'"([^"]+)"', block):
    if re.match(r"[A-Za-z0-9_.-]+", dep).group(0).lower() not in skip:
        print(dep)
PY
)
constraints=()
if [ "$use_lock" = 1 ]; then
  grep -v -E '^(torch|torchvision|triton|nvidia-|cuda-|ros-|colcon|catkin)' "$root/requirements.lock" > /tmp/constraints.txt
  constraints=(-c /tmp/constraints.txt)
fi
python3 -m pip install "${constraints[@]}" "${deps[@]}"
rm -f /tmp/constraints.txt
