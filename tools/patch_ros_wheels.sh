#!/usr/bin/env bash
# The ROS 2 wheels' CMake exports hard-code the wheel build host's Python and numpy include dirs; without this
# patch any workspace with custom messages fails to configure. Idempotent; run after every pip install of ros-*.
set -euo pipefail
VENV=${1:?usage: patch_ros_wheels.sh VENV}
PY="$VENV/bin/python"
PYINC=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
NPINC=$("$PY" -c 'import numpy; print(numpy.get_include())')
TAG=$("$PY" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
VER=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ ! -f "$PYINC/Python.h" ]; then
  echo "error: $PYINC/Python.h is missing; install the Python headers (Debian: apt-get install python3-dev)" >&2
  exit 1
fi
{ grep -rl "/opt/python/$TAG-$TAG" "$VENV/share" --include="*.cmake" 2>/dev/null || true; } | xargs -r sed -i \
  -e "s#/opt/python/$TAG-$TAG/lib/python$VER/site-packages/numpy/_core/include#$NPINC#g" \
  -e "s#/opt/python/$TAG-$TAG/include/python$VER#$PYINC#g"
