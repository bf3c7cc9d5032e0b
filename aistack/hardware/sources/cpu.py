"""CPU: vendor, brand, cores, inference-relevant instruction sets, caches.

Read directly, because it is fast: ``/proc/cpuinfo`` and
``/sys/devices/system/cpu`` on Linux, ``sysctl`` on macOS. py-cpuinfo's full
``get_cpu_info()`` (about 1.5 s: it starts subprocesses and runs CPUID code)
is only the fallback for other systems. The static part is cached once per
boot (keyed by ``/proc/sys/kernel/random/boot_id`` or macOS ``kern.boottime``)
in ``<cache dir>/probe/cpu-<boot>.json``; ``usable_cores`` (affinity and cgroup
quota) is read live every time.

Feature names are normalised (see ``FEATURES``) so that Linux flags, macOS
sysctl names and py-cpuinfo flags all come out the same.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from aistack import values
from aistack.hardware.profile import CpuInfo
from aistack.hardware.sources import cgroup
from aistack.hardware.sources.base import Facts, ProbeContext, count_cpu_list, normalise_arch, to_int

# Bump when the reader changes what it reports, to invalidate old caches.
CACHE_VERSION = 1

# The canonical feature names aistack reports, in display order.
FEATURES = (
    "sse3", "ssse3", "sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c",
    "avx512f", "avx512bw", "avx512vl", "avx512_vbmi", "avx512_vnni", "avx512_bf16", "avx512_fp16",
    "avx_vnni", "amx_tile", "amx_int8", "amx_bf16",
    "neon", "fp16", "dotprod", "i8mm", "bf16", "sve", "sve2", "sme",
)

# Spelling found in the wild (lower-cased, underscores and dots removed) -> canonical.
_ALIASES = {name.replace("_", ""): name for name in FEATURES}
_ALIASES.update({
    "pni": "sse3",              # Linux /proc/cpuinfo calls SSE3 "pni"
    "avx10": "avx",             # macOS "AVX1.0"
    "avx1": "avx",              # macOS hw.optional.avx1_0
    "avx512vnni": "avx512_vnni",
    "asimd": "neon",            # Linux arm64 names
    "advsimd": "neon",
    "asimddp": "dotprod",
    "asimdhp": "fp16",
    "featdotprod": "dotprod",   # macOS hw.optional.arm.FEAT_*
    "feati8mm": "i8mm",
    "featbf16": "bf16",
    "featfp16": "fp16",
    "featsme": "sme",
    "svei8mm": "i8mm",
})


def normalise_features(flags) -> tuple[str, ...]:
    found = set()
    for flag in flags:
        key = flag.lower().replace("_", "").replace(".", "")
        name = _ALIASES.get(key)
        if name:
            found.add(name)
    return tuple(f for f in FEATURES if f in found)


# arm64 "CPU implementer" codes and a few common "CPU part" numbers, for a
# readable brand where /proc/cpuinfo has no "model name".
_ARM_IMPLEMENTERS = {
    "0x41": "ARM", "0x42": "Broadcom", "0x43": "Cavium", "0x46": "Fujitsu", "0x48": "HiSilicon",
    "0x4e": "NVIDIA", "0x50": "APM", "0x51": "Qualcomm", "0x61": "Apple", "0xc0": "Ampere",
}
_ARM_PARTS = {
    ("0x41", "0xd03"): "Cortex-A53", ("0x41", "0xd05"): "Cortex-A55", ("0x41", "0xd08"): "Cortex-A72",
    ("0x41", "0xd0b"): "Cortex-A76", ("0x41", "0xd0c"): "Neoverse-N1", ("0x41", "0xd40"): "Neoverse-V1",
    ("0x41", "0xd49"): "Neoverse-N2", ("0x41", "0xd4f"): "Neoverse-V2", ("0x41", "0xd8e"): "Neoverse-N3",
    ("0xc0", "0xac3"): "AmpereOne", ("0x48", "0xd01"): "Kunpeng-920",
}


# -- Linux ---------------------------------------------------------------------

def _cpuinfo_blocks(text: str) -> list[dict[str, str]]:
    blocks, cur = [], {}
    for line in text.splitlines():
        if not line.strip():
            if cur:
                blocks.append(cur)
                cur = {}
            continue
        key, sep, value = line.partition(":")
        if sep:
            cur[key.strip().lower()] = value.strip()
    if cur:
        blocks.append(cur)
    return blocks


def _sysfs_cpus(ctx: ProbeContext) -> list[Path]:
    base = ctx.path("/sys/devices/system/cpu")
    try:
        return sorted(p for p in base.iterdir() if p.name.startswith("cpu") and p.name[3:].isdigit())
    except OSError:
        return []


def _physical_cores(ctx: ProbeContext, cpus: list[Path], blocks: list[dict[str, str]]) -> int | None:
    cores = set()
    for cpu in cpus:
        topo = cpu / "topology"
        try:
            pkg = (topo / "physical_package_id").read_text().strip()
            core = (topo / "core_id").read_text().strip()
        except OSError:
            continue
        cores.add((pkg, core))
    if cores:
        return len(cores)
    pairs = {(b.get("physical id"), b.get("core id")) for b in blocks if "core id" in b}
    if pairs:
        return len(pairs)
    return None


def _caches(cpus: list[Path]) -> tuple[int | None, int | None]:
    """Total L2 and L3 bytes: each distinct cache instance counted once."""
    seen: set[tuple[str, str, str]] = set()
    totals: dict[str, int] = {}
    for cpu in cpus:
        try:
            entries = sorted((cpu / "cache").iterdir())
        except OSError:
            continue
        for idx in entries:
            if not idx.name.startswith("index"):
                continue
            try:
                level = (idx / "level").read_text().strip()
                kind = (idx / "type").read_text().strip()
                size = (idx / "size").read_text().strip()
                shared = (idx / "shared_cpu_list").read_text().strip()
            except OSError:
                continue
            if kind == "Instruction" or level not in ("2", "3"):
                continue
            key = (level, kind, shared)
            if key in seen:
                continue
            seen.add(key)
            nbytes = _size_bytes(size)
            if nbytes:
                totals[level] = totals.get(level, 0) + nbytes
    return totals.get("2"), totals.get("3")


def _size_bytes(text: str) -> int | None:
    text = text.strip().upper()
    mult = 1
    for suffix, m in (("K", 1024), ("M", 1024**2), ("G", 1024**3)):
        if text.endswith(suffix):
            text, mult = text[:-1], m
            break
    n = to_int(text)
    return n * mult if n is not None else None


def read_linux(ctx: ProbeContext) -> CpuInfo:
    text = ctx.read_text("/proc/cpuinfo")
    blocks = _cpuinfo_blocks(text)
    first = next((b for b in blocks if "processor" in b), blocks[0] if blocks else {})
    flags = (first.get("flags") or first.get("features") or "").split()
    arch = normalise_arch(ctx.machine)
    features = normalise_features(flags)
    if arch == "arm64" and "neon" not in features:
        features = normalise_features(list(features) + ["neon"])  # mandatory in ARMv8-A

    vendor = first.get("vendor_id")
    brand = first.get("model name")
    if vendor is None and "cpu implementer" in first:
        impl = first["cpu implementer"].lower()
        vendor = _ARM_IMPLEMENTERS.get(impl, f"ARM implementer {impl}")
        part = _ARM_PARTS.get((impl, first.get("cpu part", "").lower()))
        if brand is None:
            brand = f"{vendor} {part}" if part else None
    if brand is None:
        model = ctx.read_opt("/sys/firmware/devicetree/base/model")
        brand = model.rstrip("\0") if model else None

    cpus = _sysfs_cpus(ctx)
    logical = count_cpu_list(ctx.read_opt("/sys/devices/system/cpu/online"))
    if logical is None:
        logical = sum(1 for b in blocks if "processor" in b) or None
    l2, l3 = _caches(cpus)
    return CpuInfo(
        vendor=vendor,
        brand=brand,
        physical_cores=_physical_cores(ctx, cpus, blocks),
        logical_cores=logical,
        features=features,
        l2_cache_bytes=l2,
        l3_cache_bytes=l3,
    )


# -- macOS ---------------------------------------------------------------------

def read_darwin(ctx: ProbeContext) -> CpuInfo:
    t = ctx.sysctl_table()
    arch = normalise_arch(ctx.machine)
    names = []
    for key, value in t.items():
        if key.startswith("hw.optional.") and value.strip() == "1":
            leaf = key.rsplit(".", 1)[-1]
            names.append(leaf[:-2] if leaf.endswith("_0") else leaf)  # "avx2_0" -> "avx2"
    names += t.get("machdep.cpu.features", "").split() + t.get("machdep.cpu.leaf7_features", "").split()
    if arch == "arm64":
        names.append("neon")
    brand = t.get("machdep.cpu.brand_string")
    vendor = t.get("machdep.cpu.vendor") or ("Apple" if arch == "arm64" else None)
    l2 = to_int(t.get("hw.perflevel0.l2cachesize")) or to_int(t.get("hw.l2cachesize"))
    return CpuInfo(
        vendor=vendor,
        brand=brand,
        physical_cores=to_int(t.get("hw.physicalcpu")),
        logical_cores=to_int(t.get("hw.logicalcpu")),
        features=normalise_features(names),
        l2_cache_bytes=l2,
        l3_cache_bytes=to_int(t.get("hw.l3cachesize")) or None,
    )


# -- anything else: py-cpuinfo ---------------------------------------------------

def read_cpuinfo_library(ctx: ProbeContext) -> CpuInfo:
    import cpuinfo  # py-cpuinfo; slow (subprocesses, CPUID), hence cached per boot

    info = cpuinfo.get_cpu_info()
    return CpuInfo(
        vendor=info.get("vendor_id_raw") or None,
        brand=info.get("brand_raw") or None,
        physical_cores=None,
        logical_cores=info.get("count") or os.cpu_count(),
        features=normalise_features(info.get("flags", [])),
        l2_cache_bytes=info.get("l2_cache_size") or None,
        l3_cache_bytes=info.get("l3_cache_size") or None,
    )


# -- per-boot cache --------------------------------------------------------------

def boot_id(ctx: ProbeContext) -> str | None:
    if ctx.system == "Linux":
        bid = ctx.read_opt("/proc/sys/kernel/random/boot_id")
        return bid.replace("-", "") if bid else None
    if ctx.system == "Darwin":
        text = ctx.sysctl_table().get("kern.boottime", "")
        digits = "".join(ch for ch in text.split(",")[0] if ch.isdigit())
        return f"t{digits}" if digits else None
    return None


def _cache_file(ctx: ProbeContext, key: str) -> Path | None:
    if ctx.cache_dir is None:
        return None
    return Path(ctx.cache_dir) / "probe" / f"cpu-{key}.json"


def _load_cached(path: Path) -> CpuInfo | None:
    from aistack import __version__

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("cache_version") != CACHE_VERSION or data.get("aistack") != __version__:
            return None
        return values.from_dict(CpuInfo, data["cpu"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _store_cached(path: Path, cpu: CpuInfo) -> str | None:
    """Write atomically; drop caches of earlier boots. Returns a warning or None."""
    from aistack import __version__, atomicfile

    try:
        payload = {"cache_version": CACHE_VERSION, "aistack": __version__, "cpu": values.to_dict(cpu)}
        atomicfile.write_json(path, payload, indent=None)
        for old in path.parent.glob("cpu-*.json"):
            if old != path:
                old.unlink(missing_ok=True)
    except OSError as exc:
        return f"could not write the CPU cache {path}: {exc.strerror or exc}"
    return None


def usable_cores(ctx: ProbeContext, logical: int | None) -> int | None:
    """Cores this process may run on, when fewer than ``logical``."""
    limits = []
    if ctx.root == Path("/") and hasattr(os, "sched_getaffinity"):
        try:
            limits.append(len(os.sched_getaffinity(0)))
        except OSError:
            pass
    if ctx.system == "Linux":
        quota = cgroup.cpu_quota_cores(ctx)
        if quota:
            limits.append(quota)
    if not limits:
        return None
    n = min(limits)
    return n if logical is None or n < logical else None


class CpuSource:
    name = "cpu"

    def read(self, ctx: ProbeContext) -> Facts:
        from dataclasses import replace

        facts = Facts()
        key = boot_id(ctx)
        cache = _cache_file(ctx, key) if key else None
        cpu = _load_cached(cache) if cache else None
        if cpu is None:
            if ctx.system == "Linux":
                try:
                    cpu = read_linux(ctx)
                except OSError:
                    if ctx.root != Path("/"):
                        raise  # a recorded tree without /proc/cpuinfo: never read the real CPU
                    cpu = read_cpuinfo_library(ctx)
            elif ctx.system == "Darwin":
                cpu = read_darwin(ctx)
            else:
                cpu = read_cpuinfo_library(ctx)
            if cache is not None:
                problem = _store_cached(cache, cpu)
                if problem:
                    facts.warn(problem)
        facts.cpu = replace(cpu, usable_cores=usable_cores(ctx, cpu.logical_cores))
        return facts


SOURCE = CpuSource()
