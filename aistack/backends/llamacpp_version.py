"""What version a llama-server binary is, and whether we can render flags for it.

llama.cpp has printed two shapes of ``--version`` (on stderr):

* ``version: 6500 (a1b2c3d4)``                       — release builds numbered bNNNN
* ``version: 0.5.0-dev (build 1, commit 0c1e570)``   — since llama.cpp took a semver

The argv ``render`` produces uses flags of the semver era (``--load-mode``,
``--spec-draft-n-max``, ``--fit``), so "new enough" means semver >= 0.5.0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from aistack.errors import InstallError

MIN_SEMVER = (0, 5, 0)

_SEMVER = re.compile(
    r"version:\s*(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.]+)?\s*\(build\s+(\d+),\s*commit\s+([0-9a-fA-F]+|unknown)\)"
)
_BUILD = re.compile(r"version:\s*(\d+)\s*\(([0-9a-fA-F]+|unknown)\)")


@dataclass(frozen=True)
class LlamaVersion:
    text: str  # the version line as printed
    semver: tuple[int, int, int] | None = None
    prerelease: str | None = None  # "dev"
    build_number: int | None = None
    commit: str | None = None


def parse_version(output: str) -> LlamaVersion | None:
    """Parse ``llama-server --version`` output; None when it has no version line."""
    m = _SEMVER.search(output)
    if m:
        major, minor, patch, pre, build, commit = m.groups()
        return LlamaVersion(
            text=m.group(0),
            semver=(int(major), int(minor), int(patch)),
            prerelease=pre[1:] if pre else None,
            build_number=int(build),
            commit=None if commit == "unknown" else commit.lower(),
        )
    m = _BUILD.search(output)
    if m:
        build, commit = m.groups()
        return LlamaVersion(
            text=m.group(0), build_number=int(build), commit=None if commit == "unknown" else commit.lower()
        )
    return None


def is_supported(version: LlamaVersion | None) -> bool:
    """True when render's flags are known to exist in this version.

    A 0.5.0-dev build counts: the pinned source tree itself is one.
    """
    return bool(version and version.semver and version.semver >= MIN_SEMVER)


def describe(version: LlamaVersion | None) -> str:
    if version is None:
        return "version unknown"
    if version.semver:
        s = ".".join(map(str, version.semver)) + (f"-{version.prerelease}" if version.prerelease else "")
        return f"llama.cpp {s}, commit {version.commit or 'unknown'}"
    return f"llama.cpp build {version.build_number}, commit {version.commit or 'unknown'}"


def check_binary(path: Path, *, origin: str) -> LlamaVersion | None:
    """Run ``path --version``; raise InstallError when it is missing or does not run.

    Returns the parsed version (None if it ran but printed no version line).
    """
    from aistack.proc import ExecutableNotFound, run

    if not path.is_file():
        raise InstallError(
            f"llama-server from {origin} does not exist: {path}.",
            hint=f"Point {origin} at an existing llama-server, or unset it to let aistack install one.",
        )
    cached = _cached_version_text(path)
    if cached is not None:
        return parse_version(cached)
    try:
        res = run([str(path), "--version"], timeout=20)
    except (ExecutableNotFound, PermissionError, OSError) as exc:
        raise InstallError(
            f"llama-server from {origin} could not be run: {path} ({exc}).",
            hint=f"Check that {path} is executable (chmod +x), or unset {origin}.",
        ) from None
    text = res.stdout + res.stderr
    if not res.ok:
        last = text.strip().splitlines()[-1:] or ["no output"]
        raise InstallError(
            f"llama-server from {origin} failed '--version' (exit {res.returncode}): {last[0]}",
            hint=f"Check that {path} is a working llama-server, or unset {origin}.",
        )
    _remember_version_text(path, text)
    return parse_version(text)


# `llama-server --version` costs ~85 ms on every `up`; a binary's answer does
# not change while its path, size, mtime and inode stay the same, so it is
# remembered under the cache dir (a miss or a damaged cache just runs it again).


def _binary_key(path: Path) -> str | None:
    try:
        st = path.resolve().stat()
    except OSError:
        return None
    return f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"


def _version_cache() -> Path:
    from aistack.paths import dirs

    return dirs().cache / "llama.cpp" / "versions.json"


def _cached_version_text(path: Path) -> str | None:
    import json

    key = _binary_key(path)
    if key is None:
        return None
    try:
        entry = json.loads(_version_cache().read_text(encoding="utf-8")).get(key)
    except (OSError, ValueError, AttributeError):
        return None
    return entry if isinstance(entry, str) else None


def _remember_version_text(path: Path, text: str) -> None:
    import json

    from aistack import atomicfile

    key = _binary_key(path)
    if key is None:
        return
    cache = _version_cache()
    try:
        try:
            data = json.loads(cache.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                data = {}
        except (OSError, ValueError):
            data = {}
        data = {k: v for k, v in data.items() if Path(k.rsplit(":", 3)[0]).exists()}
        data[key] = text
        atomicfile.write_json(cache, data, indent=None)
    except OSError:
        pass  # a cache we cannot write only costs the next run 85 ms


# Names llama.cpp gives devices of each GPU build in --list-devices.
_DEVICE_PREFIX = {"cuda": "CUDA", "rocm": "ROCm", "vulkan": "Vulkan", "metal": "MTL", "intel": "SYCL"}


def serves_build(path: Path, build: str) -> bool:
    """Whether the binary at ``path`` sees a device of ``build`` (CPU: always)."""
    prefix = _DEVICE_PREFIX.get(build)
    if prefix is None:
        return True
    from aistack.proc import run

    res = run([str(path), "--list-devices"], timeout=30)
    return res.ok and re.search(rf"^\s*{re.escape(prefix)}\d+", res.stdout + res.stderr, re.M) is not None
