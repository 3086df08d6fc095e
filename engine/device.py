"""Device facts, in one place: the CPU's flags and name, the accelerator, the thread count, and
the one rule for when bfloat16 is worth using.

The bf16 rule (:func:`bf16_faster`, :func:`auto_precision`): bfloat16 on CUDA GPUs that support
it and on CPUs with AMX tiles (``amx_bf16`` and ``amx_tile`` in /proc/cpuinfo); float32
everywhere else. ``bench/precision.py`` measured it: on a CPU with AVX512-BF16 but no AMX,
MiniLM encoding 256 SciFact abstracts took 11.0 s under bf16 autocast against 7.6 s in float32,
so bf16 is not picked there. A caller that asks for bf16 explicitly still gets it wherever the
CPU can run it (:func:`cpu_bf16_supported`); ``auto`` only picks it where it is faster.

CPU facts are read from /proc/cpuinfo once per file (cached); anything torch reports is asked
lazily, so importing this module costs nothing.
"""

from __future__ import annotations

import functools
import os
import platform
from collections.abc import Iterable
from pathlib import Path

#: where the CPU's flags and model name are read from (tests point it at a fake file)
CPUINFO = Path("/proc/cpuinfo")
#: the CPU flags under which bf16 matrix products beat float32 (AMX tiles)
AMX_BF16 = frozenset({"amx_bf16", "amx_tile"})
#: precision names of the pilots and evaluation (``auto`` resolves by :func:`auto_precision`)
PRECISIONS = ("auto", "bf16", "fp32")


# ------------------------------------------------------------------------------------- CPU
@functools.cache
def _cpuinfo(path: str) -> tuple[frozenset[str], str]:
    """(flags, model name) of the first processor listed in a cpuinfo file; empty when it
    cannot be read (not Linux)."""
    flags: frozenset[str] = frozenset()
    name = ""
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key == "flags" and not flags:
                    flags = frozenset(value.split())
                elif key == "model name" and not name:
                    name = value.strip()
                if flags and name:
                    break
    except OSError:
        pass
    return flags, name


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (``avx512f``, ``amx_tile``...); empty where unknown."""
    return _cpuinfo(str(CPUINFO))[0]


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo (the platform's processor name elsewhere)."""
    return _cpuinfo(str(CPUINFO))[1] or platform.processor() or platform.machine() or "cpu"


def default_threads() -> int:
    """Threads for CPU work: ``$AUGPLAN_THREADS``, else every core this process may run on."""
    env = os.environ.get("AUGPLAN_THREADS")
    if env:
        return max(1, int(env))
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def cpu_bf16_faster(flags: Iterable[str] | None = None) -> bool:
    """Whether bf16 beats float32 on this CPU (or on one with ``flags``): AMX tiles."""
    have = cpu_flags() if flags is None else frozenset(flags)
    return AMX_BF16 <= have


def cpu_bf16_supported() -> bool:
    """Whether this CPU runs bf16 autocast natively at all (oneDNN: AVX-512 or AMX), faster or
    not: the test for an explicit request of bf16, never for picking it."""
    try:
        import torch

        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (ImportError, AttributeError, RuntimeError):
        return False


# ------------------------------------------------------------------------------------- GPU
def cuda_available() -> bool:
    """Whether torch sees a CUDA device (False without torch)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def cuda_bf16_supported() -> bool:
    """Whether the CUDA device runs bf16 (Ampere and later); False without one."""
    if not cuda_available():
        return False
    import torch

    return bool(torch.cuda.is_bf16_supported())


def device_kind() -> str:
    """``cuda`` where torch sees a CUDA device, else ``cpu``."""
    return "cuda" if cuda_available() else "cpu"


def device_name() -> str:
    """The GPU's name when CUDA is present, else the CPU's model name."""
    if cuda_available():
        import torch

        return str(torch.cuda.get_device_name(0))
    return cpu_name()


# ------------------------------------------------------------------------------- bf16 rule
def bf16_faster(device: str | None = None, *, flags: Iterable[str] | None = None) -> bool:
    """The bf16 rule: True on CUDA GPUs that support bf16 and on CPUs with AMX tiles.

    ``device`` is a torch device type (``cuda``, ``cpu``...); None means the device work goes to
    by default (:func:`device_kind`). ``flags`` stands for the CPU's flags (tests).
    """
    kind = (device or device_kind()).split(":", 1)[0]
    if kind == "cuda":
        return cuda_bf16_supported()
    if kind == "cpu":
        return cpu_bf16_faster(flags)
    return False


def auto_precision(device: str | None = None, *, flags: Iterable[str] | None = None) -> str:
    """``bf16`` where :func:`bf16_faster` holds, else ``fp32``."""
    return "bf16" if bf16_faster(device, flags=flags) else "fp32"


__all__ = ["AMX_BF16", "CPUINFO", "PRECISIONS", "auto_precision", "bf16_faster",
           "cpu_bf16_faster", "cpu_bf16_supported", "cpu_flags", "cpu_name", "cuda_available",
           "cuda_bf16_supported", "default_threads", "device_kind", "device_name"]
