"""What the machine can do fast: CPU model and vector extensions, devices, and the training precision to use.

CPUs differ by large factors on exactly the operations SwiftCast depends on (int8 with VNNI, bf16 with AMX or
AVX512-BF16), so every fast path is chosen here from what the CPU reports, and every benchmark and checkpoint
records the CPU it ran on.
"""

from __future__ import annotations

import os
import platform
from functools import lru_cache
from typing import Any, Sequence

import torch

from swiftcast.errors import SwiftcastError

#: vector extensions that change CPU timings by large factors
CPU_FEATURES = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
#: bf16 matrix instructions: with one of these, bf16 autocast trains faster than fp32 on a CPU
BF16_FEATURES = ("amx_bf16", "avx512_bf16")
#: what ``--precision`` accepts for training
TRAIN_PRECISIONS = ("auto", "fp32", "bf16")
#: int8 dot-product instructions: with one of these, int8 inference is about 2x faster than fp32 on a CPU; without
#: them ONNX Runtime's int8 kernels multiply in 16 bits and gain little over fp32, or lose
INT8_FEATURES = ("avx512_vnni", "avx_vnni", "amx_int8")


@lru_cache(maxsize=1)
def cpu_description() -> dict[str, Any]:
    """Model name and which of :data:`CPU_FEATURES` the CPU has (Linux ``/proc/cpuinfo``; empty elsewhere)."""
    try:
        text = open("/proc/cpuinfo", encoding="utf-8", errors="replace").read()
    except OSError:
        return {"model": platform.processor() or platform.machine(), "features": []}
    first_cpu = text.split("\n\n", 1)[0]
    fields = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in first_cpu.splitlines())}
    flags = set(fields.get("flags", "").split())
    model = fields.get("model name") or platform.processor() or platform.machine()
    return {"model": model, "features": [f for f in CPU_FEATURES if f in flags]}


def cpu_model() -> str:
    return cpu_description().get("model", "unknown CPU")


def cpu_has_bf16() -> bool:
    """Whether the CPU has bf16 matrix instructions (AMX-BF16 or AVX512-BF16)."""
    return any(f in cpu_description().get("features", []) for f in BF16_FEATURES)


def cpu_int8_features(features: Sequence[str] | None = None) -> list[str]:
    """Which of :data:`INT8_FEATURES` the CPU has (``features``: a feature list instead of this CPU's)."""
    have = cpu_description().get("features", []) if features is None else features
    return [f for f in INT8_FEATURES if f in have]


def resolve_device(name: str = "auto", index: int | None = None) -> torch.device:
    """``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` -> a torch device (``auto`` = the GPU when there is one).

    ``index`` picks the GPU for a bare ``cuda`` or ``auto`` (e.g. a torchrun process's local rank); ``cuda:N`` names
    it. The one device check of SwiftCast: training, evaluation, the segmenter and both nodes' ``device`` parameter.
    SwiftcastError if the name is not a device or the device is not usable here.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError, TypeError):
        raise SwiftcastError(f"device {name!r} is not a device (use auto, cpu, cuda or cuda:N)") from None
    if dev.type == "cpu":
        return torch.device("cpu")
    if dev.type != "cuda":
        raise SwiftcastError(f"device {name!r} is not supported (use auto, cpu, cuda or cuda:N)")
    if not torch.cuda.is_available():
        raise SwiftcastError(f"device {name!r}: CUDA is not available on this machine")
    if dev.index is None and index is not None:
        dev = torch.device("cuda", index)
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        raise SwiftcastError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s)")
    return dev


def default_workers() -> int:
    """Data-loader worker processes: 1 on a machine with 2 cores or fewer (the main process needs the rest)."""
    cores = os.cpu_count() or 1
    return 1 if cores <= 2 else min(4, cores // 2)


def resolve_precision(name: str, device: torch.device) -> str:
    """``auto`` -> ``bf16`` on a GPU that supports it or a CPU with bf16 matrix instructions, else ``fp32``.

    An explicit ``bf16`` is honoured everywhere (emulated bf16 is slow but correct); ``fp32`` always is.
    """
    if name not in TRAIN_PRECISIONS:
        raise SwiftcastError(f"unknown precision {name!r}; choose from {', '.join(TRAIN_PRECISIONS)}")
    if name != "auto":
        return name
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_bf16() else "fp32"


def autocast(device: torch.device, precision: str) -> torch.autocast:
    """The autocast context of a resolved precision (disabled for fp32)."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
