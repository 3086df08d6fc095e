"""Device facts: cpuinfo parsing, the one bf16 rule, thread count, device name."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import device

SAPPHIRE_RAPIDS = "fpu sse2 avx2 avx512f avx512bw avx512_bf16 amx_bf16 amx_tile amx_int8"
COOPER_LAKE = "fpu sse2 avx2 avx512f avx512bw avx512_bf16"  # AVX512-BF16, no AMX tiles
ZEN3 = "fpu sse2 avx2 fma"


def cpuinfo(tmp_path: Path, flags: str, name: str = "Test CPU @ 2.0GHz") -> Path:
    """A fake /proc/cpuinfo of two processors with ``flags``."""
    block = (f"processor\t: {{n}}\nvendor_id\t: GenuineIntel\nmodel name\t: {name}\n"
             f"flags\t\t: {flags}\n\n")
    path = tmp_path / f"cpuinfo-{abs(hash((flags, name)))}"
    path.write_text(block.format(n=0) + block.format(n=1), encoding="utf-8")
    return path


@pytest.fixture
def cpu_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a machine without CUDA, whatever this one has."""
    monkeypatch.setattr(device, "cuda_available", lambda: False)


@pytest.mark.parametrize(("flags", "bf16"), [
    (SAPPHIRE_RAPIDS, True),
    (COOPER_LAKE, False),  # bench/precision.py: bf16 11.0 s against 7.6 s in float32 here
    (ZEN3, False),
    ("amx_bf16 avx512_bf16", False),  # no tiles, no AMX
    ("", False),
])
def test_bf16_rule_on_cpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cpu_only: None,
                           flags: str, bf16: bool) -> None:
    monkeypatch.setattr(device, "CPUINFO", cpuinfo(tmp_path, flags))
    assert device.cpu_flags() == frozenset(flags.split())
    assert device.cpu_bf16_faster() is bf16
    assert device.bf16_faster() is bf16 and device.bf16_faster("cpu") is bf16
    assert device.auto_precision() == ("bf16" if bf16 else "fp32")
    # the same answer from the flags alone
    assert device.bf16_faster("cpu", flags=flags.split()) is bf16


def test_bf16_rule_on_gpus(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(device, "CPUINFO", cpuinfo(tmp_path, ZEN3))
    monkeypatch.setattr(device, "cuda_available", lambda: True)
    for supported in (True, False):
        monkeypatch.setattr(device, "cuda_bf16_supported", lambda s=supported: s)
        assert device.device_kind() == "cuda"
        assert device.bf16_faster() is supported and device.bf16_faster("cuda:0") is supported
        assert device.auto_precision() == ("bf16" if supported else "fp32")
        assert device.bf16_faster("cpu") is False  # the CPU still has no AMX
    assert device.bf16_faster("mps") is False


def test_unreadable_cpuinfo_means_no_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           cpu_only: None) -> None:
    monkeypatch.setattr(device, "CPUINFO", tmp_path / "missing")
    assert device.cpu_flags() == frozenset()
    assert device.auto_precision() == "fp32"
    assert device.cpu_name()  # the platform's processor name, or at least "cpu"


def test_cpu_and_device_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              cpu_only: None) -> None:
    monkeypatch.setattr(device, "CPUINFO", cpuinfo(tmp_path, ZEN3, "AMD EPYC 7B13"))
    assert device.cpu_name() == "AMD EPYC 7B13"
    assert device.device_name() == "AMD EPYC 7B13"  # no CUDA: the CPU names the device
    assert device.device_kind() == "cpu"


def test_the_real_machine_answers_consistently() -> None:
    flags = device.cpu_flags()
    assert device.cpu_flags() is flags  # read once
    assert device.cpu_bf16_faster() is (device.AMX_BF16 <= flags)
    assert device.auto_precision() in ("bf16", "fp32")
    assert isinstance(device.cpu_bf16_supported(), bool)
    assert device.device_name()


def test_default_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUGPLAN_THREADS", "3")
    assert device.default_threads() == 3
    monkeypatch.setenv("AUGPLAN_THREADS", "0")
    assert device.default_threads() == 1
    monkeypatch.delenv("AUGPLAN_THREADS")
    import os

    assert device.default_threads() == len(os.sched_getaffinity(0))


def test_pilots_and_evaluation_use_the_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    from engine import evaluate, pilot
    from engine.pilot import config

    for rule in ("bf16", "fp32"):
        monkeypatch.setattr(config, "auto_precision", lambda r=rule: r)
        assert config._precision("auto") == rule
    assert config._precision("fp32") == "fp32" and config._precision("bf16") == "bf16"
    with pytest.raises(Exception, match="--precision 'fp16'"):
        config._precision("fp16")
    assert pilot.device_name is device.device_name
    assert evaluate.bf16_faster is device.bf16_faster
