"""Where a model can run on a given machine: backends, builds and their memory.

Pure functions of a ``HardwareProfile``. A ``Target`` is one backend build
(llama.cpp-cuda, llama.cpp-metal, mlx, ternary/bitnet-cpu, llama.cpp-cpu...)
with the devices it would use and how many bytes the planner lets itself
use on each (``capacity_bytes``, after safety margins).

Margins (documented so a reader can check a plan by hand):

* GPU: free VRAM (total when free is unknown) minus max(5 % of total, 256 MiB).
* CPU: available RAM (75 % of total when unknown) minus max(10 % of total, 1 GiB)
  for the OS, the server process and everything else running.
* Apple unified memory: the GPU working set Metal allows (``iogpu.wired_limit_mb``
  when an admin set it, else recommendedMaxWorkingSetSize, else 75 % of RAM),
  minus 5 %.
"""

from __future__ import annotations

from dataclasses import dataclass

from aistack.hardware.profile import GpuInfo, HardwareProfile
from aistack.plan.model import Alternative
from aistack.plan.speed import cpu_bandwidth, gpu_bandwidth

MiB = 1024**2
GiB = 1024**3

# ROCm builds of llama.cpp target these gfx architectures; others use Vulkan.
ROCM_GFX = ("gfx900", "gfx906", "gfx908", "gfx90a", "gfx942", "gfx1030", "gfx1100", "gfx1101", "gfx1102",
            "gfx1150", "gfx1151", "gfx1200", "gfx1201")
# Builds aistack can install today; the others are planned but not installable yet.
INSTALLABLE = {("llama.cpp", "cpu"), ("llama.cpp", "cuda"), ("llama.cpp", "metal"), ("ternary", "bitnet-cpu")}


@dataclass(frozen=True)
class Device:
    name: str  # "cpu", "gpu0", "unified"
    kind: str  # memory/compute kind: "cpu", "cuda", "rocm", "vulkan", "sycl", "metal", "mlx"
    capacity_bytes: int
    bandwidth_gbps: float | None
    gpu_index: int | None = None
    label: str = ""


@dataclass(frozen=True)
class Target:
    backend: str  # "llama.cpp", "mlx", "ternary"
    build: str  # "cuda", "cpu", "metal", "rocm", "vulkan", "sycl", "mlx", "bitnet-cpu"
    artifact_kind: str  # "gguf", "mlx", "ternary-gguf"
    host: Device  # the CPU (or the unified memory pool on Apple)
    gpus: tuple[Device, ...] = ()
    bonus: float = 0.0  # ranking preference between targets serving the same file quality
    bandwidth_note: str = ""

    @property
    def name(self) -> str:
        return f"{self.backend}-{self.build}" if self.backend != self.build else self.backend

    @property
    def unified(self) -> bool:
        return self.host.name == "unified"

    @property
    def installable(self) -> bool:
        return (self.backend, self.build) in INSTALLABLE


def cpu_capacity(profile: HardwareProfile) -> int:
    total = profile.memory.ram_total_bytes
    avail = profile.memory.ram_available_bytes if profile.memory.ram_available_bytes is not None else int(total * 0.75)
    return max(0, avail - max(int(total * 0.10), 1 * GiB))


def gpu_capacity(g: GpuInfo) -> int:
    total = g.vram_total_bytes or 0
    free = g.vram_free_bytes if g.vram_free_bytes is not None else total
    return max(0, free - max(int(total * 0.05), 256 * MiB))


def unified_capacity(profile: HardwareProfile) -> int:
    a = profile.apple
    assert a is not None
    ram = a.unified_memory_bytes or profile.memory.ram_total_bytes
    limit = a.wired_limit_bytes or a.gpu_working_set_bytes or int(ram * 0.75)
    return int(min(limit, ram) * 0.95)


def _cc(g: GpuInfo) -> float | None:
    try:
        return float(g.compute_capability) if g.compute_capability else None
    except ValueError:
        return None


def targets(profile: HardwareProfile) -> tuple[list[Target], list[Alternative]]:
    """Every target this machine offers, and the backends it cannot use (with why)."""
    out: list[Target] = []
    rejected: list[Alternative] = []
    cpu_bw, cpu_note = cpu_bandwidth(profile)
    cpu = Device("cpu", "cpu", cpu_capacity(profile), cpu_bw, label=profile.cpu.brand or "CPU")
    usable_gpu = False

    nvidia = profile.gpus_of("nvidia")
    ok: list[GpuInfo] = []
    for g in nvidia:
        cc = _cc(g)
        if not g.vram_total_bytes:
            rejected.append(Alternative(f"llama.cpp-cuda on GPU {g.index} ({g.name})", "its VRAM size is unknown"))
        elif cc is None or cc < 5.0:
            rejected.append(Alternative(f"llama.cpp-cuda on GPU {g.index} ({g.name})",
                                        f"compute capability {g.compute_capability or 'unknown'} < 5.0"))
        elif not g.driver_version:
            rejected.append(Alternative(f"llama.cpp-cuda on GPU {g.index} ({g.name})", "no NVIDIA driver version reported"))
        elif g.mig_enabled:
            rejected.append(Alternative(f"llama.cpp-cuda on GPU {g.index} ({g.name})", "MIG mode is enabled"))
        else:
            ok.append(g)
    if ok:
        devs = tuple(Device(f"gpu{i}", "cuda", gpu_capacity(g), gpu_bandwidth(g), g.index, g.name) for i, g in enumerate(ok))
        out.append(Target("llama.cpp", "cuda", "gguf", cpu, devs, bonus=0.0, bandwidth_note=cpu_note))
        usable_gpu = True
    elif not nvidia and any(w.source == "nvidia" for w in profile.warnings):
        msg = next(w.message for w in profile.warnings if w.source == "nvidia")
        rejected.append(Alternative("llama.cpp-cuda", f"no usable NVIDIA GPU: the probe reported '{msg}'"))

    if profile.apple is not None and profile.os.arch == "arm64":
        cap = unified_capacity(profile)
        bw = profile.apple.bandwidth_gbps or cpu_bw
        uni_mlx = Device("unified", "mlx", cap, bw, label=profile.apple.chip)
        uni_metal = Device("unified", "metal", cap, bw, label=profile.apple.chip)
        out.append(Target("mlx", "mlx", "mlx", uni_mlx, bonus=2.0, bandwidth_note=cpu_note))
        out.append(Target("llama.cpp", "metal", "gguf", uni_metal, bonus=0.0, bandwidth_note=cpu_note))
        usable_gpu = True
    else:
        rejected.append(Alternative("mlx", "MLX needs Apple Silicon"))

    amd = [g for g in profile.gpus_of("amd") if g.vram_total_bytes or g.gtt_total_bytes]
    if amd:
        devs = []
        for i, g in enumerate(amd):
            if g.unified_memory and g.gtt_total_bytes:
                cap = min(int(g.gtt_total_bytes * 0.9), cpu.capacity_bytes)
            else:
                cap = gpu_capacity(g)
            devs.append(Device(f"gpu{i}", "rocm", cap, gpu_bandwidth(g), g.index, g.name))
        build = "rocm" if all(g.gfx_target in ROCM_GFX for g in amd) else "vulkan"
        devs = [Device(d.name, build, d.capacity_bytes, d.bandwidth_gbps, d.gpu_index, d.label) for d in devs]
        out.append(Target("llama.cpp", build, "gguf", cpu, tuple(devs), bandwidth_note=cpu_note))
        usable_gpu = True

    intel = profile.gpus_of("intel")
    intel_known = [g for g in intel if g.vram_total_bytes]
    if intel_known:
        devs = tuple(Device(f"gpu{i}", "sycl", gpu_capacity(g), gpu_bandwidth(g), g.index, g.name)
                     for i, g in enumerate(intel_known))
        out.append(Target("llama.cpp", "sycl", "gguf", cpu, devs, bandwidth_note=cpu_note))
        usable_gpu = True
    for g in intel:
        if not g.vram_total_bytes:
            rejected.append(Alternative(f"llama.cpp-sycl on GPU {g.index} ({g.name})", "its memory size is unknown"))

    if usable_gpu:
        rejected.append(Alternative("ternary (bitnet-cpu)", "a usable GPU is present; ternary CPU kernels are for machines without one"))
    else:
        out.append(Target("ternary", "bitnet-cpu", "ternary-gguf", cpu, bonus=8.0, bandwidth_note=cpu_note))
    out.append(Target("llama.cpp", "cpu", "gguf", cpu, bandwidth_note=cpu_note))
    return out, rejected
