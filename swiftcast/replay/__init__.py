"""Rosbag replay evaluation: play a bag through the live stack, record its outputs, score them, report.

- :mod:`swiftcast.replay.bag`     input bags: topic discovery, validation, reading frames and ground truth
- :mod:`swiftcast.replay.runner`  the processes: ``swiftcast stack`` + the ``bag_replay`` player/recorder
- :mod:`swiftcast.replay.score`   single-frame and forecast mIoU (vs copy-last), latency, drops, throughput
- :mod:`swiftcast.replay.report`  metrics.json, matplotlib figures, animated overlay, self-contained report.html
- :mod:`swiftcast.replay.cli`     ``swiftcast replay BAG --out DIR``

Nothing here imports rclpy: the DDS side lives in the ``swiftcast_tools`` ROS package.
"""
