"""NVIDIA GPUs through NVML (the ``pynvml`` module of the ``nvidia-ml-py`` distribution).

``pynvml`` is imported lazily, and only when an NVIDIA kernel driver is
present (``driver_present``); a test injects a fake module with the same
names through ``ProbeContext.nvml``. ``nvmlInit`` failing is the common case
on a machine without an NVIDIA driver and becomes one warning that says why
(library not found, driver not loaded, driver/library version mismatch after
an upgrade without a reboot, no permission).

Per device: name, uuid, VRAM total/free/used, compute capability, driver and
CUDA driver version, PCIe generation/width (the maximum the link supports,
because the current link trains down when idle), power limit, MIG mode, and
the memory bus width and maximum memory clock, from which the peak memory
bandwidth is derived::

    bandwidth_gbps = bus_width_bits / 8 * max_memory_clock_mhz * 2 / 1000

The factor 2 is the double data rate: NVML reports the memory clock such that
two transfers happen per clock per pin (RTX 4090: 384-bit, 10501 MHz ->
1008 GB/s; A100 40 GB: 5120-bit HBM2e, 1215 MHz -> 1555 GB/s; both match the
published figures). A query the device or driver does not support leaves its
field ``None`` silently; any other per-field error becomes a warning and the
rest of the device is still reported.
"""

from __future__ import annotations

from typing import Any, Callable

from aistack.hardware.profile import GpuInfo
from aistack.hardware.sources.base import Facts, ProbeContext


def bandwidth_gbps(bus_width_bits: int | None, mem_clock_mhz: int | None) -> float | None:
    if not bus_width_bits or not mem_clock_mhz:
        return None
    return round(bus_width_bits / 8 * mem_clock_mhz * 2 / 1000, 1)


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _init_error_message(nvml: Any, exc: Exception) -> str:
    code = getattr(exc, "value", None)
    known = {
        getattr(nvml, "NVML_ERROR_LIBRARY_NOT_FOUND", 12):
            "NVML library (libnvidia-ml.so) not found: no NVIDIA driver is installed, so no NVIDIA GPU is reported",
        getattr(nvml, "NVML_ERROR_DRIVER_NOT_LOADED", 9):
            "the NVIDIA driver is installed but not loaded (no kernel module): no NVIDIA GPU is reported; "
            "check 'nvidia-smi' and 'lsmod | grep nvidia'",
        getattr(nvml, "NVML_ERROR_LIB_RM_VERSION_MISMATCH", 18):
            "NVIDIA driver/library version mismatch (the driver was upgraded but the old kernel module is "
            "still loaded): no NVIDIA GPU is reported; reboot, then run 'aistack probe' again",
        getattr(nvml, "NVML_ERROR_NO_PERMISSION", 4):
            "no permission to open the NVIDIA devices (/dev/nvidia*): no NVIDIA GPU is reported; "
            "run as a user with access to them",
    }
    return known.get(code, f"NVML did not initialise ({exc}): no NVIDIA GPU is reported")


class _DeviceReader:
    """Calls NVML per field: an unsupported query leaves the field None."""

    def __init__(self, nvml: Any, facts: Facts, label: str):
        self.nvml = nvml
        self.facts = facts
        self.label = label
        self._quiet = {
            getattr(nvml, "NVML_ERROR_NOT_SUPPORTED", 3),
            getattr(nvml, "NVML_ERROR_FUNCTION_NOT_FOUND", 13),
        }

    def get(self, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except self.nvml.NVMLError as exc:
            if getattr(exc, "value", None) not in self._quiet:
                self.facts.warn(f"{self.label}: could not read {what}: {exc}")
            return None
        except (AttributeError, TypeError) as exc:  # an older pynvml without this call
            self.facts.warn(f"{self.label}: could not read {what}: {exc}")
            return None


def read_device(nvml: Any, facts: Facts, index: int, driver: str | None, cuda: str | None) -> GpuInfo | None:
    r = _DeviceReader(nvml, facts, f"GPU {index}")
    handle = r.get("the device handle", lambda: nvml.nvmlDeviceGetHandleByIndex(index))
    if handle is None:
        return None
    name = r.get("the name", lambda: _text(nvml.nvmlDeviceGetName(handle))) or f"NVIDIA GPU {index}"
    mem = r.get("memory info", lambda: nvml.nvmlDeviceGetMemoryInfo(handle))
    cc = r.get("compute capability", lambda: nvml.nvmlDeviceGetCudaComputeCapability(handle))
    bus = r.get("memory bus width", lambda: nvml.nvmlDeviceGetMemoryBusWidth(handle))
    clock = r.get("max memory clock", lambda: nvml.nvmlDeviceGetMaxClockInfo(handle, nvml.NVML_CLOCK_MEM))
    gen = r.get("PCIe generation", lambda: nvml.nvmlDeviceGetMaxPcieLinkGeneration(handle))
    width = r.get("PCIe width", lambda: nvml.nvmlDeviceGetMaxPcieLinkWidth(handle))
    power_mw = r.get("power limit", lambda: nvml.nvmlDeviceGetPowerManagementLimit(handle))
    mig = r.get("MIG mode", lambda: nvml.nvmlDeviceGetMigMode(handle))
    uuid = r.get("uuid", lambda: _text(nvml.nvmlDeviceGetUUID(handle)))
    pci = r.get("PCI info", lambda: nvml.nvmlDeviceGetPciInfo(handle))
    minor = r.get("minor number", lambda: nvml.nvmlDeviceGetMinorNumber(handle))

    mig_enabled = bool(mig) and mig[0] == getattr(nvml, "NVML_DEVICE_MIG_ENABLE", 1)
    if mig_enabled:
        facts.warn(
            f"GPU {index} ({name}) has MIG enabled: CUDA programs can only use its MIG slices, which "
            f"aistack does not plan for yet; to serve on the whole card run: nvidia-smi -i {index} -mig 0"
        )
    nodes = ("/dev/nvidiactl", "/dev/nvidia-uvm", f"/dev/nvidia{minor}") if minor is not None else ()
    return GpuInfo(
        vendor="nvidia",
        index=index,
        name=name,
        vram_total_bytes=int(mem.total) if mem is not None else None,
        vram_free_bytes=int(mem.free) if mem is not None else None,
        vram_used_bytes=int(mem.used) if mem is not None else None,
        uuid=uuid,
        pci_bus_id=_text(pci.busId) if pci is not None else None,
        compute_capability=f"{cc[0]}.{cc[1]}" if cc else None,
        driver_version=driver,
        cuda_driver_version=cuda,
        memory_bus_width_bits=int(bus) if bus else None,
        memory_clock_max_mhz=int(clock) if clock else None,
        pcie_generation=int(gen) if gen else None,
        pcie_width=int(width) if width else None,
        power_limit_watts=round(power_mw / 1000, 1) if power_mw else None,
        mig_enabled=mig_enabled,
        bandwidth_gbps=bandwidth_gbps(bus, clock),
        device_nodes=nodes,
    )


def driver_present(ctx: ProbeContext) -> bool:
    """Whether NVML could possibly find a GPU here. Loading pynvml and the
    library costs ~50 ms, so a machine with no NVIDIA kernel driver skips it.
    The driver creates /proc/driver/nvidia; containers given GPUs see
    /dev/nvidiactl; WSL2 reaches the Windows driver through /dev/dxg."""
    return any(ctx.exists(p) for p in ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/dxg"))


def _cuda_version(code: int | None) -> str | None:
    if not code:
        return None
    return f"{code // 1000}.{(code % 1000) // 10}"  # 12040 -> "12.4"


class NvidiaSource:
    name = "nvidia"

    def read(self, ctx: ProbeContext) -> Facts:
        facts = Facts()
        if ctx.system == "Darwin":
            return facts  # no NVIDIA driver for current macOS
        nvml = ctx.nvml
        if nvml is None and ctx.system == "Linux" and not driver_present(ctx):
            facts.warn("no NVIDIA kernel driver is loaded (no /proc/driver/nvidia, /dev/nvidiactl or WSL2 /dev/dxg): "
                       "no NVIDIA GPU is reported")
            return facts
        if nvml is None:
            try:
                import pynvml as nvml  # nvidia-ml-py
            except ImportError:
                facts.warn("the pynvml module (package nvidia-ml-py) is not installed: NVIDIA GPUs are not probed")
                return facts
        try:
            nvml.nvmlInit()
        except nvml.NVMLError as exc:
            facts.warn(_init_error_message(nvml, exc))
            return facts
        try:
            r = _DeviceReader(nvml, facts, "NVML")
            driver = r.get("the driver version", lambda: _text(nvml.nvmlSystemGetDriverVersion()))
            cuda = _cuda_version(r.get("the CUDA driver version", nvml.nvmlSystemGetCudaDriverVersion))
            count = nvml.nvmlDeviceGetCount()
            gpus = []
            for i in range(count):
                gpu = read_device(nvml, facts, i, driver, cuda)
                if gpu is not None:
                    gpus.append(gpu)
            facts.gpus = tuple(gpus)
        except nvml.NVMLError as exc:
            facts.warn(f"NVML failed while listing GPUs: {exc}")
        finally:
            try:
                nvml.nvmlShutdown()
            except Exception:  # shutting down a library must not lose the facts read
                pass
        return facts


SOURCE = NvidiaSource()
