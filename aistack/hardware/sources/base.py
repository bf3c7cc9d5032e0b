"""What every probe source shares: the context it reads through, and what it returns.

A source is a small object with a ``name`` and ``read(ctx) -> Facts``. It reads
the machine only through the ``ProbeContext`` seams, so a test can point it at
recorded data instead of the real machine:

* ``root`` — prefix for every absolute path a source reads (``/proc``,
  ``/sys``, ``/etc``, ``/dev``, ``/run``, ``/var/run``). A test points it at a
  directory tree under ``tests/fixtures/hardware/``.
* ``sysctl`` — a callable returning the ``name -> value`` table of macOS
  ``sysctl`` output (the default runs one ``sysctl`` command, once).
* ``run`` — the subprocess runner (``aistack.proc.run``); tests pass a fake
  that returns recorded output for ``ioreg``, ``vm_stat``...
* ``nvml`` — an NVML module object (``pynvml``); ``None`` imports the real one.
* ``docker_info`` — ``(base_url, timeout) -> dict`` (the engine's ``/info``);
  ``None`` asks the engine (see ``aistack.hardware.sources.host``).
* ``system`` / ``machine`` / ``release`` / ``env`` / ``euid`` — what
  ``platform`` and ``os`` would say, overridable.

Sources never raise on purpose for a missing fact: they leave it ``None`` and
add a warning. Anything they do raise is turned into a warning by the runner in
``aistack.hardware.probe``. Probing has no side effects beyond the per-boot CPU
cache file under ``cache_dir`` (``None`` disables it).
"""

from __future__ import annotations

import os
import platform
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence

from aistack.hardware.profile import (
    AppleInfo,
    CpuInfo,
    GpuInfo,
    HostInfo,
    MemoryInfo,
    OsInfo,
    ProbeWarning,
)

# Subprocesses a source starts (sysctl, ioreg, vm_stat...) get this long.
SUBPROCESS_TIMEOUT_S = 3.0


def _default_run(argv: Sequence[str], timeout: float | None = SUBPROCESS_TIMEOUT_S):
    from aistack import proc

    return proc.run(argv, timeout=timeout)


def parse_sysctl(text: str) -> dict[str, str]:
    """``name: value`` lines (macOS ``sysctl`` output) -> table. Later lines win."""
    table: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and name and " " not in name.strip():
            table[name.strip()] = value.strip()
    return table


# The sysctl subtrees aistack reads; one process prints them all.
SYSCTL_NAMES = ("hw", "machdep.cpu", "iogpu", "vm.swapusage", "kern.osproductversion", "kern.boottime")


class _CachedSysctl:
    """Runs ``sysctl`` once per probe (sources share it from their threads)."""

    def __init__(self, run: Callable[..., Any]):
        self._run = run
        self._lock = threading.Lock()
        self._table: dict[str, str] | None = None

    def __call__(self) -> Mapping[str, str]:
        with self._lock:
            if self._table is None:
                # Unknown names go to stderr and a non-zero exit; the known
                # ones are still printed, so the exit code is not checked.
                result = self._run(["sysctl", *SYSCTL_NAMES])
                self._table = parse_sysctl(result.stdout)
            return self._table


@dataclass(frozen=True)
class ProbeContext:
    root: Path = Path("/")
    system: str = field(default_factory=platform.system)
    machine: str = field(default_factory=platform.machine)
    release: str = field(default_factory=platform.release)
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    euid: int | None = field(default_factory=lambda: os.geteuid() if hasattr(os, "geteuid") else None)
    cache_dir: Path | None = None
    models_dir: Path | None = None
    run: Callable[..., Any] = _default_run
    sysctl: Callable[[], Mapping[str, str]] | None = None
    nvml: Any = None
    docker_info: Callable[[str, float], Any] | None = None
    docker_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        if self.sysctl is None:
            object.__setattr__(self, "sysctl", _CachedSysctl(self.run))

    # -- filesystem through the root seam ------------------------------------
    def path(self, p: str | os.PathLike) -> Path:
        s = os.fspath(p)
        if self.root == Path("/"):
            return Path(s)
        return self.root / s.lstrip("/")

    def read_text(self, p: str | os.PathLike) -> str:
        with open(self.path(p), encoding="utf-8", errors="replace") as fh:
            return fh.read()

    def read_opt(self, p: str | os.PathLike) -> str | None:
        """File content stripped, or ``None`` when it is absent or unreadable."""
        try:
            return self.read_text(p).strip()
        except (OSError, ValueError):
            return None

    def exists(self, p: str | os.PathLike) -> bool:
        return self.path(p).exists()

    def sysctl_table(self) -> Mapping[str, str]:
        assert self.sysctl is not None
        return self.sysctl()


@dataclass
class Facts:
    """The partial profile one source contributes."""

    os: OsInfo | None = None
    cpu: CpuInfo | None = None
    memory: MemoryInfo | None = None
    gpus: tuple[GpuInfo, ...] = ()
    apple: AppleInfo | None = None
    host: HostInfo | None = None
    warnings: list[ProbeWarning] = field(default_factory=list)

    def warn(self, message: str, source: str = "") -> None:
        """Record a warning; an empty ``source`` is filled with the source's name."""
        self.warnings.append(ProbeWarning(source, message))


class Source(Protocol):
    name: str

    def read(self, ctx: ProbeContext) -> Facts: ...


# -- small parsing helpers shared by sources ---------------------------------

def to_int(text: str | None, base: int = 10) -> int | None:
    if text is None:
        return None
    try:
        return int(text.strip(), base)
    except ValueError:
        return None


def count_cpu_list(text: str | None) -> int | None:
    """``"0-3,8,10-11"`` (sysfs cpu list) -> 7."""
    if not text:
        return None
    total = 0
    try:
        for part in text.strip().split(","):
            if not part:
                continue
            lo, _, hi = part.partition("-")
            total += (int(hi) - int(lo) + 1) if hi else 1
    except ValueError:
        return None
    return total or None


def normalise_arch(machine: str) -> str:
    m = machine.strip().lower()
    if m in ("x86_64", "amd64", "x64"):
        return "x86_64"
    if m in ("aarch64", "arm64", "armv8", "armv8l", "aarch64_be"):
        return "arm64"
    if m in ("i386", "i486", "i586", "i686", "x86"):
        return "x86"
    return m or "unknown"
