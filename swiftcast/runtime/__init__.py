"""What the ROS nodes call, without ROS: frame decoding/validation, the segmenter, the feature wire format, and
the stack description + runner (``swiftcast stack``).

Modules (imported explicitly, so ``import swiftcast.runtime`` stays cheap and torch-free):

- :mod:`swiftcast.runtime.images`      raw/compressed camera buffers -> validated uint8 images; overlay
- :mod:`swiftcast.runtime.segmenter`   checkpoint -> per-frame labels + SPP features (backend switch)
- :mod:`swiftcast.runtime.features`    FeatureMap payload encode/decode with validation
- :mod:`swiftcast.runtime.paths`       project paths; resolution of relative user paths
- :mod:`swiftcast.runtime.stack_description`  THE description of the ROS stack (launch file + runner read it)
- :mod:`swiftcast.runtime.rosenv`      environment for ROS child processes (workspace, DDS profile)
- :mod:`swiftcast.runtime.stack`       ``swiftcast stack``: run the nodes as processes, stop them cleanly
"""
