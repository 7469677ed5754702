"""THE description of the perception stack: which nodes run, from which package and executable, in which
namespace, with which parameter file, parameter overrides and remaps, and the launch arguments that fill them in.

Two readers, so they cannot drift apart (``tests/test_launch_description.py`` checks it):

- ``launch/perception.launch.py`` turns :func:`resolve` into ``launch_ros.actions.Node`` actions (real ROS installs);
- ``swiftcast stack`` (:mod:`swiftcast.orchestration.stack`) turns it into ``install/lib/<pkg>/<exe> --ros-args ...``
  processes (here, where ``ros2 launch`` does not exist).

Adding a node = one :class:`NodeEntry` in :data:`NODES` (plus its launch arguments, if it has overrides).
Parameter files are layered: a profile in :data:`PARAMS_PROFILES` holds only what differs from
``launch/params/perception.yaml`` and is loaded after it (:func:`params_layers`), so a new parameter or default is
written once. Standard library and :mod:`swiftcast.runtime.paths` only: the launch file imports this under the
system Python of a ROS install.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from swiftcast.runtime.paths import STACK_PARAMS_FILE


@dataclass(frozen=True)
class LaunchArgument:
    """A launch argument (``ros2 launch ... name:=value``); ``swiftcast stack`` offers the same ones."""

    name: str
    default: str
    description: str


@dataclass(frozen=True)
class ParamOverride:
    """Node parameter ``parameter`` set from launch argument ``argument`` when that argument is not empty."""

    parameter: str
    argument: str
    convert: Callable[[str], Any] = str


@dataclass(frozen=True)
class NodeEntry:
    """One node of the stack. Remap targets may use ``{argument}`` placeholders (launch argument values)."""

    name: str
    package: str
    executable: str
    remaps: tuple[tuple[str, str], ...] = ()
    overrides: tuple[ParamOverride, ...] = ()


@dataclass
class ResolvedNode:
    """A node with every launch argument substituted: what is actually started."""

    name: str
    package: str
    executable: str
    namespace: str
    params_files: list[str]
    parameters: dict[str, Any] = field(default_factory=dict)
    remaps: list[tuple[str, str]] = field(default_factory=list)

    def ros_args(self) -> list[str]:
        """The ``--ros-args`` part of the command line, as ``ros2 launch`` builds it for a ``Node`` action."""
        args = ["--ros-args", "-r", f"__node:={self.name}", "-r", f"__ns:={self.namespace}"]
        for path in self.params_files:
            args += ["--params-file", path]
        for key, value in self.parameters.items():
            args += ["-p", f"{key}:={format_parameter_value(value)}"]
        for src, dst in self.remaps:
            args += ["-r", f"{src}:={dst}"]
        return args


def parse_size_argument(text: str) -> list[int]:
    """``"256x512"`` or ``"256,512"`` -> ``[256, 512]`` (the ``input_size`` parameter)."""
    parts = text.replace(",", "x").lower().split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"input size {text!r} is not HxW (e.g. 256x512)") from None
    if len(values) != 2 or min(values) <= 0:
        raise ValueError(f"input size {text!r} is not HxW with positive sides (e.g. 256x512)")
    return values


def format_parameter_value(value: Any) -> str:
    """A ``-p name:=value`` literal that rcl parses (YAML) back to the same type (strings stay strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, separators=(",", ":"))


# --- the stack --------------------------------------------------------------------------------------------------
LAUNCH_ARGUMENTS: tuple[LaunchArgument, ...] = (
    LaunchArgument("namespace", "/perception", "Namespace of all SwiftCast nodes."),
    LaunchArgument(
        "params_file",
        STACK_PARAMS_FILE,
        "Parameter file for all nodes (absolute, relative to the current directory, or to launch/; "
        "params/jetson.yaml is the embedded profile, loaded on top of params/perception.yaml).",
    ),
    LaunchArgument("camera_topic", "/camera/image_raw", "Camera image topic (compressed input: <topic>/compressed)."),
    LaunchArgument("semseg_checkpoint", "", "Segmentation checkpoint folder (empty: the parameter file's)."),
    LaunchArgument("input_size", "", "Segmentation model input size HxW, e.g. 256x512 (empty: the parameter file's)."),
    LaunchArgument("use_rviz", "true", "Start rviz2 with rviz/perception.rviz (launch file only)."),
)

CAMERA_REMAPS: tuple[tuple[str, str], ...] = (
    ("/camera/image_raw", "{camera_topic}"),
    ("/camera/image_raw/compressed", "{camera_topic}/compressed"),
)

NODES: tuple[NodeEntry, ...] = (
    NodeEntry(
        name="semseg",
        package="semseg_node",
        executable="semseg_node",
        remaps=CAMERA_REMAPS,
        overrides=(
            ParamOverride("checkpoint", "semseg_checkpoint"),
            ParamOverride("input_size", "input_size", parse_size_argument),
        ),
    ),
    # the forecaster's features and decoder come from the same segmentation checkpoint as the semseg node's
    NodeEntry(
        name="forecast",
        package="forecast_node",
        executable="forecast_node",
        remaps=CAMERA_REMAPS,  # flow extrapolation reads the camera frames too
        overrides=(ParamOverride("checkpoint", "semseg_checkpoint"),),
    ),
)

#: Profiles (relative to launch/) that only amend :data:`~swiftcast.runtime.paths.STACK_PARAMS_FILE`: nodes load
#: that file first, then the profile (later values win), as rcl does with several ``--params-file`` options.
PARAMS_PROFILES: tuple[str, ...] = ("params/jetson.yaml",)

#: Started by the launch file only (no rviz on these machines): package, executable, config relative to launch/.
RVIZ: tuple[str, str, str] = ("rviz2", "rviz2", "rviz/perception.rviz")
RVIZ_CONDITION_ARGUMENT = "use_rviz"


def defaults() -> dict[str, str]:
    return {a.name: a.default for a in LAUNCH_ARGUMENTS}


def resolve_params_file(value: str, launch_dir: str | os.PathLike[str]) -> str:
    """Absolute path of a parameter file: as given if absolute, else under the current directory if it exists
    there, else under ``launch_dir`` (so the default ``params/perception.yaml`` works from anywhere)."""
    path = Path(os.path.expanduser(value))
    if path.is_absolute():
        return str(path)
    if path.exists():
        return str(path.resolve())
    return str((Path(launch_dir) / path).resolve())


def params_layers(value: str, launch_dir: str | os.PathLike[str]) -> list[str]:
    """The parameter files a node loads for the ``params_file`` argument ``value``, in order: a profile comes
    after the base file it amends; any other file is complete on its own."""
    path = resolve_params_file(value, launch_dir)
    profiles = {(Path(launch_dir) / p).resolve() for p in PARAMS_PROFILES}
    if Path(path).resolve() in profiles:
        return [str((Path(launch_dir) / STACK_PARAMS_FILE).resolve()), path]
    return [path]


def resolve(values: Mapping[str, str] | None, launch_dir: str | os.PathLike[str]) -> list[ResolvedNode]:
    """The nodes to start for launch argument ``values`` (missing ones take their defaults).

    Raises ValueError naming the argument for an unknown argument or a value that does not convert.
    """
    args = defaults()
    for key, value in (values or {}).items():
        if key not in args:
            raise ValueError(f"unknown launch argument {key!r} (known: {', '.join(args)})")
        args[key] = value
    params_files = params_layers(args["params_file"], launch_dir)
    nodes = []
    for entry in NODES:
        parameters: dict[str, Any] = {}
        for o in entry.overrides:
            raw = args[o.argument].strip()
            if raw:
                try:
                    parameters[o.parameter] = o.convert(raw)
                except ValueError as exc:
                    raise ValueError(f"launch argument {o.argument!r}: {exc}") from None
        remaps = []
        for src, template in entry.remaps:
            dst = template.format(**args)
            if dst != src:
                remaps.append((src, dst))
        nodes.append(
            ResolvedNode(
                name=entry.name,
                package=entry.package,
                executable=entry.executable,
                namespace=args["namespace"],
                params_files=list(params_files),
                parameters=parameters,
                remaps=remaps,
            )
        )
    return nodes
