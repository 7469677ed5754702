#!/usr/bin/env bash
# Install SwiftCast's Python dependencies into an image's system Python (the one ROS 2 runs the nodes with):
# torch + torchvision from TORCH_INDEX_URL (CPU wheels on x86, JetPack wheels on a Jetson), everything else at the
# versions pinned in requirements.lock. ROS itself comes from the base image, so the lock's ROS/colcon wheels and
# the CUDA wheels of the PyPI torch build are left out.
#
#   docker/install_python_deps.sh TORCH_INDEX_URL TORCH_SPEC TORCHVISION_SPEC
set -euo pipefail
if [ $# -ne 3 ]; then
  echo "usage: $0 TORCH_INDEX_URL TORCH_SPEC TORCHVISION_SPEC" >&2
  exit 2
fi
index=$1 torch=$2 vision=$3
root=$(cd "$(dirname "$0")/.." && pwd)

python3 -m pip install --index-url "$index" "$torch" "$vision"

constraints=$(mktemp)
grep -v -E '^(torch|torchvision|triton|nvidia-|cuda-|ros-|colcon|catkin)' "$root/requirements.lock" > "$constraints"
# the core package's dependencies (pyproject.toml), without torch/torchvision (installed above from the right index);
# a regex, not tomllib: JetPack 6 has Python 3.10
mapfile -t deps < <(python3 - "$root/pyproject.toml" <<'PY'
import re
import sys

text = open(sys.argv[1], encoding="utf-8").read()
block = re.search(r"^dependencies = \[(.*?)^\]", text, re.S | re.M).group(1)
for dep in re.findall(r'"([^"]+)"', block):
    if not re.match(r"(torch|torchvision)\b", dep):
        print(dep)
PY
)
python3 -m pip install -c "$constraints" "${deps[@]}"
rm -f "$constraints"
