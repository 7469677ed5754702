# Source this file to use the ROS 2 workspace from a shell:  . tools/ros_env.sh
# (AMENT_PREFIX_PATH must name the venv *before* the workspace's setup script: the ROS wheels' packages live there.)
_SWIFTCAST_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)
export VIRTUAL_ENV="$_SWIFTCAST_ROOT/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"
export AMENT_PREFIX_PATH="$VIRTUAL_ENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export CMAKE_PREFIX_PATH="$VIRTUAL_ENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
if [ -f "$_SWIFTCAST_ROOT/ros2_ws/install/setup.sh" ]; then
  COLCON_CURRENT_PREFIX="$_SWIFTCAST_ROOT/ros2_ws/install" . "$_SWIFTCAST_ROOT/ros2_ws/install/setup.sh"
fi
# Fast DDS on loopback with big shared-memory segments, as `swiftcast stack` uses by default on one machine: with
# the default transports large best-effort camera frames are lost (see launch/dds/fastdds_loopback.xml).
# Set SWIFTCAST_DDS=system before sourcing to keep your own DDS settings (e.g. nodes on several machines).
if [ "${SWIFTCAST_DDS:-loopback}" = loopback ]; then
  export FASTDDS_DEFAULT_PROFILES_FILE="$_SWIFTCAST_ROOT/launch/dds/fastdds_loopback.xml"
  export ROS_AUTOMATIC_DISCOVERY_RANGE=SYSTEM_DEFAULT
fi
# torch shares 2 cores with the other node and the tests: spinning OpenMP workers crawl there (measured 2-4x).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"
unset _SWIFTCAST_ROOT
