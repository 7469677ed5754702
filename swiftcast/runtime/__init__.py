"""What the ROS nodes call, without ROS: frame decoding/validation, the segmenter, the feature wire format, and the
work of the commands that use them without a stack. Starting the nodes as processes is :mod:`swiftcast.orchestration`'s job.

Modules (imported explicitly, so ``import swiftcast.runtime`` stays cheap and torch-free):

- :mod:`swiftcast.runtime.images`       raw/compressed camera buffers -> validated uint8 images; overlay
- :mod:`swiftcast.runtime.segmenter`    checkpoint -> per-frame labels + SPP features (backend switch)
- :mod:`swiftcast.runtime.features`     FeatureMap payload encode/decode with validation
- :mod:`swiftcast.runtime.footage`      videos and image folders as camera frames
- :mod:`swiftcast.runtime.onnx_export`  checkpoint -> ONNX graph (fp32 / int8) and its cache
- :mod:`swiftcast.runtime.paths`        project paths; resolution of relative user paths
- :mod:`swiftcast.runtime.segment`, :mod:`~swiftcast.runtime.export`, :mod:`~swiftcast.runtime.bench`
  what ``swiftcast segment``, ``export-onnx`` and ``bench-model`` run
"""
