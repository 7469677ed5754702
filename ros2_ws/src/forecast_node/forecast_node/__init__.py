"""DeformF2F forecasting node (executable ``forecast_node``); the work is done by ``swiftcast.forecast``."""


def main(args: list[str] | None = None) -> int:
    """Entry point: imports the node (torch) only inside the guarded start-up of ``swiftcast_ros.entry``."""
    from swiftcast_ros.entry import lazy_main

    return lazy_main("forecast_node.node:ForecastNode", "forecast_node", args)
