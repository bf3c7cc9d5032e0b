"""AMD GPUs through sysfs: DRM ``mem_info_*`` files and the KFD (ROCm) topology.

For every DRM card with PCI vendor ``0x1002``:

* VRAM and GTT from ``device/mem_info_vram_total|used`` and
  ``device/mem_info_gtt_total|used`` (bytes). GTT is system memory the GPU can
  map; on an APU it is where most of the model lives.
* The ``gfx`` target from the KFD node whose ``drm_render_minor`` matches the
  card: ``gfx_target_version`` is ``major*10000 + minor*100 + stepping`` with
  minor and stepping printed in hex (``110000`` -> ``gfx1100``, ``90010`` ->
  ``gfx90a``, ``110501`` -> ``gfx1151``).
* APU (unified memory): the device id is a known APU's, or the KFD node also
  has CPU cores, or the VRAM carve-out is small (<= 2 GiB) while GTT is at
  least four times larger. A Strix Halo machine whose BIOS reserves 96 GB as
  VRAM is then reported with that VRAM, which is what the driver hands out.
* Name from ``product_name`` (data-centre cards), else the system pci.ids,
  else the gfx target.
"""

from __future__ import annotations

import os

from aistack.hardware.profile import GpuInfo
from aistack.hardware.sources import drm
from aistack.hardware.sources.base import Facts, ProbeContext, to_int

VENDOR_ID = "0x1002"
KFD_NODES = "/sys/class/kfd/kfd/topology/nodes"

# Device ids of integrated Radeon GPUs (APUs) whose VRAM is a carve-out of RAM.
APU_DEVICE_IDS = {
    "0x15d8", "0x15dd",  # Picasso / Raven
    "0x1636", "0x1638",  # Renoir / Cezanne
    "0x164c", "0x1681",  # Lucienne / Rembrandt
    "0x15bf", "0x15c8",  # Phoenix
    "0x164e", "0x13c0",  # Raphael / Granite Ridge (desktop Ryzen iGPU)
    "0x150e", "0x1586",  # Strix Point / Strix Halo (Ryzen AI Max)
}

_SMALL_CARVE_OUT = 2 * 1024**3


def gfx_target(version: int | None) -> str | None:
    if not version:
        return None
    major, minor, step = version // 10000, (version // 100) % 100, version % 100
    return f"gfx{major}{minor:x}{step:x}"


def _kfd_nodes(ctx: ProbeContext) -> dict[int, dict[str, int]]:
    """render minor -> KFD properties, for GPU nodes."""
    base = ctx.path(KFD_NODES)
    out: dict[int, dict[str, int]] = {}
    try:
        nodes = sorted(base.iterdir())
    except OSError:
        return out
    for node in nodes:
        props: dict[str, int] = {}
        try:
            for line in (node / "properties").read_text().splitlines():
                key, _, value = line.partition(" ")
                n = to_int(value)
                if n is not None:
                    props[key] = n
        except OSError:
            continue
        if props.get("simd_count", 0) > 0 and "drm_render_minor" in props:
            out[props["drm_render_minor"]] = props
    return out


class AmdSource:
    name = "amd"

    def read(self, ctx: ProbeContext) -> Facts:
        facts = Facts()
        if ctx.system != "Linux":
            return facts
        found = drm.cards(ctx, VENDOR_ID)
        if not found:
            return facts
        kfd = _kfd_nodes(ctx)
        kfd_dev = ctx.path("/dev/kfd")
        if kfd and not kfd_dev.exists():
            facts.warn("/dev/kfd is missing (a container without --device /dev/kfd?): ROCm cannot run here")
        elif kfd and not os.access(kfd_dev, os.R_OK | os.W_OK):
            facts.warn("no access to /dev/kfd: ROCm needs it; add this user to the 'render' group")
        gpus = []
        for index, card in enumerate(found):
            vram_total = to_int(card.read("mem_info_vram_total"))
            vram_used = to_int(card.read("mem_info_vram_used"))
            gtt_total = to_int(card.read("mem_info_gtt_total"))
            gtt_used = to_int(card.read("mem_info_gtt_used"))
            props = kfd.get(card.render_minor, {}) if card.render_minor is not None else {}
            target = gfx_target(props.get("gfx_target_version"))
            if vram_total is None:
                facts.warn(f"{card.name}: no mem_info_vram_total (driver {card.driver or 'unknown'}): VRAM unknown")
            unified = (
                card.device_id in APU_DEVICE_IDS
                or props.get("cpu_cores_count", 0) > 0
                or (vram_total is not None and gtt_total is not None
                    and vram_total <= _SMALL_CARVE_OUT and gtt_total >= 4 * vram_total)
            )
            name = card.read("product_name") or None
            if not name:
                pci = drm.pci_name(ctx, VENDOR_ID, card.device_id)
                name = f"AMD {pci}" if pci else f"AMD GPU {target or card.device_id}"
            nodes = (("/dev/kfd",) if kfd else ()) + card.nodes
            gpus.append(GpuInfo(
                vendor="amd",
                index=index,
                name=name,
                vram_total_bytes=vram_total,
                vram_used_bytes=vram_used,
                vram_free_bytes=(vram_total - vram_used) if vram_total is not None and vram_used is not None else None,
                pci_bus_id=card.pci_slot,
                unified_memory=unified,
                gtt_total_bytes=gtt_total,
                gtt_used_bytes=gtt_used,
                gfx_target=target,
                device_nodes=nodes,
            ))
        facts.gpus = tuple(gpus)
        return facts


SOURCE = AmdSource()
