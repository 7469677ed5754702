"""SwiftCast: real-time semantic segmentation (SwiftNet) and semantic forecasting (DeformF2F).

This package is the ROS-free core: models, data, synthetic world, training, evaluation and the
runtime that the ROS 2 nodes call. Nothing in here imports rclpy.
"""

__version__ = "0.1.0"
