"""SwiftNet segmentation node (executable ``semseg_node``); the work is done by ``swiftcast.runtime``."""
