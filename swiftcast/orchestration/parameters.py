"""Stack parameter files read the way the nodes get them: several files in order, a later value winning.

A profile such as ``launch/params/jetson.yaml`` only amends ``launch/params/perception.yaml``
(:func:`swiftcast.orchestration.stack_description.params_layers`); whoever needs the values a node ends up with
(a replay writing its own parameter file, a benchmark running the node's model bare) merges the layers here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from swiftcast.errors import SwiftcastError

#: what a parameter file is: node key (``/**/semseg``) -> {"ros__parameters": {name: value}}
ParameterFile = dict[str, dict[str, dict[str, Any]]]


def node_name(key: str) -> str:
    """The node a parameter-file key addresses: ``/**/semseg`` -> ``semseg``."""
    return str(key).rstrip("/").rsplit("/", 1)[-1]


def read_parameter_file(path: str | os.PathLike[str]) -> ParameterFile:
    """One parameter file, every section as ``{"ros__parameters": {...}}``; SwiftcastError naming the file."""
    path = Path(path)
    try:
        content = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise SwiftcastError(f"parameter file {path} cannot be read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise SwiftcastError(f"parameter file {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(content, dict) or not all(isinstance(s, dict) or s is None for s in content.values()):
        raise SwiftcastError(f"parameter file {path} must map node names to 'ros__parameters'")
    return {key: {"ros__parameters": dict((section or {}).get("ros__parameters") or {})}
            for key, section in content.items()}


def merge_parameter_files(paths: Sequence[str | os.PathLike[str]]) -> ParameterFile:
    """One parameter file equal to loading ``paths`` in order: sections with the same key are merged, a later
    file's values winning; keys are kept in the order they first appear."""
    merged: ParameterFile = {}
    for path in paths:
        for key, section in read_parameter_file(path).items():
            merged.setdefault(key, {"ros__parameters": {}})["ros__parameters"].update(section["ros__parameters"])
    return merged


def node_parameters(content: Mapping[str, Mapping[str, Any]], node: str) -> dict[str, Any]:
    """The parameters node ``node`` (``semseg``, ``forecast``) gets from ``content``, sections in file order."""
    out: dict[str, Any] = {}
    for key, section in content.items():
        if node_name(key) == node:
            out.update((section or {}).get("ros__parameters") or {})
    return out
