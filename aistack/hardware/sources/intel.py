"""Intel GPUs: detected through DRM (PCI vendor ``0x8086``), not measured.

The i915/xe drivers publish no VRAM size in sysfs that aistack can rely on,
so the card is reported with its name (system pci.ids), PCI slot and device
nodes and VRAM unknown. The integrated GPU always sits at PCI slot
``0000:00:02.0``; it is reported with ``unified_memory``.
"""

from __future__ import annotations

from aistack.hardware.profile import GpuInfo
from aistack.hardware.sources import drm
from aistack.hardware.sources.base import Facts, ProbeContext

VENDOR_ID = "0x8086"
INTEGRATED_SLOT = "0000:00:02.0"


class IntelSource:
    name = "intel"

    def read(self, ctx: ProbeContext) -> Facts:
        facts = Facts()
        if ctx.system != "Linux":
            return facts
        gpus = []
        for index, card in enumerate(drm.cards(ctx, VENDOR_ID)):
            pci = drm.pci_name(ctx, VENDOR_ID, card.device_id)
            gpus.append(GpuInfo(
                vendor="intel",
                index=index,
                name=f"Intel {pci}" if pci else f"Intel GPU [{VENDOR_ID[2:]}:{card.device_id[2:]}]",
                pci_bus_id=card.pci_slot,
                unified_memory=card.pci_slot == INTEGRATED_SLOT,
                device_nodes=card.nodes,
            ))
        facts.gpus = tuple(gpus)
        return facts


SOURCE = IntelSource()
