"""Evaluation tools around the SwiftCast stack (ROS side).

- :mod:`swiftcast_tools.bag_replay`  plays a bag's camera topic into the live stack and records what it publishes
"""
