from __future__ import annotations

import pytest

from aistack.hardware.probe import probe
from aistack.hardware.sources import apple, cpu, memory
from aistack.hardware.sources import os as os_source

from .conftest import mac_ctx

GIB = 1024**3


def test_m4_pro_48gb():
    ctx = mac_ctx("m4pro_48gb")
    facts = apple.SOURCE.read(ctx)
    assert facts.warnings == []
    a = facts.apple
    assert a.chip == "Apple M4 Pro"
    assert (a.performance_cores, a.efficiency_cores) == (10, 4)
    assert a.gpu_cores == 20  # from ioreg
    assert a.unified_memory_bytes == 48 * GIB
    assert a.wired_limit_bytes is None  # iogpu.wired_limit_mb is 0: the default applies
    assert a.gpu_working_set_bytes == 36 * GIB  # 3/4 of 48 GiB
    assert a.bandwidth_gbps == 273.0
    (g,) = facts.gpus
    assert g.vendor == "apple" and g.unified_memory and g.vram_total_bytes == 36 * GIB
    assert ctx.run.calls == [["ioreg", "-rc", "AGXAccelerator", "-d", "1"]]  # no slow system_profiler


def test_m3_ultra_512gb_with_raised_wired_limit_and_system_profiler_fallback():
    ctx = mac_ctx("m3ultra_512gb", ioreg=False)
    facts = apple.SOURCE.read(ctx)
    a = facts.apple
    assert a.chip == "Apple M3 Ultra"
    assert (a.performance_cores, a.efficiency_cores) == (24, 8)
    assert a.gpu_cores == 80
    assert a.unified_memory_bytes == 512 * GIB
    assert a.wired_limit_bytes == 480 * GIB
    assert a.gpu_working_set_bytes == 480 * GIB
    assert a.bandwidth_gbps == 819.0
    assert [c[0] for c in ctx.run.calls] == ["ioreg", "system_profiler"]


def test_gpu_core_count_unknown_is_a_warning():
    ctx = mac_ctx("m4pro_48gb", ioreg=False)  # M4 has no system_profiler recording either
    facts = apple.SOURCE.read(ctx)
    assert facts.apple.gpu_cores is None
    assert "GPU core count" in facts.warnings[0].message
    assert facts.apple.bandwidth_gbps == 273.0  # the full M4 Pro has one memory width


@pytest.mark.parametrize("total_gib, expected_gib", [(8, 8 * 2 / 3), (16, 16 * 2 / 3), (32, 32 * 2 / 3),
                                                     (64, 48), (128, 96), (192, 144)])
def test_default_working_set(total_gib, expected_gib):
    assert apple.default_working_set_bytes(total_gib * GIB) == pytest.approx(expected_gib * GIB, rel=1e-9)


@pytest.mark.parametrize("brand, cores, gbps", [
    ("Apple M1", 8, 68.25), ("Apple M2 Max", 38, 400.0), ("Apple M3 Max", 30, 300.0), ("Apple M3 Max", 40, 400.0),
    ("Apple M4 Max", 32, 410.0), ("Apple M4 Max", 40, 546.0), ("Apple M9 Hyper", 10, None),
])
def test_bandwidth_table(brand, cores, gbps):
    assert apple.chip_bandwidth_gbps(brand, cores) == gbps


def test_cpu_memory_os_from_sysctl():
    ctx = mac_ctx("m4pro_48gb")
    c = cpu.SOURCE.read(ctx).cpu
    assert c.vendor == "Apple" and c.brand == "Apple M4 Pro"
    assert (c.physical_cores, c.logical_cores) == (14, 14)
    assert c.features == ("neon", "fp16", "dotprod", "i8mm", "bf16", "sme")
    assert c.l2_cache_bytes == 16 * 1024**2
    m = memory.SOURCE.read(ctx).memory
    assert m.ram_total_bytes == 48 * GIB
    assert m.swap_total_bytes == 1024 * 1024**2
    assert m.swap_free_bytes == int(811.5 * 1024**2)
    assert m.ram_available_bytes == (1203544 + 690122 + 45210) * 16384
    o = os_source.SOURCE.read(ctx).os
    assert (o.system, o.arch, o.distro, o.distro_version) == ("Darwin", "arm64", "macos", "15.1.1")


def test_whole_profile_of_a_mac_round_trips():
    from aistack.hardware.profile import HardwareProfile

    p = probe(ctx=mac_ctx("m3ultra_512gb", ioreg=False))
    assert p.warnings == ()
    assert p.os.system == "Darwin" and p.host.init.launchd
    assert p.gpus_of("apple")[0].vram_total_bytes == 480 * GIB
    assert p.memory.bandwidth_gbps == 819.0  # the chip's figure is the RAM's too
    assert p.cpu.features == ("neon", "fp16", "dotprod", "i8mm", "bf16")
    assert p.host.docker.reachable is False
    assert HardwareProfile.from_json(p.to_json()) == p


def test_parse_sysctl_keeps_values_with_colons_and_skips_other_lines():
    from aistack.hardware.sources.base import parse_sysctl

    table = parse_sysctl("kern.boottime: { sec = 1, usec = 2 } Mon Nov 11 08:00:00 2024\n"
                         "not a sysctl line\nhw.memsize: 8589934592\n")
    assert table == {"kern.boottime": "{ sec = 1, usec = 2 } Mon Nov 11 08:00:00 2024", "hw.memsize": "8589934592"}
