"""The ``main()`` of every SwiftCast node: start, spin, stop cleanly; startup problems are one line, no traceback.

A user who mistypes a parameter, points at a missing checkpoint or a missing parameter file gets
``<node>: error: <what is wrong>`` and exit status 2. Ctrl-C / SIGTERM shut the node down with status 0.
"""

from __future__ import annotations

import gc
import importlib
import sys
from pathlib import Path
from typing import Callable, Sequence

import rclpy
import yaml
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

from swiftcast.errors import SwiftcastError

EXIT_USAGE = 2


def params_file_problem(argv: Sequence[str]) -> str | None:
    """Check every ``--params-file`` before rcl does (rcl prints several lines and a C source location)."""
    args = list(argv)
    for i, arg in enumerate(args):
        if arg == "--params-file":
            if i + 1 >= len(args):
                return "--params-file needs a file name"
            path = Path(args[i + 1])
            if not path.is_file():
                return f"parameter file {path} not found"
            try:
                content = yaml.safe_load(path.read_text())
            except (OSError, yaml.YAMLError) as exc:
                return f"parameter file {path} is not valid YAML: {str(exc).splitlines()[0]}"
            if not isinstance(content, dict):
                return f"parameter file {path} must map node names to 'ros__parameters'"
    return None


def run_node(make_node: Callable[[], Node], prog: str, argv: Sequence[str] | None = None) -> int:
    """Create the node with ``make_node()`` and spin it until shutdown; returns the exit status.

    ``make_node`` raises SwiftcastError (e.g. ParameterError, CheckpointError) for anything the user must fix.
    If the node has a ``close()`` method it is called before the node is destroyed (threads, devices).
    """
    argv = list(sys.argv if argv is None else argv)
    problem = params_file_problem(argv)
    if problem:
        print(f"{prog}: error: {problem}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    try:
        rclpy.init(args=argv)
    except Exception as exc:  # noqa: BLE001 - rcl argument errors: report, don't trace
        print(f"{prog}: error: cannot initialise ROS: {str(exc).splitlines()[0]}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    node: Node | None = None
    status = 0
    try:
        node = make_node()
        # what the node loaded to start (torch, ONNX Runtime, compiled kernels, rclpy) lives as long as it does:
        # kept out of the cyclic garbage collector, whose full passes would rescan it all and stall the stream for
        # a fifth of a second
        gc.collect()
        gc.freeze()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except SwiftcastError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr, flush=True)
        status = EXIT_USAGE
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if rclpy.ok():
            raise
        # shut down by a signal while the node was being built: handles became invalid, nothing to report
    finally:
        if node is not None:
            close = getattr(node, "close", None)
            if close is not None:
                close()
            node.destroy_node()
        rclpy.try_shutdown()
    return status


def lazy_main(target: str, prog: str, argv: Sequence[str] | None = None) -> int:
    """``run_node`` for ``"package.module:NodeClass"``, imported here so that a Ctrl-C/stop request arriving while
    torch & co. are still importing ends the process quietly (status 130) instead of with a traceback."""
    module_name, _, attr = target.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except KeyboardInterrupt:
        return 130
    return run_node(factory, prog, argv)
