"""Resumable HTTP downloads into a ``.part`` file, and ranged reads of a prefix.

``download`` appends to ``<file>.part``: after an interruption the next call
asks for the rest with an HTTP ``Range`` (guarded by ``If-Range`` so a file
that changed on the server is restarted, not spliced). Connection errors and
5xx answers are retried with exponential backoff; a retry that follows
progress does not use up the budget. The SHA-256 is computed while writing,
so verification costs no second read. ``requests`` is imported lazily.

Failures raise ``FetchError`` with ``details["reason"]``:

* ``unreachable`` — DNS failure, connection refused/reset, timeout: the
  network or the host is not there (``up`` may fall back to another model);
* ``http`` — the server answered with an error status (404, 401, 5xx...);
* ``disk`` — not enough free space (numbers in the message and details).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping

from aistack.errors import FetchError
from aistack.store.progress import Meter, ProgressFn

CHUNK = 1 << 20  # reading the local part file
NET_CHUNK = 64 << 10  # from the network: a cut connection loses at most this much


@dataclass(frozen=True)
class HttpTarget:
    """Where to GET a file, and what the source already knows about it."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)  # Authorization and the like
    sha256: str | None = None
    size_bytes: int | None = None


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # tries per failure streak (a try that made progress resets the count)
    connect_attempts: int = 3  # tries while the host has never answered (refused, timed out)
    first_delay_s: float = 0.5
    max_delay_s: float = 8.0
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0

    def delay(self, failures: int) -> float:
        return min(self.max_delay_s, self.first_delay_s * (2 ** max(0, failures - 1)))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "RetryPolicy":
        """The default policy, tuned by ``AISTACK_FETCH_RETRIES`` and ``AISTACK_FETCH_BACKOFF_S``."""
        env = os.environ if environ is None else environ
        base = cls()
        try:
            attempts = max(1, int(env.get("AISTACK_FETCH_RETRIES", base.attempts)))
        except ValueError:
            attempts = base.attempts
        try:
            first = max(0.0, float(env.get("AISTACK_FETCH_BACKOFF_S", base.first_delay_s)))
        except ValueError:
            first = base.first_delay_s
        return cls(attempts=attempts, connect_attempts=min(attempts, base.connect_attempts), first_delay_s=first,
                   max_delay_s=max(first, base.max_delay_s))


DEFAULT_RETRY = RetryPolicy()


@dataclass(frozen=True)
class Downloaded:
    sha256: str
    size_bytes: int


# --- free space -----------------------------------------------------------------


def margin_bytes(size: int) -> int:
    """Head-room kept free besides the file itself: 5 % of it, at most 512 MiB."""
    return min(512 << 20, size // 20)


def check_free_space(directory: Path, size_bytes: int, have_bytes: int = 0, what: str = "the download") -> None:
    """Raise ``FetchError(reason="disk")`` unless ``directory`` can take the rest of ``what``."""
    need = max(0, size_bytes - have_bytes) + margin_bytes(size_bytes)
    free = shutil.disk_usage(directory).free
    if free < need:
        raise FetchError(
            f"Not enough disk space for {what}: it needs {need} bytes "
            f"({size_bytes - have_bytes} still to download + {margin_bytes(size_bytes)} margin), "
            f"but {directory} has {free} bytes free. Nothing was downloaded.",
            hint="Free some space (aistack models list / aistack models rm NAME), or point "
            "AISTACK_MODELS_DIR at a larger disk, then run the command again.",
            details={"reason": "disk", "needed_bytes": need, "free_bytes": free, "directory": str(directory)},
        )


def _disk_full(part: Path, exc: OSError) -> FetchError:
    return FetchError(
        f"The disk filled up while writing {part.name} ({exc.strerror}). "
        f"The partial file {part} was kept so the download can resume.",
        hint="Free some space, then run the same command again to resume.",
        details={"reason": "disk", "path": str(part)},
    )


# --- errors ---------------------------------------------------------------------

_DNS_MARKERS = ("NameResolutionError", "Name or service not known", "Temporary failure in name resolution",
                "nodename nor servname", "No address associated", "getaddrinfo failed")


# host -> when it was last found unreachable. Within one process (one 'aistack up' trying
# several recipes on an air-gapped machine) a dead host is not waited for again and again.
UNREACHABLE_MEMO_S = 30.0
_unreachable: dict[str, float] = {}


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


def mark_unreachable(url: str) -> None:
    _unreachable[_host(url)] = time.monotonic()


def recently_unreachable(url: str) -> bool:
    t = _unreachable.get(_host(url))
    return t is not None and time.monotonic() - t < UNREACHABLE_MEMO_S


def forget_unreachable() -> None:
    _unreachable.clear()


def _check_memo(url: str, what: str) -> None:
    if recently_unreachable(url):
        raise FetchError(
            f"Could not reach {_host(url)} for {what}: it did not answer moments ago either. Nothing was installed.",
            hint="Check the network (or a proxy setting), then run the command again.",
            details={"reason": "unreachable", "url": url, "tries": 0},
        )


def is_dns_failure(exc: BaseException) -> bool:
    """True when ``exc`` (a requests error) comes from a failed host name lookup."""
    text = f"{type(exc).__name__}: {exc}"
    return any(m in text for m in _DNS_MARKERS)


class _Retryable(Exception):
    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


def _classify(exc: Exception) -> _Retryable:
    text = f"{type(exc).__name__}: {exc}"
    if is_dns_failure(exc):
        return _Retryable("dns", text)
    return _Retryable("unreachable", text)


def _status_error(url: str, status: int, what: str) -> FetchError:
    hint = "Check the URL, or try again later."
    if status in (401, 403):
        hint = ("The server refused access. For a gated Hugging Face repository accept its licence on the "
                "website and set HF_TOKEN (or run 'huggingface-cli login'), then run the command again.")
    elif status == 404:
        hint = "The file is not there: check the repository, revision and file name."
    return FetchError(
        f"Downloading {what} failed: {url} answered HTTP {status}. Nothing was installed.",
        hint=hint,
        details={"reason": "http", "status": status, "url": url},
    )


def _give_up(url: str, what: str, err: _Retryable, tries: int, answered: bool = True) -> FetchError:
    if err.reason in ("dns", "unreachable"):
        if not answered:
            mark_unreachable(url)
        return FetchError(
            f"Could not reach {url} to download {what} ({err.message}). Nothing was installed.",
            hint="Check the network (or a proxy setting); an already downloaded part is kept and resumes next time.",
            details={"reason": "unreachable", "url": url, "tries": tries},
        )
    return FetchError(
        f"Downloading {what} failed after {tries} tries: {err.message}. The partial file is kept.",
        hint="Try again later; the download resumes where it stopped.",
        details={"reason": "http", "url": url, "tries": tries},
    )


def _session():
    import requests

    s = requests.Session()
    s.headers["User-Agent"] = "aistack"
    return s


# --- the resumable download -----------------------------------------------------


def _sidecar(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def _read_sidecar(part: Path) -> dict:
    try:
        data = json.loads(_sidecar(part).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_sidecar(part: Path, data: dict) -> None:
    _sidecar(part).write_text(json.dumps(data))


def discard_part(part: Path) -> None:
    for p in (part, _sidecar(part)):
        try:
            p.unlink()
        except FileNotFoundError:
            pass


def _hash_existing(part: Path, meter: Meter) -> tuple[hashlib._Hash, int]:
    h = hashlib.sha256()
    n = 0
    try:
        with open(part, "rb") as fh:
            while chunk := fh.read(CHUNK):
                h.update(chunk)
                n += len(chunk)
                meter.set(n)
    except FileNotFoundError:
        pass
    return h, n


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """``bytes 100-199/1000`` -> (100, 1000); unknown parts are None."""
    if not value or not value.startswith("bytes "):
        return None, None
    rng, _, total = value[6:].partition("/")
    start = rng.split("-", 1)[0]
    try:
        s = int(start) if start and start != "*" else None
    except ValueError:
        s = None
    try:
        t = int(total) if total and total != "*" else None
    except ValueError:
        t = None
    return s, t


def download(
    target: HttpTarget,
    part: Path,
    *,
    what: str,
    progress: ProgressFn | None = None,
    retry: RetryPolicy = DEFAULT_RETRY,
    sleep: Callable[[float], None] = time.sleep,
) -> Downloaded:
    """Fetch ``target`` into ``part`` (resuming what is there); return its sha256 and size.

    The file is fsynced before returning. Verification against an expected
    checksum and the final rename are the caller's.
    """
    import requests

    part.parent.mkdir(parents=True, exist_ok=True)
    side = _read_sidecar(part)
    if side.get("url") != target.url and part.exists():
        # a part from another URL (or with no record of one) cannot be trusted to continue
        discard_part(part)
        side = {}
    total = target.size_bytes or side.get("size_bytes")
    meter = Meter(progress, what, "hash", total)
    hasher, offset = _hash_existing(part, meter)
    meter.set(offset, total, phase="download")
    if total is not None:
        check_free_space(part.parent, total, offset, what)

    _check_memo(target.url, what)
    session = _session()
    failures = 0
    last: _Retryable | None = None
    tries = 0
    answered = False  # has the server sent any response in this call?
    try:
        while True:
            tries += 1
            headers = dict(target.headers)
            validator = side.get("etag") or side.get("last_modified")
            if offset > 0:
                headers["Range"] = f"bytes={offset}-"
                if validator:
                    headers["If-Range"] = validator
            progressed = False
            try:
                resp = session.get(target.url, headers=headers, stream=True,
                                   timeout=(retry.connect_timeout_s, retry.read_timeout_s))
                answered = True
                _unreachable.pop(_host(target.url), None)
                with resp:
                    status = resp.status_code
                    if status == 416 and offset > 0:
                        # nothing left to send: either the part is complete or it is foreign
                        _, size = _content_range(resp.headers.get("Content-Range"))
                        if size is not None and size == offset:
                            total = size
                            break
                        hasher, offset = hashlib.sha256(), 0
                        part.unlink(missing_ok=True)
                        continue
                    if status >= 500 or status == 429:
                        raise _Retryable("http", f"HTTP {status} from {target.url}")
                    if status >= 400:
                        raise _status_error(target.url, status, what)
                    if status == 206:
                        start, size = _content_range(resp.headers.get("Content-Range"))
                        if start != offset:
                            raise _Retryable("http", f"server resumed at byte {start}, asked for {offset}")
                        total = size if size is not None else total
                        mode = "ab"
                    else:  # 200: the whole file (a fresh start, or the server ignored Range / the file changed)
                        if offset:
                            hasher, offset = hashlib.sha256(), 0
                        length = resp.headers.get("Content-Length")
                        total = int(length) if length and length.isdigit() else target.size_bytes
                        mode = "wb"
                    side = {"url": target.url, "etag": resp.headers.get("ETag"),
                            "last_modified": resp.headers.get("Last-Modified"), "size_bytes": total}
                    _write_sidecar(part, side)
                    meter.set(offset, total, phase="download")
                    if total is not None:
                        check_free_space(part.parent, total, offset, what)
                    with open(part, mode) as fh:
                        try:
                            for chunk in resp.iter_content(NET_CHUNK):
                                fh.write(chunk)
                                hasher.update(chunk)
                                offset += len(chunk)
                                progressed = True
                                meter.advance(len(chunk))
                            fh.flush()
                            os.fsync(fh.fileno())
                        except OSError as exc:
                            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                                raise _disk_full(part, exc) from None
                            raise
                    if total is not None and offset < total:
                        raise _Retryable("unreachable", f"connection closed after {offset} of {total} bytes")
                    if total is not None and offset > total:
                        raise _Retryable("http", f"server sent {offset} bytes, more than the announced {total}")
                    total = offset
                    break
            except _Retryable as exc:
                last = exc
            except requests.RequestException as exc:
                last = _classify(exc)
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise _disk_full(part, exc) from None
                raise
            failures = 1 if progressed else failures + 1
            limit = retry.attempts if answered else min(retry.attempts, retry.connect_attempts)
            if last.reason == "dns" or failures >= limit:
                raise _give_up(target.url, what, last, tries, answered)
            sleep(retry.delay(failures))
    finally:
        session.close()
    meter.set(offset, total)
    meter.finish()
    return Downloaded(sha256=hasher.hexdigest(), size_bytes=offset)


# --- a prefix over Range --------------------------------------------------------


def read_prefix(target: HttpTarget, start: int, end: int, *, retry: RetryPolicy = DEFAULT_RETRY,
                sleep: Callable[[float], None] = time.sleep) -> tuple[bytes, int | None]:
    """Bytes ``[start, end)`` of the remote file (fewer at its end) and its total size if known.

    A server that ignores ``Range`` answers 200 with the whole body; only the
    wanted bytes are read from the stream before the connection is closed.
    """
    import requests

    _check_memo(target.url, "the file header")
    failures = 0
    tries = 0
    answered = False
    session = _session()
    try:
        while True:
            tries += 1
            headers = dict(target.headers)
            headers["Range"] = f"bytes={start}-{end - 1}"
            try:
                with session.get(target.url, headers=headers, stream=True,
                                 timeout=(retry.connect_timeout_s, retry.read_timeout_s)) as resp:
                    answered = True
                    _unreachable.pop(_host(target.url), None)
                    status = resp.status_code
                    if status == 416:
                        _, size = _content_range(resp.headers.get("Content-Range"))
                        return b"", size
                    if status >= 500 or status == 429:
                        raise _Retryable("http", f"HTTP {status} from {target.url}")
                    if status >= 400:
                        raise _status_error(target.url, status, "the file header")
                    size = None
                    skip = 0
                    if status == 206:
                        got, size = _content_range(resp.headers.get("Content-Range"))
                        if got != start:
                            raise _Retryable("http", f"server answered range from {got}, asked {start}")
                    else:
                        length = resp.headers.get("Content-Length")
                        size = int(length) if length and length.isdigit() else None
                        skip = start
                    return _take(resp.iter_content(64 << 10), skip, end - start), size
            except _Retryable as exc:
                last = exc
            except requests.RequestException as exc:
                last = _classify(exc)
            failures += 1
            limit = retry.attempts if answered else min(retry.attempts, retry.connect_attempts)
            if last.reason == "dns" or failures >= limit:
                raise _give_up(target.url, "the file header", last, tries, answered)
            sleep(retry.delay(failures))
    finally:
        session.close()


def _take(chunks: Iterator[bytes], skip: int, n: int) -> bytes:
    out = bytearray()
    for chunk in chunks:
        if skip:
            if len(chunk) <= skip:
                skip -= len(chunk)
                continue
            chunk = chunk[skip:]
            skip = 0
        out += chunk
        if len(out) >= n:
            break
    return bytes(out[:n])
