"""The real probe on this machine: compared with what the OS itself says."""

from __future__ import annotations

import os
import platform

import pytest

from aistack.hardware.probe import probe
from aistack.hardware.profile import HardwareProfile

pytestmark = pytest.mark.skipif(platform.system() != "Linux", reason="checks Linux /proc facts")


def _meminfo_total_bytes() -> int:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no MemTotal")


def _has_nvidia_driver() -> bool:
    return os.path.exists("/proc/driver/nvidia/version")


def test_real_probe_matches_the_machine(tmp_path):
    p = probe(models_dir=tmp_path / "models")
    assert p.os.system == "Linux"
    assert p.os.arch == {"x86_64": "x86_64", "aarch64": "arm64"}.get(platform.machine(), p.os.arch)
    assert p.cpu.logical_cores == os.cpu_count()
    assert p.memory.ram_total_bytes == _meminfo_total_bytes()
    assert 0 < p.memory.ram_available_bytes <= p.memory.ram_total_bytes
    if platform.machine() == "x86_64":
        with open("/proc/cpuinfo") as fh:
            flags = next(line for line in fh if line.startswith("flags")).split()
        assert p.cpu.has("avx2") == ("avx2" in flags)
        assert p.cpu.has("avx512f") == ("avx512f" in flags)
    assert p.host.is_root == (os.geteuid() == 0)
    assert p.host.disk_free_bytes and p.host.disk_free_bytes > 0
    assert p.host.models_dir == str(tmp_path / "models")
    assert HardwareProfile.from_json(p.to_json()) == p


@pytest.mark.skipif(_has_nvidia_driver(), reason="this machine has an NVIDIA driver")
def test_no_nvidia_is_a_warning_not_an_error():
    p = probe()
    assert p.gpus_of("nvidia") == ()
    nvidia = [w for w in p.warnings if w.source == "nvidia"]
    assert len(nvidia) == 1 and "no NVIDIA GPU is reported" in nvidia[0].message


def test_this_machine_as_the_team_knows_it():
    """The team's build machine: 2 AVX2 cores, no GPU (skipped elsewhere)."""
    if os.cpu_count() != 2 or os.path.exists("/sys/class/drm") or _has_nvidia_driver():
        pytest.skip("not the team's 2-core GPU-less machine")
    p = probe()
    assert p.cpu.logical_cores == 2 and p.cpu.has("avx2")
    assert p.gpus == ()


def test_probe_writes_only_its_cpu_cache_under_the_cache_dir(_guard_home):
    from aistack import paths

    probe()
    written = sorted(str(f.relative_to(_guard_home)) for f in _guard_home.rglob("*") if f.is_file())
    assert len(written) == 1 and written[0].startswith("cache/probe/cpu-")
    assert paths.dirs().cache in (_guard_home / written[0]).parents
