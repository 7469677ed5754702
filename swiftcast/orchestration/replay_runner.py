"""The processes of a replay: ``swiftcast stack`` and the ``bag_replay`` player/recorder, in an isolated ROS world.

Both run as child processes in their own session (a terminal Ctrl-C reaches only us; we stop them in order) with
their own ``ROS_DOMAIN_ID``, ``ROS_LOG_DIR`` under ``DIR/logs`` and the loopback Fast DDS profile, so a replay
never talks to a live robot on the network, and two replays on one machine do not see each other.

If the stack dies mid-way the player is stopped (it still closes the mcap properly) and the run says what
happened; whatever was recorded is scored as usual.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import yaml
from tqdm import tqdm

from swiftcast.errors import SwiftcastError
from swiftcast.orchestration.parameters import merge_parameter_files, node_name
from swiftcast.orchestration.rosenv import child_env, node_executable
from swiftcast.orchestration.stack import describe_exit, die_with_parent
from swiftcast.orchestration.stack_description import params_layers, resolve, resolve_params_file
from swiftcast.runtime.paths import STACK_PARAMS_FILE, launch_dir, resolve_user_path

PLAYER = ("swiftcast_tools", "bag_replay")


class ReplayInput(Protocol):
    """What the processes need to know about the input (:class:`swiftcast.replay.bag.BagInfo` provides it)."""

    path: Path
    storage: str  # mcap | sqlite3 | video | images
    camera_topic: str
    frames: int
    fps: float | None

    @property
    def is_footage(self) -> bool: ...

    @property
    def transport(self) -> str: ...  # the semseg node's input_transport: raw | compressed


@dataclass
class ReplayRun:
    """How the processes went (scores come from the recording, see :mod:`swiftcast.replay.score`)."""

    status: str = "ok"  # ok | stack_died | no_stack | no_answer | interrupted | player_failed
    message: str = ""
    stack_exit: int | None = None
    player_exit: int | None = None
    player: dict[str, Any] = field(default_factory=dict)  # bag_replay's summary
    domain_id: int = 0
    wall_time_s: float = 0.0
    stack_command: list[str] = field(default_factory=list)
    player_command: list[str] = field(default_factory=list)
    logs: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def default_domain_id() -> int:
    """A domain for this run (1..100, from the pid): away from 0, where a real robot usually talks."""
    return 1 + os.getpid() % 100


def camera_topic_for(info: ReplayInput) -> tuple[str, str]:
    """(stack ``camera_topic``, topic the player publishes on). Compressed input is ``<camera_topic>/compressed``
    (image_transport's convention, what the semseg node subscribes to)."""
    topic = info.camera_topic
    if info.transport == "compressed":
        base = topic[: -len("/compressed")] if topic.endswith("/compressed") else topic
        return base, f"{base}/compressed"
    return topic, topic


def params_source(base: str | None) -> Path:
    """The parameter file ``--params`` names (default launch/params/perception.yaml); SwiftcastError if missing."""
    source = Path(resolve_params_file(base or STACK_PARAMS_FILE, launch_dir()))
    if base and not source.is_file():
        source = resolve_user_path(base)
    if not source.is_file():
        raise SwiftcastError(f"parameter file {base or source} not found")
    return source


def write_params(base: str | None, info: ReplayInput, path: Path) -> Path:
    """The stack's parameter file for this input: ``base`` (default launch/params/perception.yaml; a profile
    merged onto the file it amends) with ``input_transport`` set to what the input holds."""
    layers = params_layers(str(params_source(base)), launch_dir())
    content = merge_parameter_files(layers)
    keys = [k for k in content if node_name(k) == "semseg"] or ["/**/semseg"]
    for key in keys:
        content.setdefault(key, {"ros__parameters": {}})["ros__parameters"]["input_transport"] = info.transport
    path.parent.mkdir(parents=True, exist_ok=True)
    derived = " + ".join(layers)
    path.write_text(f"# derived from {derived} by swiftcast replay\n" + yaml.safe_dump(content, sort_keys=False))
    return path


def _reader(stream: Any, sink: "queue.Queue[dict | None]") -> None:
    for line in stream:
        line = line.strip()
        if line.startswith("{"):
            try:
                sink.put(json.loads(line))
                continue
            except json.JSONDecodeError:
                pass
        if line:
            sink.put({"event": "text", "text": line})
    sink.put(None)


def _stop(proc: subprocess.Popen, timeouts: tuple[float, float, float] = (20.0, 5.0, 5.0)) -> int | None:
    """SIGINT, then SIGTERM, then SIGKILL; the exit status."""
    for sig, wait_s in zip((signal.SIGINT, signal.SIGTERM, signal.SIGKILL), timeouts):
        if proc.poll() is not None:
            break
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait_s)
        except subprocess.TimeoutExpired:
            continue
    return proc.poll()


def _tail(path: Path, lines: int = 3) -> str:
    """What a log says went wrong: its one-line errors if it has any, else its last lines."""
    try:
        text = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    errors = [ln for ln in text if ": error:" in ln or ln.startswith("[ERROR]") or "Traceback" in ln]
    return " | ".join(dict.fromkeys(errors[:lines] or text[-lines:]))


def run_replay(
    info: ReplayInput,
    out_dir: Path,
    *,
    rate: float | str = 1.0,
    params: str | None = None,
    checkpoint: str | None = None,
    namespace: str = "/perception",
    domain_id: int | None = None,
    stack_timeout: float = 180.0,
    warmup: int = 3,
    progress: bool = True,
    say: Callable[[str], None] = print,
) -> ReplayRun:
    """Start the stack, play ``info``'s camera topic into it, record to ``out_dir/outputs.mcap``, stop the stack."""
    out_dir = Path(out_dir)
    logs = out_dir / "logs"
    (logs / "ros").mkdir(parents=True, exist_ok=True)
    run = ReplayRun(domain_id=default_domain_id() if domain_id is None else domain_id)
    env = child_env(domain_id=run.domain_id, log_dir=logs / "ros")
    env["SWIFTCAST_HOME"] = env.get("SWIFTCAST_HOME", os.getcwd())  # relative checkpoints resolve from here
    stack_topic, publish_topic = camera_topic_for(info)
    params_file = write_params(params, info, logs / "params.yaml")
    run.stack_command = [
        sys.executable, "-m", "swiftcast.cli", "stack",
        "--params", str(params_file), "--camera-topic", stack_topic, "--namespace", namespace,
    ]
    if checkpoint:
        run.stack_command += ["--checkpoint", str(resolve_user_path(checkpoint))]
    player = node_executable(*PLAYER)
    if not os.access(player, os.X_OK):
        raise SwiftcastError(f"{player} not found: build the ROS workspace first (make setup)")
    ns = namespace.rstrip("/")
    # the forecast node subscribes to the features once its models are loaded: play only when it listens
    nodes = resolve({"namespace": namespace}, launch_dir())
    waits = []
    if any(n.package == "forecast_node" for n in nodes):
        waits += ["--wait-subscribed", f"{ns}/semseg/features"]
    if info.is_footage:  # decoded and published as bgr8 Image messages, stamped from the frame rate
        source = [f"--{info.storage}", str(info.path), "--fps", repr(info.fps)]
    else:
        source = ["--bag", str(info.path)]
    run.player_command = [
        str(player), *source, "--topic", info.camera_topic, "--publish-topic", publish_topic,
        "--out", str(out_dir / "outputs.mcap"), "--summary", str(logs / "player_summary.json"),
        "--rate", str(rate), "--answer-topic", f"{ns}/semseg/labels", "--record-prefix", ns or "/",
        "--stack-timeout", str(stack_timeout), "--answer-timeout", str(stack_timeout), "--warmup", str(warmup),
        *waits,
    ]
    run.logs = {"stack": str(logs / "stack.log"), "player": str(logs / "player.log"), "ros": str(logs / "ros")}
    t0 = time.monotonic()
    with open(logs / "stack.log", "w") as stack_log, open(logs / "player.log", "w") as player_log:
        stack = subprocess.Popen(
            run.stack_command, env=env, stdout=stack_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        player_proc = subprocess.Popen(
            run.player_command, env=env, stdout=subprocess.PIPE, stderr=player_log, stdin=subprocess.DEVNULL,
            text=True, bufsize=1, preexec_fn=die_with_parent,
        )
        events: "queue.Queue[dict | None]" = queue.Queue()
        threading.Thread(target=_reader, args=(player_proc.stdout, events), daemon=True).start()
        bar = tqdm(total=info.frames, desc="replay", unit="frame", disable=not progress, leave=True)
        published = 0
        try:
            say(f"starting the stack (domain {run.domain_id}) and waiting for its first answer ...")
            player_done = False
            while not player_done:
                try:
                    event = events.get(timeout=0.2)
                except queue.Empty:
                    event = {}
                if event is None:
                    player_done = True
                    continue
                kind = event.get("event")
                if kind == "progress":
                    bar.update(event["published"] - published)
                    published = event["published"]
                    bar.set_postfix(answered=event["answered"], refresh=False)  # the rest is in flight or dropped
                elif kind == "warmup" and event.get("latency_ms") is not None:
                    bar.set_postfix(warmup=f"{event['latency_ms']:.0f} ms", refresh=True)
                elif kind == "done":
                    run.player = {k: v for k, v in event.items() if k != "event"}
                if run.stack_exit is None and stack.poll() is not None:
                    run.stack_exit = stack.returncode
                    run.status = "stack_died"
                    detail = _tail(logs / "stack.log")
                    run.message = (
                        f"the stack exited ({describe_exit(stack.returncode)}) after {published} of {info.frames} "
                        f"frames; see {logs / 'stack.log'}" + (f": {detail}" if detail else "")
                    )
                    if player_proc.poll() is None:
                        player_proc.send_signal(signal.SIGINT)  # stop playing, close the recording cleanly
            player_proc.wait(30)
        except KeyboardInterrupt:
            run.status, run.message = "interrupted", f"interrupted by the user after {published} of {info.frames} frames"
            _stop(player_proc, (15.0, 5.0, 5.0))
        finally:
            bar.close()
            run.player_exit = _stop(player_proc, (15.0, 5.0, 5.0))
            if run.stack_exit is None:
                run.stack_exit = _stop(stack)
    run.wall_time_s = round(time.monotonic() - t0, 2)
    if not run.player and (logs / "player_summary.json").is_file():
        run.player = json.loads((logs / "player_summary.json").read_text())
    pstatus = run.player.get("status")
    if run.status == "ok" and pstatus in ("no_stack", "no_answer"):
        run.status = pstatus
        detail = _tail(logs / "stack.log")
        run.message = run.player.get("message", "") + (f"; stack log: {detail}" if detail else "")
    elif run.status == "ok" and run.player_exit not in (0, None) and pstatus != "ok":
        run.status = "player_failed"
        run.message = f"bag_replay failed ({describe_exit(run.player_exit)}): {_tail(logs / 'player.log')}"
    elif run.status == "ok" and run.stack_exit not in (0, None):
        run.message = f"the stack stopped with {describe_exit(run.stack_exit)} at the end; see {logs / 'stack.log'}"
    return run
