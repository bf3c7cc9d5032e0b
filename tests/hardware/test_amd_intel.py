from __future__ import annotations

import shutil

from aistack.hardware.probe import probe
from aistack.hardware.sources import amd, drm, intel

from .conftest import FIXTURES, linux_ctx

GIB = 1024**3


def test_rx7900xtx_discrete():
    facts = amd.SOURCE.read(linux_ctx(FIXTURES / "amd" / "rx7900xtx"))
    assert facts.warnings == []
    (g,) = facts.gpus  # the card0-DP-1 connector is not a second card
    assert g.vendor == "amd" and g.index == 0
    assert g.name == "AMD Navi 31 [Radeon RX 7900 XT/7900 XTX/7900 GRE/7900M]"
    assert g.vram_total_bytes == 25753026560
    assert g.vram_used_bytes == 1123094528
    assert g.vram_free_bytes == 25753026560 - 1123094528
    assert g.gtt_total_bytes == 33554432000
    assert g.gfx_target == "gfx1100"
    assert g.unified_memory is False
    assert g.pci_bus_id == "0000:03:00.0"
    assert g.device_nodes == ("/dev/kfd", "/dev/dri/card0", "/dev/dri/renderD128")


def test_strix_halo_apu_small_carve_out_large_gtt():
    facts = amd.SOURCE.read(linux_ctx(FIXTURES / "amd" / "strix_halo"))
    (g,) = facts.gpus
    assert g.unified_memory is True
    assert g.vram_total_bytes == 512 * 1024**2
    assert g.gtt_total_bytes == 66691563520
    assert g.gfx_target == "gfx1151"
    assert "Strix Halo" in g.name


def test_apu_detected_by_sizes_when_device_id_unknown(tmp_path):
    root = tmp_path / "root"
    shutil.copytree(FIXTURES / "amd" / "strix_halo", root)
    (root / "sys/class/drm/card0/device/device").write_text("0x9999\n")
    (g,) = amd.SOURCE.read(linux_ctx(root)).gpus
    assert g.unified_memory is True
    assert g.name == "AMD GPU gfx1151"  # not in pci.ids: named by its gfx target


def test_missing_kfd_device_is_a_warning_not_a_failure(tmp_path):
    root = tmp_path / "root"
    shutil.copytree(FIXTURES / "amd" / "rx7900xtx", root)
    (root / "dev/kfd").unlink()
    facts = amd.SOURCE.read(linux_ctx(root))
    assert len(facts.gpus) == 1 and facts.gpus[0].vram_total_bytes == 25753026560
    assert "/dev/kfd" in facts.warnings[0].message


def test_gfx_target_encoding():
    assert amd.gfx_target(110000) == "gfx1100"
    assert amd.gfx_target(90010) == "gfx90a"
    assert amd.gfx_target(90402) == "gfx942"
    assert amd.gfx_target(100300) == "gfx1030"
    assert amd.gfx_target(0) is None


def test_intel_arc_and_integrated():
    ctx = linux_ctx(FIXTURES / "intel" / "arc_a770")
    facts = intel.SOURCE.read(ctx)
    arc, igpu = facts.gpus
    assert arc.name == "Intel DG2 [Arc A770]" and arc.unified_memory is False
    assert arc.device_nodes == ("/dev/dri/card0", "/dev/dri/renderD128")
    assert arc.vram_total_bytes is None  # detected, not measured
    assert igpu.name == "Intel Raptor Lake-S GT1 [UHD Graphics 770]" and igpu.unified_memory is True
    assert igpu.pci_bus_id == "0000:00:02.0"
    assert amd.SOURCE.read(ctx).gpus == ()  # vendor filter


def test_pci_ids_lookup_stays_in_vendor_block():
    ctx = linux_ctx(FIXTURES / "intel" / "arc_a770")
    assert drm.pci_name(ctx, "0x8086", "0x56a1") == "DG2 [Arc A750]"
    assert drm.pci_name(ctx, "0x1002", "0x56a0") is None  # Intel's id under AMD: no match
    assert drm.pci_name(linux_ctx(FIXTURES / "linux" / "wsl2_i7_13700k"), "0x8086", "0x56a0") is None  # no pci.ids


def test_a_tree_with_only_a_gpu_still_gives_a_profile_with_warnings():
    p = probe(ctx=linux_ctx(FIXTURES / "intel" / "arc_a770"))
    assert [g.vendor for g in p.gpus] == ["intel", "intel"]
    sources = {w.source for w in p.warnings}
    assert {"nvidia", "cpu", "memory"} <= sources  # no /proc in this tree: warnings, not exceptions
    assert p.memory.ram_total_bytes == 0 and p.cpu.brand is None


def test_strix_halo_machine_profile():
    p = probe(ctx=linux_ctx(FIXTURES / "amd" / "strix_halo"))
    assert p.warnings[0].source == "nvidia" and len(p.warnings) == 1
    assert p.cpu.brand == "AMD RYZEN AI MAX+ 395 w/ Radeon 8060S"
    assert (p.cpu.physical_cores, p.cpu.logical_cores) == (16, 32)
    assert p.cpu.has("avx512_vnni") and p.cpu.has("avx512_bf16")
    assert p.memory.ram_total_bytes == 130441520 * 1024
    assert p.host.init.systemd_system is True
    (g,) = p.gpus
    assert g.unified_memory and g.gtt_total_bytes > 100 * g.vram_total_bytes
