"""Linux DRM devices (``/sys/class/drm/card*``), shared by the AMD and Intel sources.

Each ``cardN`` (connectors such as ``card0-DP-1`` are skipped) has a PCI
``device/`` directory with ``vendor``, ``device`` and ``uevent``
(``DRIVER=``, ``PCI_SLOT_NAME=``), and ``device/drm/`` lists its nodes
(``cardN``, ``renderD128``...). Marketing names come from the system's
``pci.ids`` database when one is installed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from aistack.hardware.sources.base import ProbeContext

_CARD_RE = re.compile(r"^card\d+$")

PCI_IDS_PATHS = ("/usr/share/hwdata/pci.ids", "/usr/share/misc/pci.ids", "/usr/share/pci.ids")


@dataclass(frozen=True)
class DrmCard:
    name: str  # "card0"
    path: Path  # .../sys/class/drm/card0/device
    vendor_id: str  # "0x1002"
    device_id: str  # "0x744c"
    driver: str | None
    pci_slot: str | None  # "0000:03:00.0"
    nodes: tuple[str, ...]  # ("/dev/dri/card0", "/dev/dri/renderD128")

    def read(self, name: str) -> str | None:
        try:
            return (self.path / name).read_text().strip()
        except OSError:
            return None

    @property
    def render_minor(self) -> int | None:
        for node in self.nodes:
            if "/renderD" in node:
                return int(node.rsplit("renderD", 1)[1])
        return None


def cards(ctx: ProbeContext, vendor_id: str) -> list[DrmCard]:
    base = ctx.path("/sys/class/drm")
    try:
        entries = sorted((p for p in base.iterdir() if _CARD_RE.match(p.name)), key=lambda p: int(p.name[4:]))
    except OSError:
        return []
    out = []
    for entry in entries:
        dev = entry / "device"
        try:
            vendor = (dev / "vendor").read_text().strip().lower()
        except OSError:
            continue
        if vendor != vendor_id:
            continue
        uevent = {}
        try:
            for line in (dev / "uevent").read_text().splitlines():
                k, _, v = line.partition("=")
                uevent[k.strip()] = v.strip()
        except OSError:
            pass
        try:
            device = (dev / "device").read_text().strip().lower()
        except OSError:
            device = "0x" + uevent.get("PCI_ID", ":").split(":")[1].lower()
        try:
            nodes = tuple(f"/dev/dri/{p.name}" for p in sorted((dev / "drm").iterdir())
                          if p.name.startswith(("card", "renderD")))
        except OSError:
            nodes = (f"/dev/dri/{entry.name}",)
        out.append(DrmCard(entry.name, dev, vendor, device, uevent.get("DRIVER"), uevent.get("PCI_SLOT_NAME"), nodes))
    return out


def pci_name(ctx: ProbeContext, vendor_id: str, device_id: str) -> str | None:
    """Device name from pci.ids (``\\t744c  Navi 31 [Radeon RX 7900 XT/7900 XTX]``)."""
    vendor = vendor_id.lower().removeprefix("0x")
    device = device_id.lower().removeprefix("0x")
    for p in PCI_IDS_PATHS:
        try:
            fh = open(ctx.path(p), encoding="utf-8", errors="replace")
        except OSError:
            continue
        with fh:
            in_vendor = False
            for line in fh:
                if not line or line[0] == "#":
                    continue
                if line[0] != "\t":
                    if in_vendor:
                        return None  # left the vendor's block without a match
                    in_vendor = line[:4].lower() == vendor
                elif in_vendor and line[1] != "\t" and line[1:5].lower() == device:
                    return line[5:].strip()
        return None
    return None
