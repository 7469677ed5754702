"""SwiftCast checkpoints: a directory with ``weights.safetensors`` (no pickle) and ``config.json``.

``config.json`` says how to rebuild the model (kind, architecture, arch_kwargs, num_classes), how to feed it
(normalization, input_size, class_names) and where it came from (training, metrics). ``model_id`` =
``<architecture>-<first 12 hex of a sha256 over the weights>``; loading recomputes it, so a silently damaged
weights file is caught too. Every problem becomes one :class:`CheckpointError` line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from swiftcast.errors import CheckpointError, SwiftcastError
from swiftcast.models.registry import FORECASTERS, SEGMENTATION, build_forecaster, build_model
from swiftcast.models.weights import TORCH_SUFFIXES, load_state_dict_file, state_dict_mismatch, weights_digest

FORMAT = "swiftcast.checkpoint/v1"
WEIGHTS_NAME = "weights.safetensors"
CONFIG_NAME = "config.json"
KINDS = {"segmentation": SEGMENTATION, "forecaster": FORECASTERS}


def model_id_for(architecture: str, state_dict: Mapping[str, torch.Tensor]) -> str:
    return f"{architecture}-{weights_digest(state_dict)[:12]}"


def _plain_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}


def save_checkpoint(out_dir: str | Path, model: nn.Module, config: Mapping[str, Any] | None = None) -> Path:
    """Write ``out_dir/weights.safetensors`` and ``out_dir/config.json``; returns ``out_dir``.

    ``model`` must come from build_model/build_forecaster/load_checkpoint (it knows its architecture). ``config``
    adds the caller's keys (input_size, training, metrics, method, horizon_frames, ...); format, kind,
    architecture, arch_kwargs, num_classes and model_id are always set here; class_names and normalization
    default to the Cityscapes ones for segmentation models.
    """
    from safetensors.torch import save_file

    spec = getattr(model, "swiftcast_spec", None)
    if spec is None:
        raise SwiftcastError("save_checkpoint needs a model built by build_model/build_forecaster/load_checkpoint")
    config = dict(config or {})
    for key in ("kind", "architecture"):
        if key in config and config[key] != spec[key]:
            raise SwiftcastError(f"config says {key}={config[key]!r} but the model is {spec[key]!r}")
    out: dict[str, Any] = {"format": FORMAT, **spec}
    if spec["kind"] == "segmentation":
        from swiftcast.data.labels import CLASS_NAMES
        from swiftcast.data.transforms import CITYSCAPES_MEAN, CITYSCAPES_STD

        n = spec["num_classes"]
        out["class_names"] = list(CLASS_NAMES) if n == len(CLASS_NAMES) else [f"class_{i}" for i in range(n)]
        out["normalization"] = {"mean": list(CITYSCAPES_MEAN), "std": list(CITYSCAPES_STD)}
    out.update({k: v for k, v in config.items() if k not in ("format", "model_id", "arch_kwargs", "num_classes")})
    state = _plain_state_dict(model)
    out["model_id"] = model_id_for(spec["architecture"], state)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # write-then-rename: a crash mid-write never leaves a half checkpoint under the final names
    tmp_weights = out_dir / f".{WEIGHTS_NAME}.tmp"
    save_file(state, str(tmp_weights), metadata={"format": "pt", "model_id": out["model_id"]})
    tmp_config = out_dir / f".{CONFIG_NAME}.tmp"
    tmp_config.write_text(json.dumps(out, indent=2) + "\n")
    os.replace(tmp_weights, out_dir / WEIGHTS_NAME)
    os.replace(tmp_config, out_dir / CONFIG_NAME)
    return out_dir


def _checkpoint_dir(path: Path) -> Path:
    if path.is_dir():
        return path
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint (expected a directory with {WEIGHTS_NAME} and {CONFIG_NAME})")
    if path.suffix in TORCH_SUFFIXES:
        raise CheckpointError(
            f"{path}: a torch file, not a SwiftCast checkpoint; convert an official SwiftNet state dict with "
            f"'swiftcast import-checkpoint {path} OUT_DIR'"
        )
    return path.parent


def read_config(path: str | Path) -> dict[str, Any]:
    """The validated config.json of a checkpoint (dir or a file in it), without loading the weights."""
    directory = _checkpoint_dir(Path(path))
    config_path = directory / CONFIG_NAME
    if not config_path.is_file():
        raise CheckpointError(f"{directory}: not a SwiftCast checkpoint (no {CONFIG_NAME})")
    try:
        config = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{config_path}: not valid JSON ({exc})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        found = config.get("format") if isinstance(config, dict) else None
        raise CheckpointError(f"{config_path}: format is {found!r}, expected {FORMAT!r}")
    kind = config.get("kind")
    if kind not in KINDS:
        raise CheckpointError(f"{config_path}: kind {kind!r} is not one of {', '.join(KINDS)}")
    arch = config.get("architecture")
    if arch not in KINDS[kind]:
        raise CheckpointError(f"{config_path}: unknown {kind} architecture {arch!r} (known: {', '.join(KINDS[kind])})")
    if not isinstance(config.get("arch_kwargs", {}), dict):
        raise CheckpointError(f"{config_path}: arch_kwargs must be an object")
    if kind == "segmentation" and not isinstance(config.get("num_classes"), int):
        raise CheckpointError(f"{config_path}: num_classes missing or not an integer")
    return config


def build_from_config(config: Mapping[str, Any]) -> nn.Module:
    """An untrained model of the architecture a checkpoint config describes."""
    kwargs = dict(config.get("arch_kwargs", {}))
    try:
        if config["kind"] == "segmentation":
            return build_model(config["architecture"], num_classes=config["num_classes"], **kwargs)
        return build_forecaster(config["architecture"], **kwargs)
    except SwiftcastError as exc:
        raise CheckpointError(f"checkpoint config cannot be built: {exc}") from None


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model from a checkpoint directory (or a file inside it); returns (model in eval mode, config)."""
    config = read_config(path)
    directory = _checkpoint_dir(Path(path))
    weights_path = directory / WEIGHTS_NAME
    state = load_state_dict_file(weights_path)
    expected_id = config.get("model_id")
    digest = weights_digest(state)[:12]
    if expected_id is not None and str(expected_id).rsplit("-", 1)[-1] != digest:
        raise CheckpointError(
            f"{weights_path}: weights do not match model_id {expected_id} in {CONFIG_NAME} (their digest is "
            f"{digest}); the file is damaged or was replaced"
        )
    model = build_from_config(config)
    problem = state_dict_mismatch({k: v.shape for k, v in model.state_dict().items()}, state)
    if problem:
        raise CheckpointError(f"{weights_path}: weights do not fit architecture {config['architecture']}: {problem}")
    model.load_state_dict(state, strict=True)
    return model.to(device).eval(), config


#: what each user of a segmentation model calls on it: single-frame segmentation, or the skip-less decoder
SEGMENTATION_USES: dict[str, str] = {"features": "forward_with_features", "decoder": "decode_features"}


def load_segmentation_model(
    path: str | os.PathLike[str], device: str | torch.device = "cpu", needs: tuple[str, ...] = ("features",)
) -> tuple[nn.Module, dict[str, Any]]:
    """A segmentation checkpoint ready for inference (eval mode, frozen), or one CheckpointError line.

    The one place that finds (relative paths per :mod:`swiftcast.runtime.paths`) and checks a segmentation
    checkpoint for the segmenter, the forecasting side and evaluation: the kind must be ``segmentation`` and the
    architecture must offer what the caller ``needs`` (keys of :data:`SEGMENTATION_USES`).
    """
    from swiftcast.runtime.paths import resolve_user_path  # pure path logic; no runtime machinery

    resolved = resolve_user_path(path)
    if not resolved.exists():
        raise CheckpointError(f"checkpoint {path} not found (looked at {resolved})")
    model, config = load_checkpoint(resolved, device=device)
    kind = config.get("kind", "segmentation")
    if kind != "segmentation":
        raise CheckpointError(f"checkpoint {resolved} is a {kind} checkpoint, not a segmentation model")
    for need in needs:
        if not hasattr(model, SEGMENTATION_USES[need]):
            what = "features" if need == "features" else "skip-less decoder"
            raise CheckpointError(f"checkpoint {resolved}: architecture {config.get('architecture')!r} has no {what}")
    model.eval().requires_grad_(False)
    return model, config
