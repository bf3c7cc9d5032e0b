"""The embedded supervisor process: keep one server running, restart it when it dies.

Started detached by ``EmbeddedSupervisor.start`` as::

    python -S <this file> <run-dir>/daemon.json

(or run in the caller's own process by ``aistack up --foreground``). It

* runs the server argv with its output on a pipe and copies that output into a
  size-rotated log file, interleaved with its own ``[aistack]`` event lines;
* restarts the server when it exits, at once the first time and with a
  growing delay on repeated quick crashes (``RestartPolicy``), the count
  resetting once a run has been stable for a while;
* keeps a small JSON status file up to date: its own pid, the server's pid and
  start time, the restart count, the last exit code;
* on SIGTERM/SIGINT stops the server (SIGTERM, then SIGKILL after a grace
  period) and exits. SIGHUP is ignored: closing the terminal that ran
  ``aistack up`` does not stop the service.

Only the standard library is imported here, so the supervisor starts quickly
and never depends on the rest of aistack being importable.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

MARKER = "embedded_daemon"


# --- restart policy ----------------------------------------------------------


@dataclass
class RestartPolicy:
    """How long to wait before restarting a server that just exited.

    The first restart after a stable run waits ``first_delay_s``; each further
    quick crash multiplies the delay by ``factor`` up to ``max_delay_s``. A run
    that lasted ``stable_after_s`` or longer resets the sequence.
    """

    first_delay_s: float = 0.1
    factor: float = 3.0
    max_delay_s: float = 30.0
    stable_after_s: float = 10.0
    quick_crashes: int = 0

    def next_delay(self, ran_for_s: float) -> float:
        if ran_for_s >= self.stable_after_s:
            self.quick_crashes = 0
        delay = min(self.max_delay_s, self.first_delay_s * self.factor**self.quick_crashes)
        self.quick_crashes += 1
        return delay


# --- rotated log file ----------------------------------------------------------


class RotatingLog:
    """Append-only log file rotated by size: ``log`` -> ``log.1`` -> ... -> ``log.N``."""

    def __init__(self, path: Path, max_bytes: int = 10 * 1024 * 1024, backups: int = 3):
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self._open()

    def _open(self):
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return os.fdopen(fd, "ab", buffering=0)

    @property
    def size(self) -> int:
        return self._fh.tell() if not self._fh.closed else 0

    def write(self, data: bytes) -> None:
        if not data:
            return
        if self.size > 0 and self.size + len(data) > self.max_bytes:
            # Keep whole lines together in the old file where possible.
            cut = data.rfind(b"\n", 0, max(0, self.max_bytes - self.size)) + 1
            if cut > 0:
                self._fh.write(data[:cut])
                data = data[cut:]
            self.rotate()
        self._fh.write(data)

    def event(self, message: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        self.write(f"[aistack {stamp}] {message}\n".encode())

    def rotate(self) -> None:
        self._fh.close()
        if self.backups <= 0:
            self.path.unlink(missing_ok=True)
        else:
            for i in range(self.backups - 1, 0, -1):
                src = self.path.with_name(f"{self.path.name}.{i}")
                if src.exists():
                    os.replace(src, self.path.with_name(f"{self.path.name}.{i + 1}"))
            if self.path.exists():
                os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        self._fh = self._open()

    def close(self) -> None:
        self._fh.close()


# --- configuration written by EmbeddedSupervisor.start ---------------------------


@dataclass(frozen=True)
class DaemonConfig:
    deployment_id: str
    argv: tuple[str, ...]
    log_file: str
    status_file: str
    env: dict[str, str] = field(default_factory=dict)  # added to the inherited environment
    workdir: str | None = None
    log_max_bytes: int = 10 * 1024 * 1024
    log_backups: int = 3
    stop_grace_s: float = 10.0
    first_delay_s: float = 0.1
    max_delay_s: float = 30.0
    stable_after_s: float = 10.0

    @classmethod
    def load(cls, path: str | Path) -> "DaemonConfig":
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        data["argv"] = tuple(data["argv"])
        return cls(**data)

    def dump(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _proc_start_ticks(pid: int) -> int | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
        return int(raw[raw.rfind(")") + 2 :].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _parent_death_signal() -> Callable[[], None] | None:
    """A preexec function that makes the server die with its supervisor (Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    PR_SET_PDEATHSIG = 1

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)

    return preexec


# --- the supervision loop ------------------------------------------------------


class Daemon:
    def __init__(self, cfg: DaemonConfig):
        self.cfg = cfg
        self.log = RotatingLog(Path(cfg.log_file), cfg.log_max_bytes, cfg.log_backups)
        self.policy = RestartPolicy(
            first_delay_s=cfg.first_delay_s, max_delay_s=cfg.max_delay_s, stable_after_s=cfg.stable_after_s
        )
        self.status_path = Path(cfg.status_file)
        self.child: subprocess.Popen | None = None
        self.child_started_at: float | None = None
        self.pipe_fd: int | None = None
        self.starts = 0
        self.restart_at = 0.0
        self.stopping = False
        self.last_exit_code: int | None = None
        self.last_exit_at: float | None = None
        self.state = "starting"
        self.started_at = time.time()
        self.sel = selectors.DefaultSelector()
        self._preexec = _parent_death_signal()

    # status file
    def write_status(self) -> None:
        child = self.child
        write_json_atomic(
            self.status_path,
            {
                "deployment_id": self.cfg.deployment_id,
                "supervisor_pid": os.getpid(),
                "supervisor_start_ticks": _proc_start_ticks(os.getpid()),
                "supervisor_started_at": self.started_at,
                "state": self.state,
                "child_pid": child.pid if child else None,
                "child_start_ticks": _proc_start_ticks(child.pid) if child else None,
                "child_started_at": self.child_started_at if child else None,
                "restarts": max(0, self.starts - 1),
                "last_exit_code": self.last_exit_code,
                "last_exit_at": self.last_exit_at,
                "updated_at": time.time(),
            },
        )

    def spawn(self) -> None:
        env = {**os.environ, **self.cfg.env}
        try:
            r, w = os.pipe()
            try:
                self.child = subprocess.Popen(
                    list(self.cfg.argv),
                    stdin=subprocess.DEVNULL,
                    stdout=w,
                    stderr=w,
                    env=env,
                    cwd=self.cfg.workdir or None,
                    close_fds=True,
                    preexec_fn=self._preexec,
                )
            finally:
                os.close(w)
        except OSError as exc:
            os.close(r)
            self.starts += 1
            self.log.event(f"could not start {self.cfg.argv[0]}: {exc}")
            self._exited(127, ran_for_s=0.0)
            return
        self.starts += 1
        self.child_started_at = time.time()
        os.set_blocking(r, False)
        self.pipe_fd = r
        self.sel.register(r, selectors.EVENT_READ, "pipe")
        self.state = "running"
        self.write_status()
        what = "started" if self.starts == 1 else f"restarted (restart {self.starts - 1})"
        self.log.event(f"{what} pid {self.child.pid}: {' '.join(self.cfg.argv)}")

    def drain(self) -> None:
        if self.pipe_fd is None:
            return
        while True:
            try:
                data = os.read(self.pipe_fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self.sel.unregister(self.pipe_fd)
                os.close(self.pipe_fd)
                self.pipe_fd = None
                return
            self.log.write(data)

    def _exited(self, code: int, ran_for_s: float) -> None:
        self.last_exit_code = code
        self.last_exit_at = time.time()
        self.child = None
        if self.stopping:
            return
        delay = self.policy.next_delay(ran_for_s)
        self.restart_at = time.monotonic() + delay
        self.state = "backoff"
        self.write_status()
        self.log.event(f"server exited with code {code} after {ran_for_s:.1f}s; restarting in {delay:.1f}s")

    def reap(self) -> None:
        if self.child is None:
            return
        code = self.child.poll()
        if code is None:
            return
        self.drain()
        started = self.child_started_at or time.time()
        self._exited(code, time.time() - started)

    def stop_child(self) -> None:
        child = self.child
        if child is None or child.poll() is not None:
            self.drain()
            return
        self.log.event(f"stopping pid {child.pid} (SIGTERM)")
        child.terminate()
        deadline = time.monotonic() + self.cfg.stop_grace_s
        while child.poll() is None and time.monotonic() < deadline:
            self.sel.select(0.05)
            self.drain()
        if child.poll() is None:
            self.log.event(f"pid {child.pid} ignored SIGTERM for {self.cfg.stop_grace_s:.0f}s; sending SIGKILL")
            child.kill()
            child.wait()
        self.drain()
        self.last_exit_code = child.returncode
        self.last_exit_at = time.time()
        self.child = None

    def request_stop(self, *_args: Any) -> None:
        self.stopping = True

    def run(self, install_signals: bool = True, should_stop: Callable[[], bool] | None = None) -> int:
        wake_r, wake_w = socket.socketpair()
        wake_r.setblocking(False)
        wake_w.setblocking(False)
        self.sel.register(wake_r, selectors.EVENT_READ, "wake")
        old_wakeup = None
        if install_signals:
            old_wakeup = signal.set_wakeup_fd(wake_w.fileno())
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the selector when the server dies
        self.log.event(f"supervisor pid {os.getpid()} for deployment {self.cfg.deployment_id}")
        try:
            while True:
                if should_stop is not None and should_stop():
                    self.stopping = True
                if self.stopping:
                    break
                if self.child is None and time.monotonic() >= self.restart_at:
                    self.spawn()
                    continue
                if self.child is None:
                    timeout = max(0.0, self.restart_at - time.monotonic())
                else:
                    timeout = 0.5
                for key, _ in self.sel.select(min(timeout, 0.5)):
                    if key.data == "pipe":
                        self.drain()
                    else:
                        try:
                            while wake_r.recv(4096):
                                pass
                        except BlockingIOError:
                            pass
                self.reap()
            self.state = "stopping"
            self.write_status()
            self.stop_child()
            self.state = "stopped"
            self.write_status()
            self.log.event(f"supervisor stopped (server exit code {self.last_exit_code})")
            return 0
        finally:
            if install_signals:
                signal.set_wakeup_fd(old_wakeup if old_wakeup is not None else -1)
            self.sel.close()
            wake_r.close()
            wake_w.close()
            self.log.close()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -S embedded_daemon.py <daemon.json>", file=sys.stderr)
        return 2
    cfg = DaemonConfig.load(args[0])
    return Daemon(cfg).run()


if __name__ == "__main__":
    sys.exit(main())
