"""Apple Silicon: chip, performance/efficiency cores, GPU cores, unified memory.

Read from ``sysctl`` (``machdep.cpu.brand_string``, ``hw.memsize``,
``hw.perflevel0/1.physicalcpu``, ``iogpu.wired_limit_mb``) and the GPU core
count from ``ioreg -rc AGXAccelerator -d 1`` (``"gpu-core-count" = 20``), or
``system_profiler SPDisplaysDataType -json`` (slow, about a second) when ioreg
does not say.

The memory the GPU may wire — Metal's ``recommendedMaxWorkingSetSize`` — is
not available without Metal, so it is estimated as macOS sets it by default:
**3/4 of unified memory above 32 GiB, 2/3 at or below** (e.g. 16 GiB ->
10.7 GiB, 48 GiB -> 36 GiB). When an admin raised ``iogpu.wired_limit_mb``
(non-zero), that limit is the working set instead.

Memory bandwidth is Apple's published figure for the chip (``BANDWIDTH_GBPS``);
the M3 Max and M4 Max come in two memory widths, told apart by GPU core count.
"""

from __future__ import annotations

import json
import re

from aistack.hardware.profile import AppleInfo, GpuInfo
from aistack.hardware.sources.base import Facts, ProbeContext, normalise_arch, to_int

# Published unified-memory bandwidth (GB/s) by chip.
BANDWIDTH_GBPS = {
    "M1": 68.25, "M1 Pro": 200.0, "M1 Max": 400.0, "M1 Ultra": 800.0,
    "M2": 100.0, "M2 Pro": 200.0, "M2 Max": 400.0, "M2 Ultra": 800.0,
    "M3": 100.0, "M3 Pro": 150.0, "M3 Max": 400.0, "M3 Ultra": 819.0,
    "M4": 120.0, "M4 Pro": 273.0, "M4 Max": 546.0,
    "M5": 153.0,
}
# Binned Max chips with a narrower memory bus: (chip, GPU cores) -> GB/s.
BINNED_BANDWIDTH_GBPS = {("M3 Max", 30): 300.0, ("M4 Max", 32): 410.0}

_GIB = 1024**3


def default_working_set_bytes(unified_bytes: int) -> int:
    fraction = 3 / 4 if unified_bytes > 32 * _GIB else 2 / 3
    return int(unified_bytes * fraction)


def chip_family(brand: str) -> str | None:
    m = re.search(r"\b(M\d+)(?:\s+(Pro|Max|Ultra))?\b", brand)
    if not m:
        return None
    return f"{m.group(1)} {m.group(2)}" if m.group(2) else m.group(1)


def chip_bandwidth_gbps(brand: str, gpu_cores: int | None) -> float | None:
    family = chip_family(brand)
    if family is None:
        return None
    if gpu_cores is not None and (family, gpu_cores) in BINNED_BANDWIDTH_GBPS:
        return BINNED_BANDWIDTH_GBPS[(family, gpu_cores)]
    return BANDWIDTH_GBPS.get(family)


def parse_ioreg_gpu_cores(text: str) -> int | None:
    m = re.search(r'"gpu-core-count"\s*=\s*(\d+)', text)
    return int(m.group(1)) if m else None


def parse_system_profiler_gpu_cores(text: str) -> int | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    for item in data.get("SPDisplaysDataType", []):
        n = to_int(str(item.get("sppci_cores", "")))
        if n:
            return n
    return None


def gpu_cores(ctx: ProbeContext, facts: Facts) -> int | None:
    result = ctx.run(["ioreg", "-rc", "AGXAccelerator", "-d", "1"])
    n = parse_ioreg_gpu_cores(result.stdout) if result.returncode == 0 else None
    if n is None:
        result = ctx.run(["system_profiler", "SPDisplaysDataType", "-json"], timeout=10.0)
        n = parse_system_profiler_gpu_cores(result.stdout) if result.returncode == 0 else None
    if n is None:
        facts.warn("neither ioreg nor system_profiler reported the GPU core count")
    return n


class AppleSource:
    name = "apple"

    def read(self, ctx: ProbeContext) -> Facts:
        facts = Facts()
        if ctx.system != "Darwin" or normalise_arch(ctx.machine) != "arm64":
            return facts
        t = ctx.sysctl_table()
        chip = t.get("machdep.cpu.brand_string") or "Apple Silicon"
        unified = to_int(t.get("hw.memsize"))
        wired_mb = to_int(t.get("iogpu.wired_limit_mb"))
        wired = wired_mb * 1024**2 if wired_mb else None
        working_set = wired or (default_working_set_bytes(unified) if unified else None)
        cores = gpu_cores(ctx, facts)
        bandwidth = chip_bandwidth_gbps(chip, cores)
        if bandwidth is None:
            facts.warn(f"memory bandwidth of '{chip}' is not in aistack's table; the planner will estimate it")
        facts.apple = AppleInfo(
            chip=chip,
            performance_cores=to_int(t.get("hw.perflevel0.physicalcpu")),
            efficiency_cores=to_int(t.get("hw.perflevel1.physicalcpu")),
            gpu_cores=cores,
            unified_memory_bytes=unified,
            gpu_working_set_bytes=working_set,
            wired_limit_bytes=wired,
            bandwidth_gbps=bandwidth,
        )
        facts.gpus = (GpuInfo(
            vendor="apple",
            index=0,
            name=f"{chip} GPU",
            vram_total_bytes=working_set,
            unified_memory=True,
            bandwidth_gbps=bandwidth,
        ),)
        return facts


SOURCE = AppleSource()
