"""The ``HardwareProfile`` value: what the probe saw, as plain frozen data.

Units are in field names. Every field that a source may fail to read is
optional; the failure itself is a ``ProbeWarning`` in ``warnings``. The value
round-trips through JSON (``to_json``/``from_json``), which is what
``aistack probe --json`` prints and ``--hardware FILE`` reads back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Literal

from aistack import values

SCHEMA_VERSION = 1

GpuVendor = Literal["nvidia", "amd", "intel", "apple"]


@dataclass(frozen=True)
class ProbeWarning:
    source: str  # "cpu", "nvidia", "apple", "amd", "intel", "host", ...
    message: str


@dataclass(frozen=True)
class OsInfo:
    system: str  # platform.system(): "Linux", "Darwin", "Windows"
    arch: str  # normalised: "x86_64", "arm64"
    kernel: str | None = None
    distro: str | None = None  # e.g. "debian"
    distro_version: str | None = None  # e.g. "12"
    distro_name: str | None = None  # e.g. "Debian GNU/Linux 12 (bookworm)"
    wsl2: bool = False
    container: str | None = None  # "docker", "podman", "lxc", "systemd-nspawn", ... or None


@dataclass(frozen=True)
class CpuInfo:
    vendor: str | None = None  # "GenuineIntel", "AuthenticAMD", "Apple", "ARM"
    brand: str | None = None
    physical_cores: int | None = None
    logical_cores: int | None = None
    # Normalised inference-relevant features: avx, avx2, fma, f16c, avx512f,
    # avx512_vnni, avx512_bf16, avx_vnni, amx_tile, amx_int8, amx_bf16,
    # neon, dotprod, sve, sve2, i8mm, bf16.
    features: tuple[str, ...] = ()
    l2_cache_bytes: int | None = None  # total over all instances (per-core L2s summed)
    l3_cache_bytes: int | None = None
    # Live: cores this process may use (CPU affinity, cgroup CPU quota), when
    # fewer than logical_cores; None when unrestricted or unknown.
    usable_cores: int | None = None

    def has(self, feature: str) -> bool:
        return feature in self.features


@dataclass(frozen=True)
class MemoryInfo:
    ram_total_bytes: int
    ram_available_bytes: int | None = None
    swap_total_bytes: int | None = None
    swap_free_bytes: int | None = None
    # Effective memory bandwidth the CPU can stream weights at, when known
    # (recorded profiles, Apple chips); the planner estimates it otherwise.
    bandwidth_gbps: float | None = None
    # Memory limit of this process's control group (a container's --memory),
    # when one is set; usable RAM is then min(total, limit).
    cgroup_limit_bytes: int | None = None

    @property
    def effective_total_bytes(self) -> int:
        if self.cgroup_limit_bytes is not None:
            return min(self.ram_total_bytes, self.cgroup_limit_bytes)
        return self.ram_total_bytes


@dataclass(frozen=True)
class GpuInfo:
    vendor: GpuVendor
    index: int
    name: str
    vram_total_bytes: int | None = None
    vram_free_bytes: int | None = None
    vram_used_bytes: int | None = None
    uuid: str | None = None
    pci_bus_id: str | None = None
    # NVIDIA
    compute_capability: str | None = None  # "8.9"
    driver_version: str | None = None
    cuda_driver_version: str | None = None  # "12.4"
    memory_bus_width_bits: int | None = None
    memory_clock_max_mhz: int | None = None
    pcie_generation: int | None = None
    pcie_width: int | None = None
    power_limit_watts: float | None = None
    mig_enabled: bool = False
    # Derived or recorded peak bandwidth (GB/s).
    bandwidth_gbps: float | None = None
    # AMD / Intel / Apple
    unified_memory: bool = False  # APU / Apple: VRAM is carved from system RAM
    gtt_total_bytes: int | None = None  # AMD: GPU-addressable system memory
    gtt_used_bytes: int | None = None
    gfx_target: str | None = None  # AMD: "gfx1100"
    device_nodes: tuple[str, ...] = ()  # /dev nodes a container/unit must be granted


@dataclass(frozen=True)
class AppleInfo:
    chip: str  # "Apple M4 Pro"
    performance_cores: int | None = None
    efficiency_cores: int | None = None
    gpu_cores: int | None = None
    unified_memory_bytes: int | None = None
    # What Metal lets one process wire: recommendedMaxWorkingSetSize, or the
    # iogpu.wired_limit_mb sysctl when an admin raised it.
    gpu_working_set_bytes: int | None = None
    wired_limit_bytes: int | None = None
    bandwidth_gbps: float | None = None


@dataclass(frozen=True)
class DockerInfo:
    reachable: bool = False
    server_version: str | None = None
    runtimes: tuple[str, ...] = ()
    nvidia_runtime: bool = False
    rootless: bool = False


@dataclass(frozen=True)
class InitInfo:
    systemd_system: bool = False  # PID 1 is systemd and /run/systemd/system exists
    systemd_user: bool = False  # a user manager is reachable for this user
    launchd: bool = False


@dataclass(frozen=True)
class HostInfo:
    docker: DockerInfo = field(default_factory=DockerInfo)
    init: InitInfo = field(default_factory=InitInfo)
    is_root: bool = False
    models_dir: str | None = None
    disk_free_bytes: int | None = None  # free space where models are stored


@dataclass(frozen=True)
class HardwareProfile:
    os: OsInfo
    cpu: CpuInfo
    memory: MemoryInfo
    gpus: tuple[GpuInfo, ...] = ()
    apple: AppleInfo | None = None
    host: HostInfo = field(default_factory=HostInfo)
    warnings: tuple[ProbeWarning, ...] = ()
    schema_version: int = SCHEMA_VERSION
    probed_at: str | None = None  # ISO 8601, informational
    label: str | None = None  # free text for recorded profiles ("RTX 4080 desktop")

    def to_dict(self) -> dict:
        return values.to_dict(self)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict) -> "HardwareProfile":
        return values.from_dict(cls, data)

    @classmethod
    def from_json(cls, text: str) -> "HardwareProfile":
        return cls.from_dict(json.loads(text))

    def with_warning(self, source: str, message: str) -> "HardwareProfile":
        return replace(self, warnings=self.warnings + (ProbeWarning(source, message),))

    def gpus_of(self, vendor: str) -> tuple[GpuInfo, ...]:
        return tuple(g for g in self.gpus if g.vendor == vendor)


def load_profile(path: str) -> HardwareProfile:
    """Read a saved profile (``--hardware FILE``); errors name the file and key."""
    from aistack.errors import InvalidInputError

    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise InvalidInputError(
            f"Hardware profile {path} does not exist.",
            hint="Save one with: aistack probe --json > profile.json",
        ) from None
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"Hardware profile {path} is not valid JSON: {exc}",
            hint="Save one with: aistack probe --json > profile.json",
        ) from None
    if isinstance(data, dict) and "result" in data and "schema_version" not in data:
        data = data["result"]  # accept the --json envelope as well
    if not isinstance(data, dict):
        raise InvalidInputError(f"Hardware profile {path}: expected a JSON object.")
    version = data.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise InvalidInputError(
            f"Hardware profile {path} has schema_version {version}; this aistack reads {SCHEMA_VERSION}.",
            hint="Re-run 'aistack probe --json' on that machine with this version of aistack.",
        )
    try:
        return HardwareProfile.from_dict(data)
    except values.ValueError_ as exc:
        raise InvalidInputError(f"Hardware profile {path}: {exc}") from None
