"""Limits the Linux control group puts on this process (memory, CPU quota).

Both cgroup v2 (one ``0::/path`` line in ``/proc/self/cgroup``, files under
``/sys/fs/cgroup/<path>``) and v1 (``N:memory:/path``, files under
``/sys/fs/cgroup/memory/<path>``) are read. Inside a container with its own
cgroup namespace the path is ``/`` and the files sit at the mount's top, so the
top is tried as well. A limit of "max" or >= 2**62 (v1's "unlimited") is
reported as ``None``.
"""

from __future__ import annotations

import math

from aistack.hardware.sources.base import ProbeContext, to_int

_UNLIMITED = 1 << 62


def _memberships(ctx: ProbeContext) -> dict[str, str]:
    """controller -> path ("" is the v2 unified hierarchy)."""
    out: dict[str, str] = {}
    for line in (ctx.read_opt("/proc/self/cgroup") or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":
            out[""] = path
        for c in controllers.split(","):
            if c:
                out[c] = path
    return out


def _candidates(base: str, path: str | None) -> list[str]:
    out = []
    if path and path != "/":
        out.append(f"{base}{path.rstrip('/')}")
    out.append(base)
    return out


def _first(ctx: ProbeContext, dirs: list[str], name: str) -> str | None:
    for d in dirs:
        text = ctx.read_opt(f"{d}/{name}")
        if text is not None:
            return text
    return None


def memory_limit_bytes(ctx: ProbeContext) -> int | None:
    groups = _memberships(ctx)
    if "" in groups or not groups:
        text = _first(ctx, _candidates("/sys/fs/cgroup", groups.get("")), "memory.max")
        if text is not None and text != "max":
            value = to_int(text)
            if value is not None and value < _UNLIMITED:
                return value
    if "memory" in groups or not groups:
        text = _first(ctx, _candidates("/sys/fs/cgroup/memory", groups.get("memory")), "memory.limit_in_bytes")
        value = to_int(text)
        if value is not None and value < _UNLIMITED:
            return value
    return None


def cpu_quota_cores(ctx: ProbeContext) -> int | None:
    """CPU quota as whole cores (rounded up), or ``None`` when there is none."""
    groups = _memberships(ctx)
    if "" in groups or not groups:
        text = _first(ctx, _candidates("/sys/fs/cgroup", groups.get("")), "cpu.max")
        if text:
            quota, _, period = text.partition(" ")
            q, p = to_int(quota), to_int(period or "100000")
            if q and p and q > 0:
                return max(1, math.ceil(q / p))
    if "cpu" in groups or not groups:
        dirs = _candidates("/sys/fs/cgroup/cpu", groups.get("cpu"))
        q = to_int(_first(ctx, dirs, "cpu.cfs_quota_us"))
        p = to_int(_first(ctx, dirs, "cpu.cfs_period_us"))
        if q and p and q > 0:
            return max(1, math.ceil(q / p))
    return None
