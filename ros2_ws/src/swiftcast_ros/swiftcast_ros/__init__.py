"""ROS-side helpers shared by the SwiftCast nodes (semseg_node, forecast_node).

Nodes stay thin adapters: the work is done by ``swiftcast.runtime`` (ROS-free); this package holds what every
node needs on the ROS side, once:

- :mod:`swiftcast_ros.qos`          the QoS profiles (sensor input, reliable output, latched)
- :mod:`swiftcast_ros.conversions`  sensor_msgs/Image, CompressedImage, FeatureMap, LabelInfo <-> numpy
- :mod:`swiftcast_ros.params`       parameters declared with descriptors and validated (one-line errors)
- :mod:`swiftcast_ros.health`       frame counters, latency windows, /diagnostics and the periodic log line
- :mod:`swiftcast_ros.throttle`     throttled warnings that count what they suppress
- :mod:`swiftcast_ros.worker`       a worker thread that always takes the newest frame (stale ones dropped)
- :mod:`swiftcast_ros.frames`       counters, throttled log lines and that worker around a node's per-frame work
- :mod:`swiftcast_ros.entry`        ``main()`` wrapper: init, spin, clean shutdown, one-line startup errors
"""
