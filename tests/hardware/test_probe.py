"""The probe runner: every failure is a warning, the rest of the profile comes back."""

from __future__ import annotations

import threading
import time

import pytest

from aistack.hardware import probe as probe_mod
from aistack.hardware.profile import CpuInfo, HardwareProfile
from aistack.hardware.sources.base import Facts

from .conftest import FIXTURES, linux_ctx, mac_ctx, nvml

GRAVITON = FIXTURES / "linux" / "graviton3_podman"


class Raising:
    def __init__(self, name, exc):
        self.name, self.exc = name, exc

    def read(self, ctx):
        raise self.exc


class Hanging:
    name = "hang"

    def __init__(self):
        self.release = threading.Event()

    def read(self, ctx):
        self.release.wait(10)
        return Facts(cpu=CpuInfo(brand="too late"))


@pytest.mark.parametrize("exc, words", [
    (PermissionError(13, "Permission denied", "/sys/class/kfd/kfd/topology"), ["permission denied", "/sys/class/kfd"]),
    (FileNotFoundError(2, "No such file", "/proc/cpuinfo"), ["not found", "/proc/cpuinfo"]),
    (ImportError("No module named 'docker'"), ["ImportError", "docker"]),
    (TimeoutError("timed out"), ["TimeoutError", "timed out"]),
    (OSError(5, "Input/output error"), ["Input/output error"]),
    (RuntimeError(), ["RuntimeError"]),
])
def test_a_raising_source_becomes_a_warning(exc, words):
    ctx = linux_ctx(GRAVITON, machine="aarch64")
    sources = probe_mod.load_sources(["os", "memory"]) + [Raising("broken", exc)]
    profile = probe_mod.merge(probe_mod.run_sources(sources, ctx), ctx)
    (w,) = profile.warnings
    assert w.source == "broken"
    for word in words:
        assert word in w.message
    assert profile.memory.ram_total_bytes == 16131368 * 1024  # the others still answered
    assert profile.os.distro == "ubuntu"


def test_a_source_missing_its_deadline_is_a_warning_and_does_not_block():
    ctx = linux_ctx(GRAVITON, machine="aarch64")
    hang = Hanging()
    try:
        start = time.monotonic()
        parts = probe_mod.run_sources(probe_mod.load_sources(["memory"]) + [hang], ctx, deadline_s=0.3)
        assert time.monotonic() - start < 2
    finally:
        hang.release.set()
    profile = probe_mod.merge(parts, ctx)
    assert profile.cpu.brand is None
    assert profile.warnings[0].source == "hang" and "did not answer within 0.3 s" in profile.warnings[0].message


def test_merge_fallbacks_when_os_cpu_memory_all_fail():
    ctx = linux_ctx(GRAVITON, machine="aarch64")
    parts = probe_mod.run_sources([Raising(n, OSError("gone")) for n in ("os", "cpu", "memory", "host")], ctx)
    p = probe_mod.merge(parts, ctx)
    assert p.os.system == "Linux" and p.os.arch == "arm64"
    assert p.memory.ram_total_bytes == 0
    assert {w.source for w in p.warnings} == {"os", "cpu", "memory", "host"}
    assert HardwareProfile.from_json(p.to_json()) == p


def test_registry_names_match_sources():
    for name, src in zip(probe_mod.SOURCES, probe_mod.load_sources()):
        assert src.name == name


@pytest.mark.parametrize("ctx_factory", [
    lambda: linux_ctx(GRAVITON, machine="aarch64"),
    lambda: linux_ctx(FIXTURES / "linux" / "wsl2_i7_13700k", nvml=nvml("rtx4090")),
    lambda: linux_ctx(FIXTURES / "linux" / "wsl2_i7_13700k", nvml=nvml("a100_mig")),
    lambda: linux_ctx(FIXTURES / "amd" / "strix_halo"),
    lambda: linux_ctx(FIXTURES / "intel" / "arc_a770"),
    lambda: mac_ctx("m4pro_48gb"),
    lambda: mac_ctx("m3ultra_512gb", ioreg=False),
], ids=["graviton", "wsl2-4090", "a100-mig", "strix-halo", "arc", "m4pro", "m3ultra"])
def test_recorded_profiles_round_trip_through_json(ctx_factory, tmp_path):
    from aistack.hardware.profile import load_profile

    p = probe_mod.probe(ctx=ctx_factory())
    assert HardwareProfile.from_json(p.to_json()) == p
    f = tmp_path / "p.json"
    f.write_text(p.to_json())
    assert load_profile(str(f)) == p


def test_wsl2_with_a_4090_profile_combines_sources():
    p = probe_mod.probe(ctx=linux_ctx(FIXTURES / "linux" / "wsl2_i7_13700k", nvml=nvml("rtx4090")))
    assert p.os.wsl2 and p.cpu.has("avx2") and p.gpus_of("nvidia")[0].bandwidth_gbps == 1008.1
    assert p.warnings == ()
