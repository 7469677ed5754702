"""SwiftCast perception stack for real ROS 2 installs (e.g. the Jetson vehicle/tram image).

    ros2 launch launch/perception.launch.py camera_topic:=/front/image_raw params_file:=params/jetson.yaml

Which nodes run, with which parameter file, overrides and remaps is not written here: it comes from
``swiftcast.orchestration.stack_description``, the same description ``swiftcast stack`` starts on machines without
``ros2 launch`` (a test checks that both produce the same nodes). Launch arguments: see
``ros2 launch launch/perception.launch.py --show-args``.
"""

import os
import sys

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

HERE = os.path.dirname(os.path.abspath(__file__))
try:
    from swiftcast.orchestration import stack_description as stack
except ImportError:  # a source checkout that is not pip-installed: the package sits next to launch/
    sys.path.insert(0, os.path.dirname(HERE))
    from swiftcast.orchestration import stack_description as stack


def _nodes(context, *args, **kwargs):
    values = {a.name: LaunchConfiguration(a.name).perform(context) for a in stack.LAUNCH_ARGUMENTS}
    return [
        Node(
            package=n.package,
            executable=n.executable,
            name=n.name,
            namespace=n.namespace,
            parameters=[*n.params_files, n.parameters] if n.parameters else list(n.params_files),
            remappings=list(n.remaps),
            output="screen",
            emulate_tty=True,
        )
        for n in stack.resolve(values, HERE)
    ]


def generate_launch_description():
    package, executable, config = stack.RVIZ
    return LaunchDescription(
        [DeclareLaunchArgument(a.name, default_value=a.default, description=a.description)
         for a in stack.LAUNCH_ARGUMENTS]
        + [
            OpaqueFunction(function=_nodes),
            Node(
                package=package,
                executable=executable,
                name="rviz",
                arguments=["-d", os.path.join(HERE, config)],
                condition=IfCondition(LaunchConfiguration(stack.RVIZ_CONDITION_ARGUMENT)),
                output="screen",
            ),
        ]
    )
