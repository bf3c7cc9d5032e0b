"""``probe()``: run every hardware source and merge what they saw into one profile.

The sources are a registry (``SOURCES``: name -> module holding ``SOURCE``),
each a small object with ``name`` and ``read(ctx) -> Facts`` (see
``aistack.hardware.sources.base``). Adding a kind of hardware is adding a
module and a line here.

Every source runs in its own daemon thread so a slow one (a Docker engine, a
wedged NVIDIA driver, ``system_profiler``) neither blocks the others nor the
caller beyond ``deadline_s``. Whatever a source raises — ImportError,
NVMLError, PermissionError, OSError, a timeout, a bug — becomes a
``ProbeWarning`` in the profile; the other sources' facts still come back.
``probe()`` itself never raises for the machine's sake.
"""

from __future__ import annotations

import importlib
import os
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Iterable

from aistack.hardware.profile import CpuInfo, HardwareProfile, HostInfo, MemoryInfo, OsInfo, ProbeWarning
from aistack.hardware.sources.base import Facts, ProbeContext, Source, normalise_arch

# Order is the order of GPUs and warnings in the profile.
SOURCES: dict[str, str] = {
    "os": "aistack.hardware.sources.os",
    "cpu": "aistack.hardware.sources.cpu",
    "memory": "aistack.hardware.sources.memory",
    "nvidia": "aistack.hardware.sources.nvidia",
    "amd": "aistack.hardware.sources.amd",
    "intel": "aistack.hardware.sources.intel",
    "apple": "aistack.hardware.sources.apple",
    "host": "aistack.hardware.sources.host",
}

DEADLINE_S = 8.0


def load_sources(names: Iterable[str] | None = None) -> list[Source]:
    return [importlib.import_module(SOURCES[n]).SOURCE for n in (names or SOURCES)]


def default_context(models_dir: str | os.PathLike | None = None) -> ProbeContext:
    from aistack import paths

    d = paths.dirs()
    return ProbeContext(cache_dir=d.cache, models_dir=Path(models_dir) if models_dir else d.models)


def _run_one(source: Source, ctx: ProbeContext) -> Facts:
    try:
        facts = source.read(ctx)
    except PermissionError as exc:
        facts = Facts()
        facts.warn(f"permission denied: {exc.filename or exc}" + (f" ({exc.strerror})" if exc.strerror else ""))
    except FileNotFoundError as exc:
        facts = Facts()
        facts.warn(f"not found: {exc.filename or exc}")
    except Exception as exc:  # any failure of one source is a warning, never an escape
        facts = Facts()
        facts.warn(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    for i, w in enumerate(facts.warnings):
        if not w.source:
            facts.warnings[i] = ProbeWarning(source.name, w.message)
    return facts


def run_sources(sources: list[Source], ctx: ProbeContext, deadline_s: float = DEADLINE_S) -> list[Facts]:
    """Run sources concurrently; one that misses the deadline yields a warning."""
    results: list[Facts | None] = [None] * len(sources)

    def work(i: int, src: Source) -> None:
        results[i] = _run_one(src, ctx)

    threads = []
    for i, src in enumerate(sources):
        t = threading.Thread(target=work, args=(i, src), name=f"probe-{src.name}", daemon=True)
        t.start()
        threads.append(t)
    end = time.monotonic() + deadline_s
    for t in threads:
        t.join(max(0.0, end - time.monotonic()))
    out = []
    for i, src in enumerate(sources):
        facts = results[i]
        if facts is None:
            facts = Facts()
            facts.warn(f"did not answer within {deadline_s:g} s; its facts are missing", source=src.name)
        out.append(facts)
    return out


def merge(parts: list[Facts], ctx: ProbeContext) -> HardwareProfile:
    """Combine partial facts; fill what no source could read with safe fallbacks."""
    found = Facts()
    gpus = []
    warnings: list[ProbeWarning] = []
    for part in parts:
        for name in ("os", "cpu", "memory", "apple", "host"):
            value = getattr(part, name)
            if value is not None and getattr(found, name) is None:
                setattr(found, name, value)
        gpus.extend(part.gpus)
        warnings.extend(part.warnings)
    os_info = found.os or OsInfo(system=ctx.system or "unknown", arch=normalise_arch(ctx.machine))
    cpu = found.cpu or CpuInfo(logical_cores=os.cpu_count() if ctx.root == Path("/") else None)
    memory = found.memory
    if memory is None:
        memory = MemoryInfo(ram_total_bytes=0)
        if not any(w.source == "memory" for w in warnings):
            warnings.append(ProbeWarning("memory", "total RAM unknown; reported as 0"))
    if found.apple is not None and memory.bandwidth_gbps is None and found.apple.bandwidth_gbps:
        memory = replace(memory, bandwidth_gbps=found.apple.bandwidth_gbps)
    return HardwareProfile(
        os=os_info,
        cpu=cpu,
        memory=memory,
        gpus=tuple(gpus),
        apple=found.apple,
        host=found.host or HostInfo(),
        warnings=tuple(warnings),
        probed_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )


def probe(
    models_dir: str | os.PathLike | None = None,
    *,
    ctx: ProbeContext | None = None,
    sources: Iterable[str] | None = None,
    deadline_s: float = DEADLINE_S,
) -> HardwareProfile:
    """Probe this machine (or what ``ctx`` points at) and return its profile."""
    if ctx is None:
        ctx = default_context(models_dir)
    try:
        loaded = load_sources(sources)
    except ImportError as exc:  # a broken install: say so, still return what we can
        return merge([Facts(warnings=[ProbeWarning("probe", f"source module missing: {exc}")])], ctx)
    return merge(run_sources(loaded, ctx, deadline_s), ctx)
