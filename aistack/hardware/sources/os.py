"""Operating system: distribution, kernel, architecture, WSL2, container.

Linux reads ``/etc/os-release`` (``/usr/lib/os-release`` as fallback). WSL2 is
recognised by its kernel release (``...-microsoft-standard-WSL2``) in
``/proc/sys/kernel/osrelease`` or ``/proc/version``. A container is recognised,
most explicit evidence first, by:

1. ``container=`` in PID 1's environment (systemd-nspawn, podman, lxc set it),
   or ``/run/systemd/container``;
2. ``/run/.containerenv`` (podman) and ``/.dockerenv`` (docker);
3. ``/proc/1/cgroup`` paths naming docker, kubepods or lxc.
"""

from __future__ import annotations

from aistack.hardware.profile import OsInfo
from aistack.hardware.sources.base import Facts, ProbeContext, normalise_arch


def parse_os_release(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or key.startswith("#"):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        out[key] = value
    return out


def detect_wsl2(ctx: ProbeContext) -> bool:
    for p in ("/proc/sys/kernel/osrelease", "/proc/version"):
        text = (ctx.read_opt(p) or "").lower()
        if "microsoft" in text and "wsl2" in text:
            return True
        # WSL2 kernels before 5.10 read "...-microsoft-standard" without "WSL2";
        # WSL1 reports "...-Microsoft" (capital M, no "standard").
        if "microsoft-standard" in text:
            return True
    return False


_CGROUP_HINTS = (("/docker/", "docker"), ("/docker-", "docker"), ("/kubepods", "kubernetes"),
                 ("/libpod-", "podman"), ("/lxc/", "lxc"), ("/lxc.payload", "lxc"))


def detect_container(ctx: ProbeContext) -> str | None:
    try:
        environ = ctx.path("/proc/1/environ").read_bytes()
    except OSError:  # not root: PID 1's environment is private
        environ = b""
    for item in environ.split(b"\0"):
        if item.startswith(b"container="):
            value = item.split(b"=", 1)[1].decode(errors="replace").strip()
            if value:
                return "docker" if value == "oci" else value
    marker = ctx.read_opt("/run/systemd/container")
    if marker:
        return marker
    if ctx.exists("/run/.containerenv"):
        return "podman"
    if ctx.exists("/.dockerenv"):
        return "docker"
    cgroup = ctx.read_opt("/proc/1/cgroup") or ""
    for needle, name in _CGROUP_HINTS:
        if needle in cgroup:
            return name
    return None


class OsSource:
    name = "os"

    def read(self, ctx: ProbeContext) -> Facts:
        facts = Facts()
        arch = normalise_arch(ctx.machine)
        if ctx.system == "Darwin":
            table = ctx.sysctl_table()
            version = table.get("kern.osproductversion")
            if not version:
                import platform

                version = platform.mac_ver()[0] or None
            facts.os = OsInfo(
                system="Darwin", arch=arch, kernel=ctx.release or None, distro="macos",
                distro_version=version, distro_name=f"macOS {version}" if version else "macOS",
            )
            return facts
        if ctx.system != "Linux":
            facts.os = OsInfo(system=ctx.system or "unknown", arch=arch, kernel=ctx.release or None)
            return facts

        release = None
        for p in ("/etc/os-release", "/usr/lib/os-release"):
            text = ctx.read_opt(p)
            if text is not None:
                release = parse_os_release(text)
                break
        if release is None:
            facts.warn("no /etc/os-release: distribution unknown")
            release = {}
        kernel = ctx.read_opt("/proc/sys/kernel/osrelease") or ctx.release or None
        facts.os = OsInfo(
            system="Linux",
            arch=arch,
            kernel=kernel,
            distro=release.get("ID") or None,
            distro_version=release.get("VERSION_ID") or None,
            distro_name=release.get("PRETTY_NAME") or release.get("NAME") or None,
            wsl2=detect_wsl2(ctx),
            container=detect_container(ctx),
        )
        return facts


SOURCE = OsSource()
