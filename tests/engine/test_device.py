"""Device facts: cpuinfo parsing, the one bf16 rule, thread count, device name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine import device

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


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh AUGPLAN_HOME: no calibration cached yet."""
    monkeypatch.setenv("AUGPLAN_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.mark.parametrize(("fp32_s", "bf16_s", "bf16"), [
    (7.6, 11.0, False),  # AVX512-BF16 without AMX (bench/precision.py): slower
    (1.0, 0.95, False),  # faster, but not by BF16_MIN_SPEEDUP
    (1.0, 0.4, True),  # AMX tiles
])
def test_cpu_bf16_is_decided_by_a_measurement_cached_per_machine(
        home: Path, monkeypatch: pytest.MonkeyPatch, cpu_only: None,
        fp32_s: float, bf16_s: float, bf16: bool) -> None:
    monkeypatch.setattr(device, "cpu_bf16_supported", lambda: True)
    calls: list[int] = []

    def measure() -> dict[str, float]:
        calls.append(1)
        return {"fp32_s": fp32_s, "bf16_s": bf16_s}

    entry = device.calibrate_cpu(measure)
    assert entry["bf16_faster"] is bf16 and entry["speedup"] == round(fp32_s / bf16_s, 3)
    assert calls == [1]
    cached = json.loads(device.calibration_path().read_text())
    assert cached[device.calibration_key()]["bf16_faster"] is bf16
    # every later question is answered from the cache, in this process or the next
    assert device.calibrate_cpu(measure)["bf16_faster"] is bf16 and calls == [1]
    monkeypatch.setattr(device, "time_bf16_vs_fp32", lambda: pytest.fail("measured again"))
    assert device.cpu_bf16_faster() is bf16
    assert device.bf16_faster() is bf16 and device.bf16_faster("cpu") is bf16
    assert device.auto_precision() == ("bf16" if bf16 else "fp32")
    # another machine (other threads, flags, CPU or torch) is measured anew, in the same file
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, threads - 1) if threads > 1 else 2)
    try:
        device.calibrate_cpu(measure)
    finally:
        torch.set_num_threads(threads)
    assert calls == [1, 1] and len(json.loads(device.calibration_path().read_text())) == 2


def test_without_native_bf16_the_cpu_answer_is_fp32_unmeasured(
        home: Path, monkeypatch: pytest.MonkeyPatch, cpu_only: None) -> None:
    monkeypatch.setattr(device, "cpu_bf16_supported", lambda: False)
    entry = device.calibrate_cpu(lambda: pytest.fail("nothing to measure"))
    assert entry["bf16_faster"] is False and "native" in entry["reason"]
    assert device.auto_precision() == "fp32"


def test_a_broken_or_unwritable_cache_is_measured_again(
        home: Path, monkeypatch: pytest.MonkeyPatch, cpu_only: None) -> None:
    monkeypatch.setattr(device, "cpu_bf16_supported", lambda: True)
    home.mkdir()
    device.calibration_path().write_text("{not json")
    entry = device.calibrate_cpu(lambda: {"fp32_s": 1.0, "bf16_s": 0.5})
    assert entry["bf16_faster"] is True
    assert json.loads(device.calibration_path().read_text())  # rewritten whole
    (home / "a-file").write_text("")
    monkeypatch.setenv("AUGPLAN_HOME", str(home / "a-file" / "home"))  # cannot be created
    assert device.calibrate_cpu(lambda: {"fp32_s": 1.0, "bf16_s": 2.0})["bf16_faster"] is False
    assert not device.calibration_path().exists()


def test_the_real_measurement_times_both_precisions() -> None:
    t = device.time_bf16_vs_fp32(reps=1)
    assert t["fp32_s"] > 0 and t["bf16_s"] > 0


def test_bf16_rule_on_gpus(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(device, "CPUINFO", cpuinfo(tmp_path, ZEN3))
    monkeypatch.setattr(device, "cuda_available", lambda: True)
    for supported in (True, False):
        monkeypatch.setattr(device, "cuda_bf16_supported", lambda s=supported: s)
        assert device.device_kind() == "cuda"
        assert device.bf16_faster() is supported and device.bf16_faster("cuda:0") is supported
        assert device.auto_precision() == ("bf16" if supported else "fp32")
        monkeypatch.setattr(device, "cpu_bf16_faster", lambda: False)
        assert device.bf16_faster("cpu") is False  # the CPU's own answer
    assert device.bf16_faster("mps") is False


def test_unreadable_cpuinfo_means_no_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           cpu_only: None, home: Path) -> None:
    monkeypatch.setattr(device, "CPUINFO", tmp_path / "missing")
    assert device.cpu_flags() == frozenset()
    # still answered, by the calibration (oneDNN's own test and a timing), never by the flags
    precision = device.auto_precision()
    entry = json.loads(device.calibration_path().read_text())[device.calibration_key()]
    assert precision == ("bf16" if entry["bf16_faster"] else "fp32")
    if not device.cpu_bf16_supported():
        assert precision == "fp32" and "speedup" not in entry  # nothing timed
    assert device.cpu_name()  # the platform's processor name, or at least "cpu"


def test_cpu_and_device_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              cpu_only: None) -> None:
    monkeypatch.setattr(device, "CPUINFO", cpuinfo(tmp_path, ZEN3, "AMD EPYC 7B13"))
    assert device.cpu_name() == "AMD EPYC 7B13"
    assert device.device_name() == "AMD EPYC 7B13"  # no CUDA: the CPU names the device
    assert device.device_kind() == "cpu"


def test_the_real_machine_answers_consistently(home: Path) -> None:
    flags = device.cpu_flags()
    assert device.cpu_flags() is flags  # read once
    entry = device.calibrate_cpu()
    assert device.cpu_bf16_faster() is entry["bf16_faster"]
    if not device.cpu_bf16_supported():
        assert entry["bf16_faster"] is False
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
