# Source this file to use the ROS 2 workspace from a shell:  . tools/ros_env.sh
# (AMENT_PREFIX_PATH must name the venv *before* the workspace's setup script, see ../shared/notes.)
_SWIFTCAST_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)
export VIRTUAL_ENV="$_SWIFTCAST_ROOT/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"
export AMENT_PREFIX_PATH="$VIRTUAL_ENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export CMAKE_PREFIX_PATH="$VIRTUAL_ENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
if [ -f "$_SWIFTCAST_ROOT/ros2_ws/install/setup.sh" ]; then
  COLCON_CURRENT_PREFIX="$_SWIFTCAST_ROOT/ros2_ws/install" . "$_SWIFTCAST_ROOT/ros2_ws/install/setup.sh"
fi
unset _SWIFTCAST_ROOT
