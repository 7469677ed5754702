"""``swiftcast stack``: start the perception nodes as separate processes, as ``ros2 launch`` would.

The nodes, parameter files and remaps come from :mod:`swiftcast.orchestration.stack_description`, the same
description ``launch/perception.launch.py`` reads. Each node runs as ``ros2_ws/install/lib/<pkg>/<exe> --ros-args
...`` in its own session (so a terminal Ctrl-C reaches only the runner, which then stops the nodes in order) and dies
with the runner if the runner is killed.

Stopping: SIGINT or SIGTERM -> every node gets SIGTERM (rclpy shuts down cleanly on it; a node still starting up
ends without a KeyboardInterrupt traceback, which SIGINT would print), then SIGKILL after a timeout; exit status 0.
A node that exits on its own is reported; without ``--restart`` the others are stopped and the exit status is 1.

From Python::

    with Stack(resolve({"camera_topic": "/cam"}, launch_dir())) as stack:
        stack.wait()          # until a node dies (returns its name) or stack.request_stop() is called

or run ``swiftcast stack`` as a subprocess and stop it with SIGINT.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence, TextIO

from swiftcast.errors import SwiftcastError
from swiftcast.orchestration.rosenv import child_env, node_executable
from swiftcast.orchestration.stack_description import LAUNCH_ARGUMENTS, ResolvedNode, resolve
from swiftcast.runtime.paths import launch_dir, resolve_user_path

#: exit status of a node that refused to start (bad parameter/checkpoint): restarting cannot help
EXIT_USAGE = 2


def command_line(node: ResolvedNode) -> list[str]:
    """The full command that starts ``node`` (executable from the built workspace + its ROS arguments)."""
    return [str(node_executable(node.package, node.executable)), *node.ros_args()]


def die_with_parent() -> None:
    """``preexec_fn`` for node processes: own process group, and SIGTERM when the parent dies (runs between fork
    and exec), so a SIGKILLed runner leaves no orphaned nodes behind."""
    os.setsid()
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: no orphaned nodes if the runner is SIGKILLed
    except OSError:
        pass


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


@dataclass
class _Child:
    node: ResolvedNode
    command: list[str]
    process: subprocess.Popen | None = None
    restarts: int = 0


class Stack:
    """The running nodes. ``start()``, then ``wait()``/``poll()``, then ``stop()`` (or use it as a context manager).

    Args:
        nodes: resolved nodes (:func:`swiftcast.orchestration.stack_description.resolve`).
        env: environment of the children (default :func:`swiftcast.orchestration.rosenv.child_env`).
        restart: restart a node that exits on its own, at most ``max_restarts`` times each.
        stdout: where the runner's own status lines go.
    """

    def __init__(
        self,
        nodes: Sequence[ResolvedNode],
        env: Mapping[str, str] | None = None,
        restart: bool = False,
        max_restarts: int = 3,
        stdout: TextIO | None = None,
    ) -> None:
        self.children = [_Child(n, command_line(n)) for n in nodes]
        self.env = dict(env) if env is not None else child_env()
        self.restart = restart
        self.max_restarts = max_restarts
        self.out = stdout or sys.stdout
        self.failed: list[str] = []  # nodes that exited on their own (and were not restarted)
        self._stop = threading.Event()

    def say(self, text: str) -> None:
        print(f"swiftcast stack: {text}", file=self.out, flush=True)

    # --- lifecycle ---------------------------------------------------------------------------------------------
    def check(self) -> None:
        """SwiftcastError if an executable or parameter file is missing (before anything starts)."""
        for c in self.children:
            exe = Path(c.command[0])
            if not os.access(exe, os.X_OK):
                raise SwiftcastError(f"{exe} not found: build the ROS workspace first (make setup)")
            for path in c.node.params_files:
                if not Path(path).is_file():
                    raise SwiftcastError(f"parameter file {path} not found")

    def _spawn(self, c: _Child) -> None:
        c.process = subprocess.Popen(c.command, env=self.env, preexec_fn=die_with_parent, stdin=subprocess.DEVNULL)
        self.say(f"started {c.node.namespace.rstrip('/')}/{c.node.name} (pid {c.process.pid}): {' '.join(c.command)}")

    def start(self) -> "Stack":
        self.check()
        for c in self.children:
            self._spawn(c)
        return self

    @property
    def pids(self) -> dict[str, int]:
        return {c.node.name: c.process.pid for c in self.children if c.process is not None}

    def poll(self) -> str | None:
        """Handle nodes that exited on their own; returns the name of one that is down for good, else None."""
        for c in self.children:
            if c.process is None or self._stop.is_set():
                continue
            code = c.process.poll()
            if code is None:
                continue
            name = f"{c.node.namespace.rstrip('/')}/{c.node.name}"
            self.say(f"node {name} exited on its own ({describe_exit(code)})")
            if self.restart and code != EXIT_USAGE and c.restarts < self.max_restarts:
                c.restarts += 1
                self.say(f"restarting {name} ({c.restarts}/{self.max_restarts})")
                self._spawn(c)
                continue
            c.process = None
            self.failed.append(c.node.name)
            return c.node.name
        return None

    def request_stop(self) -> None:
        """Ask :meth:`wait` to return (safe from a signal handler or another thread)."""
        self._stop.set()

    def wait(self, timeout: float | None = None, interval: float = 0.2) -> str | None:
        """Block until a node is down for good (its name), a stop is requested, or ``timeout`` (None)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._stop.is_set():
            dead = self.poll()
            if dead is not None:
                return dead
            if deadline is not None and time.monotonic() >= deadline:
                return None
            self._stop.wait(interval)
        return None

    def stop(self, timeout: float = 10.0) -> dict[str, int]:
        """Stop every node (SIGTERM, then SIGKILL after ``timeout``); returns their exit statuses."""
        self._stop.set()
        running = [c for c in self.children if c.process is not None and c.process.poll() is None]
        for sig, wait_s in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            for c in running:
                if c.process.poll() is None:
                    try:
                        c.process.send_signal(sig)
                    except ProcessLookupError:
                        pass
            deadline = time.monotonic() + wait_s
            for c in running:
                try:
                    c.process.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
            running = [c for c in running if c.process.poll() is None]
            if not running:
                break
            self.say(f"{', '.join(c.node.name for c in running)} still running after {sig.name}")
        codes = {c.node.name: c.process.returncode for c in self.children if c.process is not None}
        self.say("stopped " + ", ".join(f"{n} ({describe_exit(code)})" for n, code in codes.items()))
        return codes

    def __enter__(self) -> "Stack":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- swiftcast stack --------------------------------------------------------------------------------------------------
def launch_values(given: Mapping[str, str | None]) -> dict[str, str]:
    """The launch-argument values given (None: not given), paths resolved against the current directory."""
    values = {a.name: given[a.name] for a in LAUNCH_ARGUMENTS if given.get(a.name) is not None}
    if "params_file" in values:
        values["params_file"] = str(resolve_user_path(values["params_file"]))
    for name, value in values.items():
        if name.endswith("_checkpoint") and value:
            values[name] = str(resolve_user_path(value))
    return values


def run_stack(given: Mapping[str, str | None], *, dds: str = "loopback", restart: bool = False,
              max_restarts: int = 3, dry_run: bool = False) -> int:
    """``swiftcast stack``: run the nodes with the launch-argument values ``given`` until SIGINT/SIGTERM (exit
    status 0) or until a node dies for good (1); ``dry_run`` prints the command lines instead. ``dds="loopback"``
    keeps DDS on this machine (see :func:`~swiftcast.orchestration.rosenv.child_env`), ``"system"`` leaves it as
    configured."""
    try:
        nodes = resolve(launch_values(given), launch_dir())
    except ValueError as exc:
        raise SwiftcastError(str(exc)) from None
    env = child_env(loopback=dds == "loopback")
    stack = Stack(nodes, env=env, restart=restart, max_restarts=max_restarts)
    if dry_run:
        stack.check()
        for c in stack.children:
            print(" ".join(c.command))
        return 0
    if dds == "loopback" and env.get("FASTDDS_DEFAULT_PROFILES_FILE"):
        stack.say(
            "DDS on loopback; to talk to the stack from another shell: export "
            + " ".join(f"{k}={env[k]}" for k in ("FASTDDS_DEFAULT_PROFILES_FILE", "ROS_AUTOMATIC_DISCOVERY_RANGE"))
            + (f" ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']}" if env.get("ROS_DOMAIN_ID") else "")
        )
    stop_signal: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        stop_signal.append(signum)
        stack.request_stop()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        stack.start()
        stack.say(f"running {', '.join(stack.pids)}; Ctrl-C to stop")
        dead = stack.wait()
        if stop_signal:
            stack.say(f"{signal.Signals(stop_signal[0]).name} received, stopping")
        stack.stop()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if dead is not None:
        stack.say(f"node {dead} died; exit status 1")
        return 1
    return 0
