"""The synthetic driving world: procedural streets with traffic, rendered headless (moderngl/EGL) into Cityscapes-layout
sequences (``swiftcast synth``) and rosbags (``swiftcast synth-bag``). See README.md here for the data card."""
