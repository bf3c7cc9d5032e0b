"""The state file: what is deployed, from which plan, with which artifacts.

One versioned JSON file under the state dir, written atomically (temp file +
``os.replace``) and guarded by an advisory lock so two ``aistack up`` runs
cannot interleave. Older versions are migrated on read.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any, Iterator

from aistack import atomicfile
from aistack.errors import InvalidInputError, LockedError
from aistack.paths import Dirs, dirs, ensure_dir

STATE_VERSION = 1


def _empty() -> dict[str, Any]:
    return {"version": STATE_VERSION, "current": None, "previous": None, "history": []}


def _migrate(data: dict[str, Any], path: Path) -> dict[str, Any]:
    version = data.get("version")
    if version == STATE_VERSION:
        return data
    raise InvalidInputError(
        f"State file {path} has version {version!r}; this aistack understands {STATE_VERSION}.",
        hint="Upgrade aistack, or move the file away to start fresh (the running service is not touched).",
    )


def read(d: Dirs | None = None) -> dict[str, Any]:
    d = d or dirs()
    path = d.state_file
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return _empty()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(
            f"State file {path} is corrupt ({exc}).",
            hint=f"Move it away (mv {path} {path}.bad) and run 'aistack up' again.",
        ) from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"State file {path} is not a JSON object.")
    return _migrate(data, path)


def write(data: dict[str, Any], d: Dirs | None = None) -> None:
    d = d or dirs()
    ensure_dir(d.state, 0o700)
    atomicfile.write_json(d.state_file, {**data, "version": STATE_VERSION}, mode=0o600)


@contextlib.contextmanager
def locked(d: Dirs | None = None, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold the state lock. Waits up to ``wait_seconds``, then raises ``LockedError``."""
    d = d or dirs()
    ensure_dir(d.state, 0o700)
    fd = os.open(d.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + wait_seconds
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    holder = _read_holder(fd)
                    raise LockedError(
                        "Another aistack operation is running" + (f" (pid {holder})" if holder else "") + ".",
                        hint="Wait for it to finish, then run the command again.",
                    ) from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        os.close(fd)


def _read_holder(fd: int) -> str | None:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 32).decode().strip() or None
    except OSError:
        return None
