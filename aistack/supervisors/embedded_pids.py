"""Is this pid still the process we started?

A pid in a status file can outlive its process and be handed to a stranger.
Before signalling one, the embedded supervisor checks that the process is
alive (not a zombie), that its start time matches the one recorded when we
started it, and that its command line carries our marker. On Linux all three
come from ``/proc``; elsewhere ``ps`` stands in.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")


def stat(pid: int) -> tuple[str, int] | None:
    """``(state letter, start time in clock ticks since boot)`` or None if there is no such pid."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError, NotADirectoryError):
        return None
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces.
    rest = raw[raw.rfind(")") + 2 :].split()
    # rest[0] is field 3 (state); starttime is field 22 -> rest[19]
    try:
        return rest[0], int(rest[19])
    except (IndexError, ValueError):
        return None


def start_ticks(pid: int) -> int | None:
    st = stat(pid)
    return st[1] if st else None


def cmdline(pid: int) -> list[str] | None:
    if PROC.is_dir():
        try:
            raw = (PROC / str(pid) / "cmdline").read_bytes()
        except OSError:
            return None
        return [part.decode(errors="replace") for part in raw.split(b"\0") if part]
    from aistack import proc

    res = proc.run(["ps", "-o", "command=", "-p", str(pid)], timeout=5)
    return res.stdout.split() if res.ok and res.stdout.strip() else None


def alive(pid: int | None) -> bool:
    """True if ``pid`` runs (zombies count as gone)."""
    if not pid or pid <= 0:
        return False
    if PROC.is_dir():
        st = stat(pid)
        return st is not None and st[0] not in ("Z", "X")
    from aistack import proc

    return proc.pid_alive(pid)


def owned(pid: int | None, ticks: int | None, marker: str | None = None) -> bool:
    """``pid`` is alive, started at ``ticks`` (when known) and its command line contains ``marker``."""
    if not alive(pid):
        return False
    assert pid is not None
    if ticks is not None and PROC.is_dir():
        if start_ticks(pid) != ticks:
            return False
    if marker is not None:
        argv = cmdline(pid)
        if argv is None or not any(marker in part for part in argv):
            return False
    return True


def reap(pid: int) -> None:
    """Collect ``pid`` if it is our own exited child, so it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    except OSError:
        pass
