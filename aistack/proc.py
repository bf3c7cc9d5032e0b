"""The one place aistack runs subprocesses.

``run`` returns a ``Result`` (returncode, stdout, stderr) and never raises for
a non-zero exit; a missing executable becomes ``ExecutableNotFound`` with a
readable message. Nothing else in the package calls ``subprocess`` directly,
except the supervisors that must hold on to a long-running child.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from aistack.errors import AistackError


class ExecutableNotFound(AistackError):
    pass


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (signal 0; it may belong to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def which(name: str) -> str | None:
    return shutil.which(name)


def run(
    argv: Sequence[str],
    *,
    timeout: float | None = 30.0,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    input: str | None = None,
) -> Result:
    """Run ``argv`` to completion and capture its output as text.

    A timeout is reported as returncode 124 (like coreutils ``timeout``) with
    what was captured so far, rather than an exception.
    """
    try:
        cp = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            input=input,
            errors="replace",
        )
    except FileNotFoundError as exc:
        raise ExecutableNotFound(
            f"'{argv[0]}' was not found.",
            hint="Install it or put it on PATH, then run the command again.",
        ) from exc
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        return Result(124, out, err + f"\n(timed out after {timeout}s)")
    return Result(cp.returncode, cp.stdout, cp.stderr)


def run_streaming(
    argv: Sequence[str],
    on_line: "Callable[[str], None]",
    *,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    keep_lines: int = 200,
) -> Result:
    """Run ``argv`` to completion, handing each output line (stdout and stderr
    merged) to ``on_line`` as it appears — for long builds that show progress.

    The returned ``Result`` carries the last ``keep_lines`` lines as stdout
    (stderr is empty: the two streams are merged). Timeout -> returncode 124.
    """
    import collections
    import threading

    try:
        proc = subprocess.Popen(
            list(argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            bufsize=1,
            env=dict(env) if env is not None else None,
            cwd=cwd,
        )
    except FileNotFoundError as exc:
        raise ExecutableNotFound(
            f"'{argv[0]}' was not found.",
            hint="Install it or put it on PATH, then run the command again.",
        ) from exc
    tail: collections.deque[str] = collections.deque(maxlen=keep_lines)
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        proc.kill()

    timer = threading.Timer(timeout, kill) if timeout else None
    if timer:
        timer.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            tail.append(line)
            on_line(line)
        proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        if timer:
            timer.cancel()
    out = "\n".join(tail)
    if timed_out.is_set():
        return Result(124, out, f"(timed out after {timeout}s)")
    return Result(proc.returncode, out, "")
