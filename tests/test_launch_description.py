"""launch/perception.launch.py and `swiftcast stack` start the same nodes with the same parameters and remaps.

The `launch`/`launch_ros` packages do not exist here, so the launch file is imported with small stand-ins injected
into sys.modules that record the actions it creates; its Node actions are compared with the command lines that
`swiftcast stack --dry-run` prints (parsed back the way rcl reads them), for the defaults and for overrides.
"""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
import types
from pathlib import Path

import pytest
import yaml

from swiftcast.orchestration import stack_description as stack
from swiftcast.orchestration.rosenv import node_executable

REPO = Path(__file__).resolve().parents[1]
LAUNCH_FILE = REPO / "launch" / "perception.launch.py"


class _Action:
    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class _LaunchConfiguration:
    def __init__(self, name):
        self.name = name

    def perform(self, context):
        return context.launch_configurations[self.name]


class _IfCondition:
    def __init__(self, predicate):
        self.predicate = predicate


def _fake_launch_modules() -> dict[str, types.ModuleType]:
    mods = {name: types.ModuleType(name) for name in
            ("launch", "launch.actions", "launch.conditions", "launch.substitutions", "launch_ros", "launch_ros.actions")}
    mods["launch"].LaunchDescription = type("LaunchDescription", (_Action,), {})
    mods["launch.actions"].DeclareLaunchArgument = type("DeclareLaunchArgument", (_Action,), {})
    mods["launch.actions"].OpaqueFunction = type("OpaqueFunction", (_Action,), {})
    mods["launch.conditions"].IfCondition = _IfCondition
    mods["launch.substitutions"].LaunchConfiguration = _LaunchConfiguration
    mods["launch_ros.actions"].Node = type("Node", (_Action,), {})
    return mods


@pytest.fixture
def launch_file(monkeypatch):
    for name, module in _fake_launch_modules().items():
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("perception_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _launch_nodes(launch_file, values: dict[str, str]) -> list[dict]:
    """What `ros2 launch ... k:=v` would start, from the launch file's own actions."""
    description = launch_file.generate_launch_description()
    actions = description.args[0]
    declared = {a.args[0]: a.kwargs["default_value"] for a in actions if type(a).__name__ == "DeclareLaunchArgument"}
    context = types.SimpleNamespace(launch_configurations={**declared, **values})
    (opaque,) = [a for a in actions if type(a).__name__ == "OpaqueFunction"]
    nodes = []
    for node in opaque.kwargs["function"](context):
        kw = node.kwargs
        files = [p for p in kw["parameters"] if isinstance(p, str)]
        params = {k: v for p in kw["parameters"] if isinstance(p, dict) for k, v in p.items()}
        nodes.append({
            "executable": str(node_executable(kw["package"], kw["executable"])),
            "name": kw["name"], "namespace": kw["namespace"], "params_files": files, "parameters": params,
            "remaps": [tuple(r) for r in kw["remappings"]],
        })
    return nodes


def _parse_ros_command(line: str) -> dict:
    """A `<exe> --ros-args ...` line back into its parts, reading -p values as rcl does (YAML)."""
    tokens = line.split(" ")
    out = {"executable": tokens[0], "params_files": [], "parameters": {}, "remaps": []}
    assert tokens[1] == "--ros-args"
    i = 2
    while i < len(tokens):
        flag, value = tokens[i], tokens[i + 1]
        if flag == "--params-file":
            out["params_files"].append(value)
        elif flag == "-p":
            key, _, literal = value.partition(":=")
            out["parameters"][key] = yaml.safe_load(literal)
        elif flag == "-r":
            src, _, dst = value.partition(":=")
            if src == "__node":
                out["name"] = dst
            elif src == "__ns":
                out["namespace"] = dst
            else:
                out["remaps"].append((src, dst))
        else:
            raise AssertionError(f"unexpected token {flag!r} in {line}")
        i += 2
    return out


def _runner_nodes(options: list[str]) -> list[dict]:
    result = subprocess.run(
        [sys.executable, "-m", "swiftcast.cli", "stack", "--dry-run", *options],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    return [_parse_ros_command(line) for line in result.stdout.splitlines() if line.strip()]


CASES = {
    "defaults": ({}, []),
    "overrides": (
        {"camera_topic": "/front/image_raw", "semseg_checkpoint": "/data/ckpt/rn18", "input_size": "256x512",
         "params_file": "params/jetson.yaml", "namespace": "/vehicle"},
        ["--camera-topic", "/front/image_raw", "--checkpoint", "/data/ckpt/rn18", "--input-size", "256x512",
         "--params", "launch/params/jetson.yaml", "--namespace", "/vehicle"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_launch_file_and_runner_start_the_same_nodes(launch_file, case):
    if not node_executable("semseg_node", "semseg_node").exists():
        pytest.skip("ros2_ws is not built (run make setup)")
    values, options = CASES[case]
    from_launch = _launch_nodes(launch_file, values)
    from_runner = _runner_nodes(options)
    assert from_launch == from_runner
    assert [n["name"] for n in from_runner] == [e.name for e in stack.NODES]
    if case == "overrides":
        semseg, forecast = from_runner
        assert forecast["parameters"] == {"checkpoint": "/data/ckpt/rn18"}  # features + decoder of the same model
        assert semseg["namespace"] == "/vehicle"
        assert semseg["parameters"] == {"checkpoint": "/data/ckpt/rn18", "input_size": [256, 512]}
        assert ("/camera/image_raw", "/front/image_raw") in semseg["remaps"]
        # the profile amends the full parameter file: both load, perception.yaml first
        assert semseg["params_files"] == [str(REPO / "launch" / "params" / name) for name in ("perception.yaml",
                                                                                           "jetson.yaml")]


def test_launch_arguments_and_rviz(launch_file):
    actions = launch_file.generate_launch_description().args[0]
    declared = {a.args[0]: a.kwargs for a in actions if type(a).__name__ == "DeclareLaunchArgument"}
    assert list(declared) == [a.name for a in stack.LAUNCH_ARGUMENTS]
    assert all(kw["description"] for kw in declared.values())
    (rviz,) = [a for a in actions if type(a).__name__ == "Node"]
    assert rviz.kwargs["condition"].predicate.name == "use_rviz"
    config = Path(rviz.kwargs["arguments"][1])
    assert config.is_file() and "/perception/semseg/overlay" in config.read_text()


def test_launch_argument_errors_name_the_argument():
    with pytest.raises(ValueError, match="input_size"):
        stack.resolve({"input_size": "big"}, REPO / "launch")
    with pytest.raises(ValueError, match="camera"):
        stack.resolve({"camera": "/x"}, REPO / "launch")


def test_profiles_hold_only_what_differs_from_the_stack_parameters(tmp_path):
    """A profile (params/jetson.yaml) sets nothing the base file already sets to the same value, loads after it
    however it is named, and a replay's derived parameter file carries the merged values."""
    from swiftcast.orchestration.parameters import merge_parameter_files, node_parameters
    from swiftcast.orchestration.replay_runner import write_params

    launch = REPO / "launch"
    base = yaml.safe_load((launch / "params" / "perception.yaml").read_text())
    for profile in stack.PARAMS_PROFILES:
        content = yaml.safe_load((launch / profile).read_text())
        for key, section in content.items():
            for name, value in section["ros__parameters"].items():
                assert base[key]["ros__parameters"].get(name) != value, f"{profile}: {key} {name} repeats the base"
        for value in (profile, str(launch / profile)):
            assert stack.params_layers(value, launch) == [str(launch / "params" / "perception.yaml"),
                                                           str(launch / profile)]
    assert stack.params_layers("params/perception.yaml", launch) == [str(launch / "params" / "perception.yaml")]
    own = tmp_path / "own.yaml"
    own.write_text("/**/semseg:\n  ros__parameters:\n    device: cpu\n")
    assert stack.params_layers(str(own), launch) == [str(own)]  # any other file is complete on its own

    jetson = merge_parameter_files(stack.params_layers("params/jetson.yaml", launch))
    semseg, forecast = node_parameters(jetson, "semseg"), node_parameters(jetson, "forecast")
    assert semseg["input_size"] == [256, 512] and semseg["device"] == "cuda" and semseg["log_period_s"] == 10.0
    assert semseg["checkpoint"] == base["/**/semseg"]["ros__parameters"]["checkpoint"]  # from the base file
    assert forecast["frame_period_s"] == base["/**/forecast"]["ros__parameters"]["frame_period_s"]
    info = types.SimpleNamespace(transport="raw")
    derived = yaml.safe_load(write_params("params/jetson.yaml", info, tmp_path / "replay.yaml").read_text())
    assert node_parameters(derived, "semseg") == {**semseg, "input_transport": "raw"}
    assert node_parameters(derived, "forecast") == forecast


@pytest.mark.parametrize("params_file", ["perception.yaml", "jetson.yaml"])
def test_parameter_files_only_set_declared_parameters(params_file):
    """Every value in launch/params/*.yaml is a declared parameter of its node (``<package>.node.PARAMS``), of the
    declared type and within its range; every node of the stack has a section."""
    pytest.importorskip("rclpy")
    from rclpy.parameter import Parameter

    content = yaml.safe_load((REPO / "launch" / "params" / params_file).read_text())
    for entry in stack.NODES:
        try:
            specs = {s.name: s for s in importlib.import_module(f"{entry.package}.node").PARAMS}
        except ImportError:
            pytest.skip("ros2_ws not built / not on the path (run via make test)")
        section = content.get(f"/**/{entry.name}")
        assert section is not None, f"{params_file}: no '/**/{entry.name}' section"
        for key, value in section["ros__parameters"].items():
            assert key in specs, f"{params_file}: {key} is not a parameter of {entry.name}"
            spec = specs[key]
            assert Parameter.Type.from_parameter_value(value).value == spec.param_type(), f"{params_file}: {key}"
            if key not in ("checkpoint", "device"):  # need the trained model / a GPU: checked when the node starts
                assert spec.problem(value) is None, f"{params_file}: {key}={value!r}: {spec.problem(value)}"
