"""The ROS processes: which nodes make up the stack, the environment they run in, and the runners that start and
stop them (``swiftcast stack``, a replay's stack + player). Nothing here imports rclpy: nodes are child processes.

Modules (imported explicitly, so ``import swiftcast.orchestration`` stays cheap):

- :mod:`swiftcast.orchestration.stack_description`  THE description of the ROS stack (launch file + runner read it)
- :mod:`swiftcast.orchestration.rosenv`         environment for ROS child processes (workspace, DDS profile)
- :mod:`swiftcast.orchestration.stack`          run the nodes as processes, stop them cleanly (``swiftcast stack``)
- :mod:`swiftcast.orchestration.replay_runner`  a replay's processes: the stack + the ``bag_replay`` player/recorder
"""
