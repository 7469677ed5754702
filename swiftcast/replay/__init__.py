"""Rosbag replay evaluation: play a bag through the live stack, record its outputs, score them, report.

- :mod:`swiftcast.replay.bag`       input bags: topic discovery, validation, reading frames and ground truth
- :mod:`swiftcast.replay.frames`    a bag, a video or an image folder behind one frame-source interface
- :mod:`swiftcast.replay.score`     single-frame and forecast mIoU (vs copy-last), latency, drops, throughput
- :mod:`swiftcast.replay.report`    metrics.json, matplotlib figures, animated overlay, self-contained report.html
- :mod:`swiftcast.replay.pipeline`  the whole replay: check the input, run, score, report (``swiftcast replay``)
- :mod:`swiftcast.replay.video_bag` a video or an image folder written as an mcap bag (``swiftcast bag-from-video``)

The processes (``swiftcast stack`` + the ``bag_replay`` player/recorder) are started by
:mod:`swiftcast.orchestration.replay_runner`.

Nothing here imports rclpy: the DDS side lives in the ``swiftcast_tools`` ROS package.
"""
