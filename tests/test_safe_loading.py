"""No pickled code runs when SwiftCast reads a file a user hands it.

Each loader that could be given a pickle -- the training state of ``--resume`` (``train_state.pt``),
``--backbone-weights PATH``, the source of ``swiftcast import-checkpoint``, a checkpoint's weights file -- gets a
planted malicious pickle whose payload would create a marker file; the loader must refuse it with a one-line
error and the marker must not exist. YAML parameter files get the same treatment (``!!python/object/apply``).
A source audit keeps it that way: no ``torch.load`` without ``weights_only=True``, no ``pickle.load``,
``yaml.load``/``unsafe_load`` or ``np.load(..., allow_pickle=True)`` anywhere in the shipped code.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from swiftcast.errors import SwiftcastError

REPO = Path(__file__).resolve().parents[1]


class _Payload:
    """Unpickling this runs ``exec``, which creates ``marker`` (what an attacker's file would do instead)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').close()",)


def _plant(path: Path, marker: Path, wrap=lambda payload: payload) -> Path:
    torch.save(wrap(_Payload(marker)), path)
    return path


def test_the_payload_really_runs_when_unpickled(tmp_path):
    """The control: without weights_only the planted file does execute its payload."""
    marker = tmp_path / "pwned"
    evil = _plant(tmp_path / "evil.pt", marker)
    torch.load(evil, weights_only=False)
    assert marker.exists()


def test_resume_state_is_not_unpickled(tmp_path):
    from swiftcast.train.loop import load_training_state

    marker = tmp_path / "pwned"
    evil = _plant(tmp_path / "train_state.pt", marker, lambda p: {"iteration": 3, "optimizer": p})
    with pytest.raises(SwiftcastError) as err:
        load_training_state(evil)
    assert "\n" not in str(err.value) and "train_state.pt" in str(err.value)
    assert not marker.exists()


def test_backbone_weights_are_not_unpickled(tmp_path):
    from swiftcast.models import build_model

    marker = tmp_path / "pwned"
    evil = _plant(tmp_path / "resnet18.pth", marker, lambda p: {"state_dict": {"conv1.weight": p}})
    with pytest.raises(SwiftcastError, match="refusing to unpickle"):
        build_model("swiftnet_rn18", backbone_weights=str(evil))
    assert not marker.exists()


def test_import_checkpoint_source_is_not_unpickled(tmp_path, capsys):
    from swiftcast.cli import main

    marker = tmp_path / "pwned"
    evil = _plant(tmp_path / "swiftnet_official.pt", marker, lambda p: {"model": p})
    assert main(["import-checkpoint", str(evil), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "refusing to unpickle" in err and "Traceback" not in err
    assert not marker.exists() and not (tmp_path / "out" / "config.json").exists()


def test_a_pickle_in_place_of_checkpoint_weights_is_refused(tmp_path):
    from swiftcast.models import build_model, load_checkpoint, save_checkpoint

    ckpt = save_checkpoint(tmp_path / "ckpt", build_model("swiftnet_rn18"), {"input_size": [64, 128]})
    marker = tmp_path / "pwned"
    _plant(ckpt / "weights.safetensors", marker)
    with pytest.raises(SwiftcastError, match="not a readable safetensors file"):
        load_checkpoint(ckpt)
    assert not marker.exists()


def test_yaml_parameter_files_are_safe_loaded(tmp_path):
    pytest.importorskip("rclpy")
    try:
        from swiftcast_ros.entry import params_file_problem
    except ImportError:
        pytest.skip("ros2_ws not built / not on the path (run via make test)")

    marker = tmp_path / "pwned"
    evil = tmp_path / "params.yaml"
    evil.write_text(f"/**/semseg:\n  ros__parameters: !!python/object/apply:os.system ['touch {marker}']\n")
    problem = params_file_problem(["semseg_node", "--ros-args", "--params-file", str(evil)])
    assert problem is not None and "not valid YAML" in problem
    assert not marker.exists()


# --- the audit: every file read in the shipped code goes through a safe loader --------------------------------------
SOURCES = [p for d in ("swiftcast", "ros2_ws/src", "benchmarks", "tools", "launch") for p in (REPO / d).rglob("*.py")]
UNSAFE = {
    "torch.load without weights_only=True": re.compile(r"torch\.load\("),
    "pickle.load(s)": re.compile(r"\b(c?pickle|dill|joblib)\.loads?\("),
    "yaml.load / unsafe_load": re.compile(r"\byaml\.(load|unsafe_load|full_load|load_all)\("),
    "np.load(allow_pickle=True)": re.compile(r"allow_pickle\s*=\s*True"),
    "torch.jit.load / torch.package": re.compile(r"torch\.(jit\.load|package\.PackageImporter)\("),
}


def _call(text: str, open_paren: int) -> str:
    """The argument text of the call whose ``(`` is at ``open_paren`` (up to its matching ``)``)."""
    depth = 0
    for i in range(open_paren, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return text[open_paren : i + 1]
    return text[open_paren:]


@pytest.mark.parametrize("what", sorted(UNSAFE))
def test_no_unsafe_loader_in_the_source(what):
    assert SOURCES, "no sources found"
    hits = []
    for path in SOURCES:
        text = path.read_text(errors="replace")
        for match in UNSAFE[what].finditer(text):
            if what.startswith("torch.load") and "weights_only=True" in _call(text, match.end() - 1):
                continue
            line = text.count("\n", 0, match.start()) + 1
            hits.append(f"{path.relative_to(REPO)}:{line}: {match.group(0)[:80]}")
    assert not hits, f"{what}:\n" + "\n".join(hits)
