"""SwiftNet segmentation node (executable ``semseg_node``); the work is done by ``swiftcast.runtime``."""


def main(args: list[str] | None = None) -> int:
    """Entry point: imports the node (torch) only inside the guarded start-up of ``swiftcast_ros.entry``."""
    from swiftcast_ros.entry import lazy_main

    return lazy_main("semseg_node.node:SemsegNode", "semseg_node", args)
