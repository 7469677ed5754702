# Sourced by the images (build steps and entrypoint): the ROS 2 underlay, then the SwiftCast workspace if built.
# apt installs (ros:<distro> images) have /opt/ros/<distro>/setup.bash; source builds (dustynv/ros) put it in install/.
# shellcheck shell=bash
for _setup in "/opt/ros/${ROS_DISTRO}/setup.bash" "/opt/ros/${ROS_DISTRO}/install/setup.bash"; do
  if [ -f "$_setup" ]; then
    # shellcheck disable=SC1090
    source "$_setup"
    break
  fi
done
if [ -f /opt/swiftcast/ros2_ws/install/setup.bash ]; then
  # shellcheck disable=SC1091
  source /opt/swiftcast/ros2_ws/install/setup.bash
fi
unset _setup
