"""System memory: total and available RAM, swap, and a container's memory limit.

Always read live. Linux: ``/proc/meminfo`` (``MemAvailable`` is the kernel's
own estimate of what can be allocated without swapping) and the cgroup limit
(``memory.max`` / ``memory.limit_in_bytes``). macOS: ``hw.memsize``,
``vm.swapusage`` and ``vm_stat`` (available = free + inactive + speculative
pages, the same pages Activity Monitor does not count as "used").
"""

from __future__ import annotations

import os
import re

from aistack.hardware.profile import MemoryInfo
from aistack.hardware.sources import cgroup
from aistack.hardware.sources.base import Facts, ProbeContext, to_int


def parse_meminfo(text: str) -> dict[str, int]:
    """``/proc/meminfo`` -> bytes per key."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        if not sep:
            continue
        parts = rest.split()
        if not parts:
            continue
        n = to_int(parts[0])
        if n is None:
            continue
        out[key.strip()] = n * 1024 if len(parts) > 1 and parts[1].lower() == "kb" else n
    return out


def read_linux(ctx: ProbeContext, facts: Facts) -> MemoryInfo:
    info = parse_meminfo(ctx.read_text("/proc/meminfo"))
    total = info.get("MemTotal")
    if total is None:
        raise ValueError("/proc/meminfo has no MemTotal line")
    available = info.get("MemAvailable")
    if available is None and "MemFree" in info:  # kernels before 3.14
        available = info["MemFree"] + info.get("Buffers", 0) + info.get("Cached", 0)
    limit = cgroup.memory_limit_bytes(ctx)
    return MemoryInfo(
        ram_total_bytes=total,
        ram_available_bytes=available,
        swap_total_bytes=info.get("SwapTotal"),
        swap_free_bytes=info.get("SwapFree"),
        cgroup_limit_bytes=limit,
    )


_SWAP_RE = re.compile(r"(total|used|free)\s*=\s*([\d.]+)([KMGT]?)", re.I)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_swapusage(text: str) -> dict[str, int]:
    """``total = 2048.00M  used = 1024.50M  free = 1023.50M  (encrypted)`` -> bytes."""
    return {k.lower(): int(float(v) * _UNITS[u.upper()]) for k, v, u in _SWAP_RE.findall(text)}


def parse_vm_stat(text: str) -> int | None:
    """Available bytes from ``vm_stat``: (free + inactive + speculative) pages x page size."""
    m = re.search(r"page size of (\d+) bytes", text)
    if not m:
        return None
    page = int(m.group(1))
    pages: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        n = to_int(value.strip().rstrip(".")) if sep else None
        if n is not None:
            pages[key.strip().lower()] = n
    wanted = ("pages free", "pages inactive", "pages speculative")
    if not any(k in pages for k in wanted):
        return None
    return sum(pages.get(k, 0) for k in wanted) * page


def read_darwin(ctx: ProbeContext, facts: Facts) -> MemoryInfo:
    t = ctx.sysctl_table()
    total = to_int(t.get("hw.memsize"))
    if total is None:
        raise ValueError("sysctl hw.memsize did not answer")
    swap = parse_swapusage(t.get("vm.swapusage", ""))
    available = None
    result = ctx.run(["vm_stat"])
    if result.returncode == 0:
        available = parse_vm_stat(result.stdout)
    if available is None:
        facts.warn("vm_stat gave no page counts: available memory unknown")
    return MemoryInfo(
        ram_total_bytes=total,
        ram_available_bytes=available,
        swap_total_bytes=swap.get("total"),
        swap_free_bytes=swap.get("free"),
    )


def read_sysconf() -> MemoryInfo:
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    avail = None
    try:
        avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        pass
    return MemoryInfo(ram_total_bytes=total, ram_available_bytes=avail)


class MemorySource:
    name = "memory"

    def read(self, ctx: ProbeContext) -> Facts:
        facts = Facts()
        if ctx.system == "Linux":
            facts.memory = read_linux(ctx, facts)
        elif ctx.system == "Darwin":
            facts.memory = read_darwin(ctx, facts)
        else:
            facts.memory = read_sysconf()
        return facts


SOURCE = MemorySource()
