"""The store's on-disk layout, its JSON index, and the verification cache.

Layout under ``dirs().models``::

    index.json                      what was fetched: name -> uri, path, sha256, size, fetched_at
    .locks/<hash>.lock              one advisory lock per artifact being fetched
    hf/<owner>/<repo>/<file>        one file per artifact at a stable path
    hf/<owner>/<repo>/<file>.part   (and .part.json) while a download is in progress
    web/<host>/<path>
    pypi/<dist>-<version>/<file>

Artifacts found outside the store (a Hugging Face cache, an installed Python
package, a ``file://`` path) are listed in the index too, with their own
``location``; aistack never deletes those files.

The verification cache (``<cache dir>/verified.json``) remembers the sha256 of
files already hashed, keyed by real path, size and mtime, so a multi-GB model is
hashed once, not on every ``up``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from aistack import atomicfile
from aistack.paths import dirs, ensure_dir

INDEX_VERSION = 1
Location = str  # "store" | "hf-cache" | "package" | "file"


@dataclass(frozen=True)
class StoredModel:
    """One row of ``aistack models list``."""

    name: str  # stable name in the store ("hf/owner/repo/file.gguf")
    uri: str
    path: str
    location: str  # "store", "hf-cache", "package", "file", or "partial" (a download in progress)
    size_bytes: int | None
    sha256: str | None
    fetched_at: str | None
    present: bool = True  # False when the indexed file has gone missing


def models_dir() -> Path:
    return dirs().models


def index_path() -> Path:
    return models_dir() / "index.json"


def fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Blocking exclusive advisory lock on ``path`` (created if needed)."""
    ensure_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def artifact_lock(name: str) -> contextlib.AbstractContextManager[None]:
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return file_lock(models_dir() / ".locks" / f"{digest}.lock")


# --- index ----------------------------------------------------------------------


def read_index() -> dict[str, Any]:
    try:
        data = json.loads(index_path().read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"version": INDEX_VERSION, "models": {}}
    except ValueError:
        # the index is a record of what is on disk, not the data itself: a corrupt one is rebuilt
        return {"version": INDEX_VERSION, "models": {}}
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        return {"version": INDEX_VERSION, "models": {}}
    return data


def record(name: str, *, uri: str, path: Path, location: Location, sha256: str | None, size_bytes: int | None) -> StoredModel:
    entry = {
        "uri": uri,
        "path": str(path),
        "location": location,
        "sha256": sha256,
        "size_bytes": size_bytes,
        "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with file_lock(models_dir() / ".index.lock"):
        data = read_index()
        data["version"] = INDEX_VERSION
        data["models"][name] = entry
        atomicfile.write_json(index_path(), data)
    return _row(name, entry)


def forget(name: str) -> None:
    with file_lock(models_dir() / ".index.lock"):
        data = read_index()
        if data["models"].pop(name, None) is not None:
            atomicfile.write_json(index_path(), data)


def entry(name: str) -> dict[str, Any] | None:
    e = read_index()["models"].get(name)
    return e if isinstance(e, dict) else None


def _row(name: str, e: dict[str, Any]) -> StoredModel:
    path = str(e.get("path", ""))
    return StoredModel(
        name=name,
        uri=str(e.get("uri", "")),
        path=path,
        location=str(e.get("location", "store")),
        size_bytes=e.get("size_bytes"),
        sha256=e.get("sha256"),
        fetched_at=e.get("fetched_at"),
        present=bool(path) and os.path.isfile(path),
    )


def rows() -> list[StoredModel]:
    out = [_row(name, e) for name, e in sorted(read_index()["models"].items()) if isinstance(e, dict)]
    known = {r.path for r in out}
    base = models_dir()
    if not base.is_dir():
        return out
    for path in sorted(base.rglob("*")):
        rel = path.relative_to(base)
        if rel.parts[0].startswith(".") or rel == Path("index.json") or not path.is_file() or path.name.startswith("."):
            continue
        if path.name.endswith(".part"):
            final = path.with_name(path.name[: -len(".part")])
            if str(final) in known and final.exists():
                continue
            out.append(StoredModel(
                name=final.relative_to(base).as_posix(), uri=_part_url(path), path=str(path), location="partial",
                size_bytes=path.stat().st_size, sha256=None, fetched_at=None,
            ))
        elif not path.name.endswith(".part.json") and str(path) not in known:
            # a file in the store the index does not know (a lost or hand-edited index): show it anyway
            out.append(StoredModel(
                name=rel.as_posix(), uri="", path=str(path), location="store",
                size_bytes=path.stat().st_size, sha256=None, fetched_at=None,
            ))
    return out


def _part_url(part: Path) -> str:
    try:
        return str(json.loads(part.with_name(part.name + ".json").read_text()).get("url") or "")
    except (OSError, ValueError, AttributeError):
        return ""


# --- verification cache ---------------------------------------------------------


def _verified_path() -> Path:
    return dirs().cache / "verified.json"


def _key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path.resolve()), st.st_size, st.st_mtime_ns


def cached_check(path: Path) -> dict[str, Any] | None:
    """What an earlier hash/validation learnt about this exact file (same size and mtime)."""
    try:
        real, size, mtime = _key(path)
        data = json.loads(_verified_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    e = data.get(real) if isinstance(data, dict) else None
    if isinstance(e, dict) and e.get("size") == size and e.get("mtime_ns") == mtime:
        return e
    return None


def remember_check(path: Path, *, sha256: str | None, gguf_ok: bool | None) -> None:
    try:
        real, size, mtime = _key(path)
    except OSError:
        return
    target = _verified_path()
    with file_lock(target.with_name(".verified.lock")):
        try:
            data = json.loads(target.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                data = {}
        except (OSError, ValueError):
            data = {}
        # forget files that are gone, so the cache does not grow without bound
        data = {k: v for k, v in data.items() if os.path.exists(k)}
        data[real] = {"size": size, "mtime_ns": mtime, "sha256": sha256, "gguf_ok": gguf_ok}
        atomicfile.write_json(target, data)


def sha256_file(path: Path, progress=None, name: str | None = None) -> str:
    from aistack.store.progress import Meter

    size = path.stat().st_size
    meter = Meter(progress, name or path.name, "hash", size)
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            meter.advance(len(chunk))
    meter.finish()
    return h.hexdigest()
