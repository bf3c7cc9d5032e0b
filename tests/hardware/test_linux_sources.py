"""os, cpu and memory readers over recorded Linux trees."""

from __future__ import annotations

import json
import shutil

import pytest

from aistack.hardware.sources import cpu, memory
from aistack.hardware.sources import os as os_source
from aistack.hardware.sources.base import count_cpu_list, normalise_arch

from .conftest import FIXTURES, linux_ctx

GRAVITON = FIXTURES / "linux" / "graviton3_podman"
WSL2 = FIXTURES / "linux" / "wsl2_i7_13700k"


def test_graviton_in_podman_with_cgroup_v2_limits():
    ctx = linux_ctx(GRAVITON, machine="aarch64")
    o = os_source.SOURCE.read(ctx).os
    assert (o.arch, o.distro, o.distro_version, o.kernel) == ("arm64", "ubuntu", "22.04", "6.5.0-1020-aws")
    assert o.container == "podman" and o.wsl2 is False

    c = cpu.SOURCE.read(ctx).cpu
    assert c.vendor == "ARM" and c.brand == "ARM Neoverse-V1"
    assert (c.physical_cores, c.logical_cores) == (8, 8)
    assert c.usable_cores == 4  # cpu.max 400000/100000
    assert c.features == ("neon", "fp16", "dotprod", "i8mm", "bf16", "sve")
    assert c.l2_cache_bytes == 8 * 1024**2  # 8 private 1 MiB L2s
    assert c.l3_cache_bytes == 32 * 1024**2  # one shared L3

    m = memory.SOURCE.read(ctx).memory
    assert m.ram_total_bytes == 16131368 * 1024
    assert m.ram_available_bytes == 15320116 * 1024
    assert (m.swap_total_bytes, m.swap_free_bytes) == (4194300 * 1024, 4194300 * 1024)
    assert m.cgroup_limit_bytes == 8 * 1024**3
    assert m.effective_total_bytes == 8 * 1024**3


def test_wsl2_desktop_without_sysfs_cpu_tree():
    ctx = linux_ctx(WSL2)
    o = os_source.SOURCE.read(ctx).os
    assert o.wsl2 is True and o.container is None
    assert o.distro_name == "Ubuntu 24.04.1 LTS"
    c = cpu.SOURCE.read(ctx).cpu
    assert c.vendor == "GenuineIntel" and c.brand == "13th Gen Intel(R) Core(TM) i7-13700K"
    assert (c.physical_cores, c.logical_cores) == (2, 4)  # from /proc/cpuinfo core ids
    assert c.has("avx2") and c.has("avx_vnni") and c.has("f16c") and c.has("fma")
    assert not c.has("avx512f")
    assert "sse3" in c.features  # spelled "pni" in /proc/cpuinfo
    m = memory.SOURCE.read(ctx).memory
    assert m.cgroup_limit_bytes is None  # v1 "unlimited" is 2**63 rounded to pages


def test_container_detection_order(tmp_path):
    root = tmp_path / "r"
    (root / "proc/1").mkdir(parents=True)
    ctx = linux_ctx(root)
    assert os_source.detect_container(ctx) is None
    (root / "proc/1/cgroup").write_text("0::/kubepods.slice/kubepods-burstable.slice/cri-containerd-abc.scope\n")
    assert os_source.detect_container(ctx) == "kubernetes"
    (root / ".dockerenv").write_text("")
    assert os_source.detect_container(ctx) == "docker"
    (root / "run").mkdir()
    (root / "run/.containerenv").write_text("")
    assert os_source.detect_container(ctx) == "podman"
    (root / "proc/1/environ").write_bytes(b"HOME=/\0container=systemd-nspawn\0")
    assert os_source.detect_container(ctx) == "systemd-nspawn"


def test_wsl1_is_not_wsl2(tmp_path):
    root = tmp_path / "r"
    (root / "proc/sys/kernel").mkdir(parents=True)
    (root / "proc/sys/kernel/osrelease").write_text("4.4.0-19041-Microsoft\n")
    assert os_source.detect_wsl2(linux_ctx(root)) is False
    (root / "proc/sys/kernel/osrelease").write_text("5.10.16.3-microsoft-standard\n")
    assert os_source.detect_wsl2(linux_ctx(root)) is True


def test_missing_os_release_is_a_warning(tmp_path):
    facts = os_source.SOURCE.read(linux_ctx(tmp_path))
    assert facts.os.distro is None and facts.os.system == "Linux"
    assert "os-release" in facts.warnings[0].message


@pytest.mark.parametrize("flags, expected", [
    ("avx512_vnni avx512vnni AVX512F", ("avx512f", "avx512_vnni")),
    ("AVX1.0 FMA F16C SSE4.2", ("sse4_2", "avx", "fma", "f16c")),
    ("asimd asimddp sve2 i8mm", ("neon", "dotprod", "i8mm", "sve2")),
    ("amx_tile amx_int8 amx_bf16 avx_vnni", ("avx_vnni", "amx_tile", "amx_int8", "amx_bf16")),
    ("mmx sse sse2", ()),
])
def test_feature_normalisation(flags, expected):
    assert cpu.normalise_features(flags.split()) == expected


def test_small_parsers():
    assert count_cpu_list("0-3,8,10-11") == 7
    assert count_cpu_list("0") == 1
    assert count_cpu_list("") is None
    assert normalise_arch("AMD64") == "x86_64" and normalise_arch("aarch64") == "arm64"
    assert memory.parse_swapusage("total = 2048.00M  used = 1024.50M  free = 1023.50M  (encrypted)") == {
        "total": 2048 * 1024**2, "used": int(1024.5 * 1024**2), "free": int(1023.5 * 1024**2)}


def test_cpu_cache_per_boot(tmp_path):
    root = tmp_path / "root"
    shutil.copytree(GRAVITON, root)
    cache = tmp_path / "cache"
    ctx = linux_ctx(root, machine="aarch64", cache_dir=cache)
    first = cpu.SOURCE.read(ctx).cpu
    files = list((cache / "probe").glob("cpu-*.json"))
    assert [f.name for f in files] == ["cpu-3f1b2c7e9a414d7e8b0f5c2e6a913d44.json"]

    # Same boot: the cache answers even if /proc/cpuinfo changed (static facts are not re-read)...
    (root / "proc/cpuinfo").write_text("processor\t: 0\nFeatures\t: fp asimd\nCPU implementer\t: 0x41\n")
    again = cpu.SOURCE.read(ctx).cpu
    assert again == first
    # ...but usable_cores is live:
    (root / "sys/fs/cgroup/cpu.max").write_text("200000 100000\n")
    assert cpu.SOURCE.read(ctx).cpu.usable_cores == 2

    # New boot: re-read, and the old boot's file is dropped.
    (root / "proc/sys/kernel/random/boot_id").write_text("00000000-0000-0000-0000-000000000001\n")
    fresh = cpu.SOURCE.read(ctx).cpu
    assert fresh.features == ("neon",) and fresh.vendor == "ARM" and fresh.brand is None
    assert [f.name for f in (cache / "probe").glob("cpu-*.json")] == ["cpu-00000000000000000000000000000001.json"]


def test_corrupt_cpu_cache_is_ignored(tmp_path):
    cache = tmp_path / "cache"
    ctx = linux_ctx(GRAVITON, machine="aarch64", cache_dir=cache)
    expected = cpu.SOURCE.read(ctx).cpu
    (f,) = (cache / "probe").glob("cpu-*.json")
    f.write_text("{not json")
    assert cpu.SOURCE.read(ctx).cpu == expected
    data = json.loads(f.read_text())  # rewritten
    data["cpu"]["brand"] = "tampered"
    data["cache_version"] = -1
    f.write_text(json.dumps(data))
    assert cpu.SOURCE.read(ctx).cpu == expected
