"""The fuzz harness: real node processes fed the generated cases of :mod:`fuzz_cases`, and the checks.

Shared by ``tests/test_fuzz_nodes.py`` (``make test``, ~1,200 cases) and ``benchmarks/fuzz_nodes.py`` (``make fuzz``,
any number). Three processes, each in its own namespace so their topics never meet: a semseg node on raw images
(``/fzraw``), one on compressed images (``/fzcomp``; input_transport is fixed at start) and a forecast node
(``/fzfc``), all on tiny random checkpoints so a valid frame costs milliseconds.

Cases are published in order. Bad ones go out back to back at a small pace (they are cheap to reject); every
``sync_every`` messages the harness waits until the node's /diagnostics show it has taken and settled all of them,
so the rejection counters can be compared with what was sent. A case that must be answered is published (again
every 2 s: camera input is best effort) until its output arrives. Every output carries the frame id
``fuzz<index>`` of its case, which is how it is checked: right size, encoding, stamp, trainIds, and only for cases
that may be answered at all.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ros_utils import (
    NodeProcess,
    RosProbe,
    allocate_domain_id,
    cleanup_fastdds_shm,
    diagnostic_values,
    make_tiny_checkpoint,
    ros_child_env,
    semseg_command,
)
from fuzz_cases import ANSWER, EITHER, NS, REJECT, FuzzCase, FuzzSpec, split_stamp

MODEL_SIZE = (64, 128)
NAMESPACES = {"image": "/fzraw", "compressed": "/fzcomp", "features": "/fzfc", "labels": "/fzfc"}
NODE_OF = {"image": "raw", "compressed": "comp", "features": "forecast", "labels": "forecast"}
HORIZON_FRAMES = {"short": 3, "mid": 9}
#: counters whose sum is every frame a node took in (once it has settled)
SETTLED = {"raw": ("frames_out", "frames_rejected", "frames_dropped", "errors"),
           "comp": ("frames_out", "frames_rejected", "frames_dropped", "errors"),
           "forecast": ("frames_out", "frames_rejected", "frames_dropped", "errors", "waiting_history")}


def _forecast_command(*ros_args: str) -> list[str]:
    from swiftcast.orchestration.rosenv import node_executable

    return [str(node_executable("forecast_node", "forecast_node")), "--ros-args", "-r", "__node:=forecast",
            "-r", "__ns:=/fzfc", *ros_args]


class _ByFrame:
    """Outputs of one topic indexed by case number (from the ``fuzz<index>`` frame id); others kept apart."""

    def __init__(self) -> None:
        self.by_case: dict[int, list[Any]] = defaultdict(list)
        self.foreign: list[Any] = []
        self.count = 0
        self._cond = threading.Condition()

    def __call__(self, msg: Any) -> None:
        fid = msg.header.frame_id
        with self._cond:
            self.count += 1
            if fid.startswith("fuzz") and fid[4:].isdigit():
                self.by_case[int(fid[4:])].append(msg)
            else:
                self.foreign.append(msg)
            self._cond.notify_all()

    def has(self, index: int) -> bool:
        with self._cond:
            return bool(self.by_case.get(index))


class FuzzWorld:
    """The three nodes + an in-process participant; ``run(cases)`` returns the report dict."""

    def __init__(self, tmp: Path, say: Callable[[str], None] = print) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from sensor_msgs.msg import CompressedImage, Image
        from swiftcast_msgs.msg import FeatureMap

        from forecast_fixtures import random_forecaster_checkpoint
        from swiftcast.models import read_config
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
        from swiftcast_ros.qos import OUTPUT_QOS

        self.say = say
        tmp.mkdir(parents=True, exist_ok=True)
        seg = make_tiny_checkpoint(tmp / "seg", MODEL_SIZE)
        short = random_forecaster_checkpoint(tmp / "short", seg, 3, seed=1, perturb=0.05)
        mid = random_forecaster_checkpoint(tmp / "mid", seg, 9, method="conv_f2f", seed=2, perturb=0.05)
        self.spec = FuzzSpec(model_id=read_config(seg)["model_id"])
        domain = allocate_domain_id()
        env = ros_child_env(domain, tmp / "ros-log")
        common = ["-p", f"checkpoint:={seg}", "-p", "diagnostics_period_s:=0.05", "-p", "log_period_s:=0.0",
                  "-p", "num_threads:=1"]
        self.procs = {
            "raw": NodeProcess(semseg_command(*common, "-p", "camera_topic:=/fzraw/camera", namespace="/fzraw"), env,
                               tmp / "semseg_raw.log"),
            "comp": NodeProcess(semseg_command(*common, "-p", "camera_topic:=/fzcomp/camera", "-p",
                                               "input_transport:=compressed", namespace="/fzcomp"), env,
                                tmp / "semseg_compressed.log"),
            "forecast": NodeProcess(_forecast_command(*common, "-p", f"short_checkpoint:={short}", "-p",
                                                      f"mid_checkpoint:={mid}"), env, tmp / "forecast.log"),
        }
        self.probe = p = RosProbe(domain, name="fuzz")
        self.pubs = {
            "image": p.publisher(Image, "/fzraw/camera"),
            "compressed": p.publisher(CompressedImage, "/fzcomp/camera/compressed"),
            # a deep writer history: a burst is not overwritten on the sending side (the node reads with depth 5)
            "features": p.publisher(FeatureMap, "/fzfc/semseg/features", QoSProfile(
                history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE)),
            "labels": p.publisher(Image, "/fzfc/semseg/labels"),
        }
        self.outputs: dict[str, _ByFrame] = {}
        topics = {"raw": (Image, "/fzraw/semseg/labels"), "raw_features": (FeatureMap, "/fzraw/semseg/features"),
                  "comp": (Image, "/fzcomp/semseg/labels"),
                  **{h: (Image, f"/fzfc/forecast/{h}/labels") for h in HORIZON_FRAMES}}
        for key, (msg_type, topic) in topics.items():
            self.outputs[key] = _ByFrame()
            p.node.create_subscription(msg_type, topic, self.outputs[key], OUTPUT_QOS)
        self._diag: dict[str, dict[str, str]] = {}
        self._diag_cond = threading.Condition()
        p.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 50)
        for name, proc in self.procs.items():
            proc.wait_for_output(r"ready: ", timeout=240)
        for pub in self.pubs.values():
            p.wait_for_subscribers(pub)
        self.published: Counter = Counter()

    # --- diagnostics -----------------------------------------------------------------------------------------------
    def _on_diagnostics(self, msg: Any) -> None:
        for node, ns in (("raw", "fzraw/semseg"), ("comp", "fzcomp/semseg"), ("forecast", "fzfc/forecast")):
            values = diagnostic_values(msg, f"{ns}: frames")
            if values is not None:
                with self._diag_cond:
                    self._diag[node] = values
                    self._diag_cond.notify_all()

    def counts(self, node: str) -> dict[str, int]:
        with self._diag_cond:
            return {k: int(v) for k, v in self._diag.get(node, {}).items() if v.lstrip("-").isdigit()}

    def sync(self, node: str, timeout: float = 5.0, quiet_s: float = 0.4) -> bool:
        """Wait until ``node`` took in and settled every frame sent to it; False if some never arrived (its counters
        settled and stayed put for ``quiet_s``: lost on the way) or on timeout."""
        sent = sum(n for t, n in self.published.items() if NODE_OF[t] == node and t != "labels")
        start = time.monotonic()
        last_in, last_change = None, start
        with self._diag_cond:
            while True:
                now = time.monotonic()
                c = {k: int(v) for k, v in self._diag.get(node, {}).items() if v.lstrip("-").isdigit()}
                frames_in = c.get("frames_in", -1)
                settled = frames_in == sum(c.get(k, 0) for k in SETTLED[node])
                if settled and frames_in >= sent:
                    return True
                if frames_in != last_in:
                    last_in, last_change = frames_in, now
                elif settled and now - last_change > quiet_s:
                    return False
                if now - start > timeout:
                    return False
                self._diag_cond.wait(0.05)

    # --- messages ----------------------------------------------------------------------------------------------------
    def message(self, case: FuzzCase) -> Any:
        from sensor_msgs.msg import CompressedImage, Image
        from swiftcast_msgs.msg import FeatureMap

        f = case.fields
        msg = {"image": Image, "labels": Image, "compressed": CompressedImage, "features": FeatureMap}[case.target]()
        for key, value in f.items():
            if key != "stamp_ns":
                setattr(msg, key, value)
        msg.header.stamp.sec, msg.header.stamp.nanosec = split_stamp(case.stamp_ns)
        msg.header.frame_id = case.frame_id
        return msg

    def _publish(self, case: FuzzCase, msg: Any) -> None:
        self.pubs[case.target].publish(msg)
        self.published[case.target] += 1

    def _answered(self, case: FuzzCase) -> bool:
        if case.target == "features":
            return all(self.outputs[h].has(case.index) for h in HORIZON_FRAMES)
        return self.outputs["raw" if case.target == "image" else "comp"].has(case.index)

    def _answer(self, case: FuzzCase, msg: Any, timeout: float = 30.0, interval: float = 2.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._publish(case, msg)
            until = min(deadline, time.monotonic() + interval)
            while time.monotonic() < until:
                if self._answered(case):
                    return True
                time.sleep(0.002)
            if case.target == "features":  # reliable transport: a re-send would only hide a missing answer
                break
        return self._answered(case)

    # --- the run -----------------------------------------------------------------------------------------------------
    def run(self, cases: list[FuzzCase], pace_s: float = 0.002, camera_pace_s: float = 0.005, sync_every: int = 20,
            progress: Callable[[int], None] | None = None) -> dict:
        """Feed ``cases`` in order; ``camera_pace_s`` between camera frames (best effort, depth 1: a node still
        busy with the previous message loses the next one), ``pace_s`` between feature and label maps."""
        t0 = time.monotonic()
        unanswered: list[int] = []
        after_loss: list[int] = []
        lost_syncs = Counter()
        for i, case in enumerate(cases):
            msg = self.message(case)
            pause = camera_pace_s if case.target in ("image", "compressed") else pace_s
            if case.outcome == ANSWER:
                time.sleep(pause)  # the previous (bad) frame has left the node's one-slot mailbox
                if not self._answer(case, msg):
                    # a feature map lost on the way (reliable, but depth 5 under a burst on a loaded CPU) leaves a
                    # hole in the history: then waiting is right and the case does not count against the node
                    lost = case.target == "features" and not self.sync("forecast")
                    (after_loss if lost else unanswered).append(case.index)
            else:
                self._publish(case, msg)
                time.sleep(pause)
            n = self.published[case.target]
            if case.target != "labels" and n % sync_every == 0 and not self.sync(NODE_OF[case.target]):
                lost_syncs[NODE_OF[case.target]] += 1
            if progress is not None:
                progress(i)
        time.sleep(0.5)
        for node in ("raw", "comp", "forecast"):
            if not self.sync(node, timeout=10):
                lost_syncs[node] += 1
        time.sleep(0.3)  # the last outputs
        report = self.report(cases, unanswered, lost_syncs, time.monotonic() - t0)
        report["unanswered_after_transport_loss"] = len(after_loss)
        return report

    # --- checks ------------------------------------------------------------------------------------------------------
    def _check_output(self, case: FuzzCase | None, msg: Any, horizon: str | None) -> str | None:
        """Why this output is wrong (None when it is right)."""
        if case is None:
            return "output for no case"
        if case.outcome not in (ANSWER, EITHER):
            return f"output for a case that must get none ({case.outcome}: {case.kind} {case.note})"
        if msg.encoding != "mono8" or msg.step != msg.width or len(msg.data) != msg.height * msg.width:
            return f"malformed output {msg.encoding} {msg.width}x{msg.height} step {msg.step}, {len(msg.data)} bytes"
        if case.out_size is not None and (msg.height, msg.width) != tuple(case.out_size):
            return f"output {msg.height}x{msg.width}, input was {case.out_size[0]}x{case.out_size[1]}"
        want = case.stamp_ns + (HORIZON_FRAMES[horizon] * self.spec.period_ns if horizon else 0)
        got = msg.header.stamp.sec * NS + msg.header.stamp.nanosec
        if got != want:
            return f"stamp {got} != {want}"
        if len(msg.data) and int(np.frombuffer(msg.data, np.uint8).max()) >= 19:
            return "label ids outside 0..18"
        return None

    def report(self, cases: list[FuzzCase], unanswered: list[int], lost_syncs: Counter, seconds: float) -> dict:
        by_index = {c.index: c for c in cases}
        wrong: list[str] = []
        outputs = 0
        for key, horizon, target in (("raw", None, "image"), ("comp", None, "compressed"),
                                     ("short", "short", "features"), ("mid", "mid", "features")):
            col = self.outputs[key]
            wrong += [f"{key}: output with frame id {m.header.frame_id!r}" for m in col.foreign]
            for index, msgs in col.by_case.items():
                case = by_index.get(index)
                if case is not None and case.target != target:
                    case = None
                for m in msgs:
                    outputs += 1
                    problem = self._check_output(case, m, horizon)
                    if problem:
                        wrong.append(f"{key} case {index}: {problem}")
        for index, msgs in self.outputs["raw_features"].by_case.items():
            case = by_index.get(index)
            for m in msgs:
                hw = (-(-MODEL_SIZE[0] // 32), -(-MODEL_SIZE[1] // 32))
                if case is None or (m.channels, m.height, m.width) != (self.spec.channels, *hw) or (
                        case.out_size and (m.image_height, m.image_width) != tuple(case.out_size)):
                    wrong.append(f"raw features case {index}: {m.channels}x{m.height}x{m.width} for "
                                 f"{m.image_height}x{m.image_width}")

        nodes: dict[str, dict] = {}
        for node, proc in self.procs.items():
            targets = [t for t, n in NODE_OF.items() if n == node]
            node_cases = [c for c in cases if c.target in targets]
            counts = self.counts(node)
            expected_min: Counter = Counter()
            expected_max: Counter = Counter()
            for c in node_cases:
                if c.target == "labels":
                    continue
                if c.outcome == REJECT and len(c.reasons) == 1:
                    expected_min[c.reasons[0]] += 1
                for r in c.reasons:
                    expected_max[r] += 1
            sent = sum(self.published[t] for t in targets if t != "labels")
            counted = {k.removeprefix("rejected_"): v for k, v in counts.items() if k.startswith("rejected_")}
            lost = max(0, sent - counts.get("frames_in", 0))
            slack = lost + counts.get("frames_dropped", 0)  # frames that never reached validation
            problems = []
            for reason in sorted(set(expected_max) | set(counted)):
                got, lo, hi = counted.get(reason, 0), expected_min[reason], expected_max[reason]
                if got > hi or got < lo - slack:
                    problems.append(f"rejected_{reason} = {got}, expected {lo}..{hi}")
            output = proc.output()
            logged = {r: f"rejected ({r})" in output for r in counted}
            problems += [f"no log line names '{r}'" for r, ok in logged.items() if not ok]
            if node == "forecast":
                labels_bad = sum(1 for c in node_cases if c.target == "labels" and c.outcome == REJECT)
                if counts.get("labels_rejected", 0) > labels_bad:
                    problems.append(f"labels_rejected {counts.get('labels_rejected')} > {labels_bad} bad label maps")
                if counts.get("labels_rejected") and "semseg/labels skipped" not in output:
                    problems.append("no log line for rejected semseg/labels")
                if counts.get("history_resets") and "stamp went backwards" not in output:
                    problems.append("no log line for the history reset")
            nodes[node] = {
                "alive": proc.alive(), "exit_code": proc.process.poll(), "sent": sent,
                "counts": counts, "rejected_by_reason": counted,
                "expected_rejections": {r: [expected_min[r], expected_max[r]] for r in sorted(expected_max)},
                "lost_in_transport": lost, "traceback_in_log": "Traceback" in output, "problems": problems,
            }
        crashes = sum(1 for n in nodes.values() if not n["alive"])
        errors = sum(n["counts"].get("errors", 0) for n in nodes.values())
        rejected = Counter()
        for n in nodes.values():
            rejected.update(n["rejected_by_reason"])
        if self.counts("forecast").get("labels_rejected"):
            rejected["labels"] = self.counts("forecast")["labels_rejected"]
        by_kind: dict[str, dict[str, int]] = {}
        for c in cases:
            by_kind.setdefault(c.target, Counter())[c.kind] += 1
        summary = (f"fuzz: {len(cases)} cases, {crashes} crashes, {len(wrong)} wrong-shape outputs, "
                   f"rejected by reason: " + ", ".join(f"{r} {n}" for r, n in sorted(rejected.items())))
        return {
            "summary": summary, "cases": len(cases), "crashes": crashes, "internal_errors": errors,
            "wrong_outputs": len(wrong), "wrong_output_examples": wrong[:20], "outputs_checked": outputs,
            "unanswered": len(unanswered), "unanswered_cases": [
                f"{i} {by_index[i].target} {by_index[i].kind} {by_index[i].note}" for i in unanswered[:20]],
            "published": dict(self.published), "syncs_timed_out": dict(lost_syncs),
            "rejected_by_reason": dict(sorted(rejected.items())), "cases_by_kind": {k: dict(v) for k, v in
                                                                                   by_kind.items()},
            "nodes": nodes, "seconds": round(seconds, 1),
        }

    def close(self) -> dict[str, int]:
        self.probe.close()
        codes = {name: proc.stop() for name, proc in self.procs.items()}
        cleanup_fastdds_shm()
        return codes


def write_report(report: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")


def problems(report: dict) -> list[str]:
    """Everything that makes the run fail (empty = passed)."""
    out = []
    if report["crashes"]:
        out.append(f"{report['crashes']} node(s) died")
    if report["internal_errors"]:
        out.append(f"{report['internal_errors']} internal error(s) counted")
    if report["wrong_outputs"]:
        out.append(f"{report['wrong_outputs']} wrong outputs: {report['wrong_output_examples'][:5]}")
    if report["unanswered"]:
        out.append(f"{report['unanswered']} valid inputs unanswered: {report['unanswered_cases'][:5]}")
    for name, node in report["nodes"].items():
        out += [f"{name}: {p}" for p in node["problems"]]
        if node["traceback_in_log"]:
            out.append(f"{name}: a traceback in its log")
    return out


if __name__ == "__main__":  # pragma: no cover - use benchmarks/fuzz_nodes.py
    sys.exit("run benchmarks/fuzz_nodes.py or pytest tests/test_fuzz_nodes.py")
