"""Safe weight files: reading state dicts without running pickled code, checking them against a model, hashing.

Shared by checkpoints, ``--backbone-weights PATH`` and the official-checkpoint importer, so every way of getting
weights into a model fails the same way: one :class:`CheckpointError` line saying what is wrong.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import torch
from torch import nn

from swiftcast.errors import CheckpointError

StateDict = dict[str, torch.Tensor]

TORCH_SUFFIXES = (".pt", ".pth", ".tar", ".ckpt", ".bin")
_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "weights")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def load_state_dict_file(path: str | Path) -> StateDict:
    """Read a state dict from ``.safetensors`` or a torch file (``torch.load(weights_only=True)``: no pickled code).

    Unwraps the usual ``{"state_dict": ...}`` / ``{"model": ...}`` containers and a DataParallel ``module.`` prefix.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as exc:  # safetensors raises its own error types for truncated/corrupted headers
            raise CheckpointError(f"{path}: not a readable safetensors file ({_first_line(exc)})") from None
    if path.suffix not in TORCH_SUFFIXES:
        raise CheckpointError(
            f"{path}: unknown weights format {path.suffix!r} (expected .safetensors or a torch {'/'.join(TORCH_SUFFIXES)} file)"
        )
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path}: refusing to unpickle it: it holds more than plain tensors ({_first_line(exc)})"
        ) from None
    except Exception as exc:
        raise CheckpointError(f"{path}: not a readable torch file, truncated or corrupted ({_first_line(exc)})") from None
    return _unwrap_state_dict(obj, path)


def _unwrap_state_dict(obj: Any, path: Path) -> StateDict:
    if isinstance(obj, Mapping):
        for key in _WRAPPER_KEYS:
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(f"{path}: does not contain a state dict (a mapping of names to tensors)")
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{path}: not a plain state dict; non-tensor entries: {_short_list(bad)}")
    if all(k.startswith("module.") for k in obj):
        return {k[len("module.") :]: v for k, v in obj.items()}
    return dict(obj)


def _short_list(items: Iterable[str], limit: int = 5) -> str:
    items = list(items)
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def state_dict_mismatch(
    expected: Mapping[str, torch.Size | tuple[int, ...]], given: Mapping[str, torch.Tensor]
) -> str | None:
    """A one-line description of how ``given`` differs from the expected names and shapes, or None if it fits."""
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    misshaped = [
        f"{k} {tuple(given[k].shape)} vs {tuple(shape)}"
        for k, shape in expected.items()
        if k in given and tuple(given[k].shape) != tuple(shape)
    ]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing ({_short_list(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected ({_short_list(unexpected)})")
    if misshaped:
        parts.append(f"{len(misshaped)} mis-shaped (file vs model: {_short_list(misshaped, 3)})")
    return "; ".join(parts) or None


def load_matching(module: nn.Module, state_dict: Mapping[str, torch.Tensor], what: str) -> None:
    """``module.load_state_dict(strict=True)`` that reports every mismatch as one CheckpointError line."""
    expected = {k: v.shape for k, v in module.state_dict().items()}
    problem = state_dict_mismatch(expected, state_dict)
    if problem:
        raise CheckpointError(f"{what} does not fit the model: {problem}")
    module.load_state_dict(dict(state_dict), strict=True)


def load_pretrained(
    module: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    what: str,
    source_key: Callable[[str], str] = lambda key: key,
    ignore_prefixes: tuple[str, ...] = (),
) -> None:
    """Load a backbone from a state dict with the *source* model's names (e.g. torchvision's).

    ``source_key`` maps each of our parameter names to the source name (several of ours may share one source
    tensor, e.g. per-scale BatchNorms); source entries under ``ignore_prefixes`` (classifier heads) are skipped.
    BatchNorm ``num_batches_tracked`` counters are optional, as old torchvision files lack them.
    """
    own = module.state_dict()
    mapped: StateDict = {}
    for key, tensor in own.items():
        src = source_key(key)
        if src in state_dict:
            mapped[key] = state_dict[src]
        elif key.endswith("num_batches_tracked"):
            mapped[key] = tensor
    used = {source_key(k) for k in own}
    extra = [k for k in state_dict if k not in used and not k.startswith(ignore_prefixes)]
    problem = state_dict_mismatch({k: v.shape for k, v in own.items()}, mapped)
    if extra:
        problem = "; ".join(filter(None, [problem, f"{len(extra)} unexpected ({_short_list(extra)})"]))
    if problem:
        raise CheckpointError(f"{what} does not fit the backbone: {problem}")
    module.load_state_dict(mapped, strict=True)


def fetch_torchvision_weights(weights: Any) -> StateDict:
    """State dict of a torchvision ``Weights`` enum member (downloads into the torch hub cache if needed)."""
    try:
        return weights.get_state_dict(progress=False)
    except Exception as exc:
        raise CheckpointError(
            f"could not get torchvision {weights} ({weights.url}): {_first_line(exc)}; without internet, download "
            "that file elsewhere and pass it as --backbone-weights PATH"
        ) from None


def weights_digest(state_dict: Mapping[str, torch.Tensor]) -> str:
    """sha256 over names, dtypes, shapes and bytes of all tensors (sorted by name): independent of file layout."""
    h = hashlib.sha256()
    for key in sorted(state_dict):
        t = state_dict[key].detach().to("cpu").contiguous()
        h.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()
