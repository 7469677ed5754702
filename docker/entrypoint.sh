#!/usr/bin/env bash
# Container entrypoint. With no arguments, or only launch arguments (name:=value), it starts the perception stack:
#
#   ros2 launch launch/perception.launch.py params_file:=$SWIFTCAST_PARAMS use_rviz:=false [name:=value ...]
#
# (later name:=value win, e.g. camera_topic:=/front/image_raw params_file:=params/jetson.yaml). Any other command
# runs in the same ROS environment: `docker compose run perception bash`, `... ros2 bag play /bags/drive`.
set -eo pipefail
# shellcheck disable=SC1091
source /opt/swiftcast/docker/ros_setup.sh
if [ $# -eq 0 ] || [[ "$1" == *:=* ]]; then
  exec ros2 launch /opt/swiftcast/launch/perception.launch.py "params_file:=${SWIFTCAST_PARAMS}" use_rviz:=false "$@"
fi
exec "$@"
