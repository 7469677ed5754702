"""SwiftCast checkpoints: a directory with ``weights.safetensors`` (no pickle) and ``config.json``.

``config.json`` says how to rebuild the model (kind, architecture, arch_kwargs, num_classes), how to feed it
(normalization, input_size, class_names) and where it came from (training, metrics). ``model_id`` =
``<architecture>-<first 12 hex of a sha256 over the weights>``; loading recomputes it, so a silently damaged
weights file is caught too. Every problem becomes one :class:`CheckpointError` line.

A segmentation checkpoint may also carry the skip-less forecast decoder of its features (see
:mod:`swiftcast.forecast.decoder`): its tensors in ``forecast_decoder.safetensors`` and its shape in config.json
(``"forecast_decoder": {"num_features": 128, "widths": [64, 32, 16]}``). So may a forecaster whose -FT tuned the
decoder together with it (``train-forecast --tune-decoder``; its entry also names ``num_classes``): that decoder
then decodes its forecasts. ``weights.safetensors`` holds the
segmentation network only. ``model_id`` covers both files (the decoder's tensors named ``forecast_decoder.*``), so a
checkpoint keeps the id it had when both lived in one file, and forecasts decoded with another decoder get another
id. Older checkpoints with ``forecast_decoder.*`` tensors in ``weights.safetensors`` load as if split;
:func:`convert_checkpoint` rewrites them in this layout.
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
#: the forecast decoder part of a segmentation checkpoint, and how its tensors are named inside ``model_id``
DECODER_WEIGHTS_NAME = "forecast_decoder.safetensors"
DECODER_PREFIX = "forecast_decoder."
KINDS = {"segmentation": SEGMENTATION, "forecaster": FORECASTERS}


def model_id_for(architecture: str, state_dict: Mapping[str, torch.Tensor]) -> str:
    return f"{architecture}-{weights_digest(state_dict)[:12]}"


def _plain_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}


def split_decoder_state(
    state: Mapping[str, torch.Tensor]
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(segmentation tensors, forecast decoder tensors without their ``forecast_decoder.`` prefix) of one state
    dict: the layout of checkpoints (and models) from when the decoder was part of the segmentation model."""
    seg = {k: v for k, v in state.items() if not k.startswith(DECODER_PREFIX)}
    decoder = {k[len(DECODER_PREFIX):]: v for k, v in state.items() if k.startswith(DECODER_PREFIX)}
    return seg, decoder


def checkpoint_digest_state(
    state: Mapping[str, torch.Tensor], decoder_state: Mapping[str, torch.Tensor] | None
) -> dict[str, torch.Tensor]:
    """What ``model_id`` is computed over: the weights plus the decoder's tensors under ``forecast_decoder.*``."""
    return {**state, **{DECODER_PREFIX + k: v for k, v in (decoder_state or {}).items()}}


def _decoder_entry(decoder: Any, num_features: int, with_classes: bool = False) -> dict[str, Any]:
    """The config.json entry that rebuilds a forecast decoder (duck-typed: ``widths``, optional ``num_features``;
    ``with_classes``: also ``num_classes``, for a forecaster's config, which has no class count of its own)."""
    entry = {"num_features": int(getattr(decoder, "num_features", None) or num_features),
             "widths": [int(w) for w in decoder.widths]}
    if with_classes:
        entry["num_classes"] = int(decoder.num_classes)
    return entry


def save_checkpoint(
    out_dir: str | Path, model: nn.Module, config: Mapping[str, Any] | None = None, decoder: nn.Module | None = None
) -> Path:
    """Write ``out_dir/weights.safetensors`` and ``out_dir/config.json``; returns ``out_dir``.

    ``model`` must come from build_model/build_forecaster/load_checkpoint (it knows its architecture). ``config``
    adds the caller's keys (input_size, training, metrics, method, horizon_frames, ...); format, kind,
    architecture, arch_kwargs, num_classes and model_id are always set here; class_names and normalization
    default to the Cityscapes ones for segmentation models. ``decoder``: the forecast decoder of a segmentation
    model's features (or the one a forecaster's -FT tuned with it), written as the checkpoint's decoder part (a
    model that still has a ``forecast_decoder`` submodule has it written there too).
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
    state, decoder_state = split_decoder_state(_plain_state_dict(model))
    arch_kwargs = dict(spec.get("arch_kwargs") or {})
    arch_kwargs.pop("decoder_widths", None)  # a model built while the decoder was part of it
    out["arch_kwargs"] = arch_kwargs
    decoder_entry = None
    if decoder is not None:
        if spec["kind"] not in ("segmentation", "forecaster"):
            raise SwiftcastError(f"a {spec['kind']} checkpoint carries no forecast decoder")
        decoder_state = _plain_state_dict(decoder)
        decoder_entry = _decoder_entry(decoder, 0, with_classes=spec["kind"] == "forecaster")
    elif decoder_state:
        decoder_entry = _decoder_entry(model.forecast_decoder, getattr(model, "num_features", 128))
    if spec["kind"] == "segmentation":
        from swiftcast.data.labels import CLASS_NAMES
        from swiftcast.data.transforms import CITYSCAPES_MEAN, CITYSCAPES_STD

        n = spec["num_classes"]
        out["class_names"] = list(CLASS_NAMES) if n == len(CLASS_NAMES) else [f"class_{i}" for i in range(n)]
        out["normalization"] = {"mean": list(CITYSCAPES_MEAN), "std": list(CITYSCAPES_STD)}
    out.update({k: v for k, v in config.items()
                if k not in ("format", "model_id", "arch_kwargs", "num_classes", "forecast_decoder")})
    if decoder_entry is not None:
        out["forecast_decoder"] = decoder_entry
    out["model_id"] = model_id_for(spec["architecture"], checkpoint_digest_state(state, decoder_state))

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # write-then-rename: a crash mid-write never leaves a half checkpoint under the final names
    tmp_weights = out_dir / f".{WEIGHTS_NAME}.tmp"
    save_file(state, str(tmp_weights), metadata={"format": "pt"})
    if decoder_entry is not None:
        save_file(decoder_state, str(out_dir / f".{DECODER_WEIGHTS_NAME}.tmp"), metadata={"format": "pt"})
    tmp_config = out_dir / f".{CONFIG_NAME}.tmp"
    tmp_config.write_text(json.dumps(out, indent=2) + "\n")
    os.replace(tmp_weights, out_dir / WEIGHTS_NAME)
    if decoder_entry is not None:
        os.replace(out_dir / f".{DECODER_WEIGHTS_NAME}.tmp", out_dir / DECODER_WEIGHTS_NAME)
    else:
        (out_dir / DECODER_WEIGHTS_NAME).unlink(missing_ok=True)  # a decoder of earlier weights is not theirs
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
    entry = config.get("forecast_decoder")
    if entry is not None and not (isinstance(entry, dict) and isinstance(entry.get("widths"), list)):
        raise CheckpointError(f"{config_path}: forecast_decoder must be an object with a widths list")
    arch_kwargs = config.get("arch_kwargs") or {}
    if kind == "segmentation" and "decoder_widths" in arch_kwargs:  # the decoder was part of the model then
        arch_kwargs = dict(arch_kwargs)
        widths = arch_kwargs.pop("decoder_widths")
        config["arch_kwargs"] = arch_kwargs
        if entry is None and widths:
            config["forecast_decoder"] = {"num_features": int(arch_kwargs.get("num_features", 128)),
                                          "widths": [int(w) for w in widths]}
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


def read_checkpoint(
    path: str | Path
) -> tuple[dict[str, Any], dict[str, torch.Tensor], dict[str, torch.Tensor] | None]:
    """(config, weights, forecast decoder tensors or None) of a checkpoint, checked against its ``model_id``.

    An older segmentation checkpoint with ``forecast_decoder.*`` tensors in its weights comes back split, its config
    with the decoder entry those tensors need."""
    config = read_config(path)
    directory = _checkpoint_dir(Path(path))
    weights_path = directory / WEIGHTS_NAME
    state, decoder_state = split_decoder_state(load_state_dict_file(weights_path))
    if decoder_state:
        if config.get("forecast_decoder") is None:
            nf = int((config.get("arch_kwargs") or {}).get("num_features", 128))
            config["forecast_decoder"] = {"num_features": nf, "widths": [nf] * 3}
    elif config.get("forecast_decoder") is not None:
        decoder_path = directory / DECODER_WEIGHTS_NAME
        if not decoder_path.is_file():
            raise CheckpointError(f"{directory}: {CONFIG_NAME} names a forecast decoder but {DECODER_WEIGHTS_NAME} "
                                  "is missing")
        decoder_state = load_state_dict_file(decoder_path)
    expected_id = config.get("model_id")
    digest = weights_digest(checkpoint_digest_state(state, decoder_state))[:12]
    if expected_id is not None and str(expected_id).rsplit("-", 1)[-1] != digest:
        raise CheckpointError(
            f"{weights_path}: weights do not match model_id {expected_id} in {CONFIG_NAME} (their digest is "
            f"{digest}); the file is damaged or was replaced"
        )
    return config, state, decoder_state or None


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model from a checkpoint directory (or a file inside it); returns (model in eval mode, config).

    For a segmentation checkpoint that is the segmentation network alone; its forecast decoder (if any) is loaded
    by :func:`swiftcast.forecast.decoder.load_forecast_decoder`."""
    config, state, _ = read_checkpoint(path)
    model = build_from_config(config)
    problem = state_dict_mismatch({k: v.shape for k, v in model.state_dict().items()}, state)
    if problem:
        weights_path = _checkpoint_dir(Path(path)) / WEIGHTS_NAME
        raise CheckpointError(f"{weights_path}: weights do not fit architecture {config['architecture']}: {problem}")
    model.load_state_dict(state, strict=True)
    return model.to(device).eval(), config


def convert_checkpoint(path: str | Path) -> bool:
    """Rewrite an older segmentation checkpoint in place with its forecast decoder in a file of its own (same
    tensors, same ``model_id``); False when there was nothing to convert."""
    config, state, decoder_state = read_checkpoint(path)
    directory = _checkpoint_dir(Path(path))
    if config.get("kind") != "segmentation" or not decoder_state:
        return False
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(directory / WEIGHTS_NAME), "pt") as f:
        if not any(k.startswith(DECODER_PREFIX) for k in f.keys()):
            return False

    save_file(decoder_state, str(directory / f".{DECODER_WEIGHTS_NAME}.tmp"), metadata={"format": "pt"})
    save_file(state, str(directory / f".{WEIGHTS_NAME}.tmp"), metadata={"format": "pt"})
    (directory / f".{CONFIG_NAME}.tmp").write_text(json.dumps(config, indent=2) + "\n")
    os.replace(directory / f".{DECODER_WEIGHTS_NAME}.tmp", directory / DECODER_WEIGHTS_NAME)
    os.replace(directory / f".{WEIGHTS_NAME}.tmp", directory / WEIGHTS_NAME)
    os.replace(directory / f".{CONFIG_NAME}.tmp", directory / CONFIG_NAME)
    return True


#: what each user of a segmentation model calls on it: single-frame segmentation
SEGMENTATION_USES: dict[str, str] = {"features": "forward_with_features"}


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
            raise CheckpointError(f"checkpoint {resolved}: architecture {config.get('architecture')!r} has no {need}")
    model.eval().requires_grad_(False)
    return model, config
