"""Official prebuilt llama.cpp release archives: pinned, verified, unpacked once.

Each entry of ``PINNED_ASSETS`` names the archive published for a platform and
build at ``RELEASE_TAG``, with its sha256. An entry without a sha256 is not
pinned: we never run an archive we cannot verify, so install moves on to the
source build. The download base URL can be overridden with
``AISTACK_LLAMA_RELEASE_URL`` (a LAN mirror, or a local test server); the
archive is fetched from ``<base>/<tag>/<filename>``.

Archives unpack into ``<data>/llama.cpp/release-<tag>-<platform>-<build>``,
through a temp dir renamed into place once complete.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import stat
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from aistack.backends.base import Progress
from aistack.errors import InstallError
from aistack.backends.tarsafe import safe_extractall

RELEASE_TAG = "b9174"
DEFAULT_BASE_URL = "https://github.com/ggml-org/llama.cpp/releases/download"
ENV_BASE_URL = "AISTACK_LLAMA_RELEASE_URL"


@dataclass(frozen=True)
class ReleaseAsset:
    tag: str
    platform: str  # "ubuntu-x64", "macos-arm64", ...
    build: str  # "cpu", "metal", "vulkan", ...
    filename: str
    sha256: str | None  # None: published but not pinned by us yet -> never used


# (platform, build) -> asset. The sha256 values must be taken from the real
# files when they can be downloaded and checked; until then the entries stay
# unpinned (None) and install falls through to the source build.
PINNED_ASSETS: dict[tuple[str, str], ReleaseAsset] = {
    ("ubuntu-x64", "cpu"): ReleaseAsset(RELEASE_TAG, "ubuntu-x64", "cpu", f"llama-{RELEASE_TAG}-bin-ubuntu-x64.zip", None),
    ("ubuntu-x64", "vulkan"): ReleaseAsset(
        RELEASE_TAG, "ubuntu-x64", "vulkan", f"llama-{RELEASE_TAG}-bin-ubuntu-vulkan-x64.zip", None
    ),
    ("macos-arm64", "metal"): ReleaseAsset(
        RELEASE_TAG, "macos-arm64", "metal", f"llama-{RELEASE_TAG}-bin-macos-arm64.zip", None
    ),
    ("macos-x64", "cpu"): ReleaseAsset(RELEASE_TAG, "macos-x64", "cpu", f"llama-{RELEASE_TAG}-bin-macos-x64.zip", None),
}


def platform_key(system: str | None = None, machine: str | None = None) -> str:
    system = system or platform.system()
    machine = (machine or platform.machine()).lower()
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    os_name = {"Linux": "ubuntu", "Darwin": "macos", "Windows": "win"}.get(system, system.lower())
    return f"{os_name}-{arch}"


def pinned_asset(build: str) -> ReleaseAsset | None:
    """The verified-pinned archive for this platform and build, or None."""
    asset = PINNED_ASSETS.get((platform_key(), build))
    if asset is None or not asset.sha256:
        return None
    return asset


def install_dir(asset: ReleaseAsset) -> Path:
    from aistack.paths import dirs

    return dirs().data / "llama.cpp" / f"release-{asset.tag}-{asset.platform}-{asset.build}"


def install_release(asset: ReleaseAsset, progress: Progress) -> Path:
    """Download, verify and unpack ``asset`` (once); return its llama-server path."""
    from aistack.paths import ensure_dir

    dest = install_dir(asset)
    exe = _find_server(dest) if dest.is_dir() else None
    if exe:
        progress(f"llama.cpp release {asset.tag}: already installed at {dest}")
        return exe
    parent = ensure_dir(dest.parent)
    work = parent / f".tmp-{dest.name}-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        archive = work / asset.filename
        url = f"{os.environ.get(ENV_BASE_URL, DEFAULT_BASE_URL).rstrip('/')}/{asset.tag}/{asset.filename}"
        digest = _download(url, archive, progress)
        if digest != asset.sha256:
            archive.unlink(missing_ok=True)
            raise InstallError(
                f"{asset.filename} from {url} has sha256 {digest}, expected {asset.sha256}; "
                "it was deleted without being unpacked.",
                hint=f"Nothing was installed. If you set {ENV_BASE_URL}, check that mirror; "
                "otherwise try again later.",
            )
        unpacked = work / "unpacked"
        _unpack(archive, unpacked)
        if _find_server(unpacked) is None:
            raise InstallError(
                f"{asset.filename} holds no llama-server executable.",
                hint="Nothing was installed. Report this: the pinned release table is wrong.",
            )
        shutil.rmtree(dest, ignore_errors=True)
        os.rename(unpacked, dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    exe = _find_server(dest)
    assert exe is not None
    return exe


def _download(url: str, path: Path, progress: Progress) -> str:
    import requests

    h = hashlib.sha256()
    try:
        with requests.get(url, stream=True, timeout=(10, 60)) as resp:
            if resp.status_code != 200:
                raise InstallError(
                    f"Downloading {url} failed: HTTP {resp.status_code}.",
                    hint="Nothing was installed. Check the address (AISTACK_LLAMA_RELEASE_URL) or the network.",
                )
            total = int(resp.headers.get("Content-Length") or 0)
            done = 0
            last = -1
            with open(path, "wb") as fh:
                for chunk in resp.iter_content(1 << 20):
                    fh.write(chunk)
                    h.update(chunk)
                    done += len(chunk)
                    pct = done * 100 // total if total else -1
                    if pct != last and pct >= 0 and pct % 10 == 0:
                        last = pct
                        progress(f"llama.cpp release: {path.name} {pct}%")
    except requests.RequestException as exc:
        raise InstallError(
            f"Downloading {url} failed: {exc}.",
            hint="Nothing was installed. Check the network, or set AISTACK_LLAMA_SERVER to an existing llama-server.",
        ) from None
    return h.hexdigest()


def _unpack(archive: Path, dest: Path) -> None:
    dest.mkdir(parents=True)
    name = archive.name
    if name.endswith(".zip"):
        _unzip(archive, dest)
    elif name.endswith((".tar.gz", ".tgz", ".tar.xz")):
        with tarfile.open(archive) as tf:
            safe_extractall(tf, dest)
    else:
        raise InstallError(f"Unknown archive type: {name}.", hint="Nothing was installed.")


def _unzip(archive: Path, dest: Path) -> None:
    """Extract a zip keeping Unix modes and symlinks, refusing paths that escape ``dest``."""
    root = dest.resolve()
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            target = (dest / info.filename).resolve()
            if target != root and root not in target.parents:
                raise InstallError(f"{archive.name}: entry {info.filename!r} escapes the archive.", hint="Nothing was installed.")
            mode = info.external_attr >> 16
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if stat.S_ISLNK(mode):
                link = zf.read(info).decode()
                resolved = (target.parent / link).resolve()
                if root not in resolved.parents:
                    raise InstallError(f"{archive.name}: link {info.filename!r} points outside.", hint="Nothing was installed.")
                os.symlink(link, target)
                continue
            with zf.open(info) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
            if mode & 0o111:
                os.chmod(target, (mode & 0o777) | 0o400)


def _find_server(root: Path) -> Path | None:
    for p in sorted(root.rglob("llama-server")):
        if p.is_file() and os.access(p, os.X_OK):
            return p
    return None
