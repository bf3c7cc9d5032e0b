"""The human summary of a ``HardwareProfile`` (what ``aistack probe`` prints).

One line per part: OS, CPU (with the instruction sets that matter for
inference), RAM, one per GPU, the Apple chip, host capabilities, then the
warnings. ``--json`` prints the profile itself instead.
"""

from __future__ import annotations

from aistack.hardware.profile import GpuInfo, HardwareProfile, load_profile
from aistack.output import human_bytes

# Features worth a glance, strongest last within each family.
_SHOWN = ("avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_int8", "amx_bf16",
          "neon", "dotprod", "i8mm", "bf16", "sve", "sve2", "sme")


def get_profile(hardware_file: str | None = None) -> HardwareProfile:
    """A saved profile when a file is given, else a fresh probe of this machine."""
    if hardware_file:
        return load_profile(hardware_file)
    from aistack.hardware.probe import probe

    return probe()


def _os_line(p: HardwareProfile) -> str:
    o = p.os
    parts = [o.distro_name or " ".join(x for x in (o.distro, o.distro_version) if x) or o.system]
    if o.kernel:
        parts.append(f"kernel {o.kernel}")
    parts.append(o.arch)
    if o.wsl2:
        parts.append("WSL2")
    if o.container:
        parts.append(f"inside a {o.container} container")
    return " · ".join(parts)


def _cpu_line(p: HardwareProfile) -> str:
    c = p.cpu
    parts = [c.brand or c.vendor or "unknown CPU"]
    cores = []
    if c.physical_cores:
        cores.append(f"{c.physical_cores} cores")
    if c.logical_cores:
        cores.append(f"{c.logical_cores} threads")
    if cores:
        text = " / ".join(cores)
        if c.usable_cores:
            text += f" ({c.usable_cores} usable here)"
        parts.append(text)
    shown = [f for f in _SHOWN if c.has(f)]
    parts.append(" ".join(shown) if shown else "no AVX2/NEON")
    caches = [f"{name} {human_bytes(v)}" for name, v in (("L2", c.l2_cache_bytes), ("L3", c.l3_cache_bytes)) if v]
    if caches:
        parts.append(", ".join(caches))
    return " · ".join(parts)


def _ram_line(p: HardwareProfile) -> str:
    m = p.memory
    text = f"{human_bytes(m.ram_total_bytes)} total"
    if m.ram_available_bytes is not None:
        text += f", {human_bytes(m.ram_available_bytes)} available"
    parts = [text]
    if m.cgroup_limit_bytes is not None:
        parts.append(f"container limit {human_bytes(m.cgroup_limit_bytes)}")
    if m.swap_total_bytes:
        parts.append(f"swap {human_bytes(m.swap_total_bytes)}")
    else:
        parts.append("no swap")
    if m.bandwidth_gbps:
        parts.append(f"{m.bandwidth_gbps:g} GB/s")
    return " · ".join(parts)


def _gpu_line(g: GpuInfo) -> str:
    parts = [g.name]
    if g.vram_total_bytes is not None:
        mem = f"{human_bytes(g.vram_total_bytes)} {'GPU-usable' if g.vendor == 'apple' else 'VRAM'}"
        if g.vram_free_bytes is not None:
            mem += f" ({human_bytes(g.vram_free_bytes)} free)"
        parts.append(mem)
    else:
        parts.append("VRAM unknown")
    if g.gtt_total_bytes is not None:
        parts.append(f"GTT {human_bytes(g.gtt_total_bytes)}")
    if g.unified_memory and g.vendor != "apple":
        parts.append("integrated (shares RAM)")
    if g.compute_capability:
        parts.append(f"compute {g.compute_capability}")
    if g.gfx_target:
        parts.append(g.gfx_target)
    if g.bandwidth_gbps:
        parts.append(f"{g.bandwidth_gbps:g} GB/s")
    if g.pcie_generation and g.pcie_width:
        parts.append(f"PCIe {g.pcie_generation} x{g.pcie_width}")
    if g.power_limit_watts:
        parts.append(f"{g.power_limit_watts:g} W")
    if g.driver_version:
        parts.append(f"driver {g.driver_version}" + (f" (CUDA {g.cuda_driver_version})" if g.cuda_driver_version else ""))
    if g.mig_enabled:
        parts.append("MIG on")
    return " · ".join(parts)


def _host_line(p: HardwareProfile) -> str:
    h = p.host
    d = h.docker
    if d.reachable:
        docker = f"docker {d.server_version or 'reachable'}"
        if d.nvidia_runtime:
            docker += " (nvidia runtime)"
        if d.rootless:
            docker += " (rootless)"
    else:
        docker = "docker: not reachable"
    if h.init.launchd:
        init = "launchd"
    elif h.init.systemd_system:
        init = "systemd" + (" (+ user manager)" if h.init.systemd_user else "")
    else:
        init = "no systemd"
    parts = [docker, init, "root" if h.is_root else "not root"]
    if h.disk_free_bytes is not None:
        parts.append(f"{human_bytes(h.disk_free_bytes)} free at {h.models_dir}")
    return " · ".join(parts)


def render(p: HardwareProfile) -> str:
    rows = []
    if p.label:
        rows.append(("Profile", p.label))
    rows += [("OS", _os_line(p)), ("CPU", _cpu_line(p)), ("RAM", _ram_line(p))]
    if p.apple is not None:
        a = p.apple
        cores = ", ".join(x for x in (
            f"{a.performance_cores}P+{a.efficiency_cores}E CPU" if a.performance_cores else "",
            f"{a.gpu_cores}-core GPU" if a.gpu_cores else "",
        ) if x)
        wired = f" (wired limit {human_bytes(a.wired_limit_bytes)})" if a.wired_limit_bytes else ""
        rows.append(("Apple", f"{a.chip} · {cores} · {human_bytes(a.unified_memory_bytes)} unified, "
                              f"{human_bytes(a.gpu_working_set_bytes)} for the GPU{wired}"))
    if p.gpus:
        for g in p.gpus:
            rows.append((f"GPU {g.vendor} {g.index}", _gpu_line(g)))
    else:
        rows.append(("GPU", "none found"))
    rows.append(("Host", _host_line(p)))
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    if p.warnings:
        lines.append("")
        lines.append(f"Warnings ({len(p.warnings)}):")
        lines += [f"  {w.source}: {w.message}" for w in p.warnings]
    return "\n".join(lines)
