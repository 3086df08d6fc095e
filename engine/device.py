"""Device facts, in one place: the CPU's flags and name, the accelerator, the thread count, and
the one rule for when bfloat16 is worth using.

The bf16 rule (:func:`bf16_faster`, :func:`auto_precision`): bfloat16 on CUDA GPUs that support
it, and on a CPU where a measurement says it is faster; float32 everywhere else. CPUs of one
family differ (``bench/precision.py``: with AVX512-BF16 but no AMX, MiniLM encoding took 11.0 s
under bf16 autocast against 7.6 s in float32; with AMX tiles bf16 wins), so the CPU answer is
not read from a flag list: :func:`calibrate_cpu` times MiniLM-shaped matrix products in both
precisions once per machine and caches the answer in ``$AUGPLAN_HOME/calibration.json``, keyed
by CPU name, flags, torch version and thread count. A CPU where oneDNN has no native bf16
(:func:`cpu_bf16_supported` is False, e.g. AVX2 only) is answered float32 without a measurement.
A caller that asks for bf16 explicitly still gets it wherever the CPU can run it; ``auto`` only
picks it where it is faster.

CPU facts are read from /proc/cpuinfo once per file (cached); anything torch reports is asked
lazily, so importing this module costs nothing.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: where the CPU's flags and model name are read from (tests point it at a fake file)
CPUINFO = Path("/proc/cpuinfo")
#: bf16 is picked on a CPU only when it measures at least this much faster than float32
BF16_MIN_SPEEDUP = 1.1
#: the version of the calibration: a change of the measurement invalidates cached answers
CALIBRATION_VERSION = 1
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


def cpu_bf16_faster() -> bool:
    """Whether bf16 beats float32 on this CPU, as measured once per machine (cached)."""
    return bool(calibrate_cpu()["bf16_faster"])


def cpu_bf16_supported() -> bool:
    """Whether this CPU runs bf16 autocast natively at all (oneDNN: AVX-512 or AMX), faster or
    not: the test for an explicit request of bf16, never for picking it."""
    try:
        import torch

        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (ImportError, AttributeError, RuntimeError):
        return False


# ----------------------------------------------------------------------- CPU calibration
def calibration_path() -> Path:
    """Where calibrations are cached: ``$AUGPLAN_HOME/calibration.json``."""
    return Path(os.environ.get("AUGPLAN_HOME", Path.home() / ".augplan")) / "calibration.json"


def calibration_key() -> str:
    """What a cached calibration holds for: CPU name, its flags, torch version, threads."""
    import torch

    flags = hashlib.sha256(" ".join(sorted(cpu_flags())).encode()).hexdigest()[:12]
    return (f"v{CALIBRATION_VERSION}|{cpu_name()}|flags {flags}|torch {torch.__version__}"
            f"|threads {torch.get_num_threads()}")


def time_bf16_vs_fp32(reps: int = 5) -> dict[str, float]:
    """Seconds of MiniLM-shaped work (a batch of 2,048 tokens through a 384 -> 1536 -> 384
    feed-forward, as in one encoder layer) in float32 and under bf16 autocast; the best of
    ``reps`` runs each, after a warm-up."""
    import torch

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2048, 384, generator=gen)
    up = torch.nn.Linear(384, 1536)
    down = torch.nn.Linear(1536, 384)

    def run(bf16: bool) -> float:
        ctx = torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)
        best = float("inf")
        with torch.inference_mode(), ctx:
            down(torch.nn.functional.gelu(up(x)))  # warm-up (oneDNN primitives)
            for _ in range(reps):
                t0 = time.perf_counter()
                for _ in range(4):
                    down(torch.nn.functional.gelu(up(x)))
                best = min(best, time.perf_counter() - t0)
        return best

    return {"fp32_s": run(False), "bf16_s": run(True)}


def calibrate_cpu(measure: Callable[[], dict[str, float]] | None = None) -> dict[str, Any]:
    """This machine's answer to "is bf16 faster than float32 on the CPU?": from the cache when
    it holds one for :func:`calibration_key`, else measured (``measure``, by default
    :func:`time_bf16_vs_fp32`, ~1 s) and cached. Without native bf16 the answer is float32 and
    nothing is timed."""
    key = calibration_key()
    path = calibration_path()
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cached = {}
    if not isinstance(cached, dict):
        cached = {}
    if isinstance(cached.get(key), dict) and "bf16_faster" in cached[key]:
        return dict(cached[key])
    if not cpu_bf16_supported():
        entry: dict[str, Any] = {"bf16_faster": False, "reason": "no native bf16 (oneDNN)"}
    else:
        t = (measure or time_bf16_vs_fp32)()
        speedup = t["fp32_s"] / t["bf16_s"] if t["bf16_s"] > 0 else 0.0
        entry = {"bf16_faster": speedup >= BF16_MIN_SPEEDUP, "speedup": round(speedup, 3),
                 "fp32_s": round(t["fp32_s"], 4), "bf16_s": round(t["bf16_s"], 4)}
    entry["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    cached[key] = entry
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(cached, indent=1) + "\n", encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass  # a read-only home: the answer holds for this process only
    return dict(entry)


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
def bf16_faster(device: str | None = None) -> bool:
    """The bf16 rule: True on CUDA GPUs that support bf16, and on a CPU where the cached
    calibration (:func:`calibrate_cpu`) measured it faster.

    ``device`` is a torch device type (``cuda``, ``cpu``...); None means the device work goes to
    by default (:func:`device_kind`).
    """
    kind = (device or device_kind()).split(":", 1)[0]
    if kind == "cuda":
        return cuda_bf16_supported()
    if kind == "cpu":
        return cpu_bf16_faster()
    return False


def auto_precision(device: str | None = None) -> str:
    """``bf16`` where :func:`bf16_faster` holds, else ``fp32``."""
    return "bf16" if bf16_faster(device) else "fp32"


__all__ = ["BF16_MIN_SPEEDUP", "CPUINFO", "PRECISIONS", "auto_precision", "bf16_faster",
           "calibrate_cpu", "calibration_key", "calibration_path", "cpu_bf16_faster",
           "cpu_bf16_supported", "cpu_flags", "cpu_name", "cuda_available",
           "cuda_bf16_supported", "default_threads", "device_kind", "device_name",
           "time_bf16_vs_fp32"]
