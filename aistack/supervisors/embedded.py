"""The embedded supervisor: no Docker, no systemd, just a small detached process.

``start`` writes the service description to ``<state>/embedded/<id>/daemon.json``
and spawns ``python -S .../embedded_daemon.py <that file>`` in a new session
(stdin from /dev/null, no controlling terminal), which runs and restarts the
server (see ``embedded_daemon``). The handle records the supervisor's pid and
start time; ``stop`` and ``state`` check both, and the command line, before
trusting a pid, so a recycled pid is never signalled.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Callable, Iterator

from aistack.errors import DeployError
from aistack.paths import dirs, ensure_dir
from aistack.service import ServiceSpec
from aistack.supervisors import embedded_pids as pids
from aistack.supervisors.base import Handle, ServiceState
from aistack.supervisors import embedded_daemon
from aistack.supervisors.embedded_daemon import Daemon, DaemonConfig

SPAWN_TIMEOUT_S = 10.0
STOP_GRACE_S = 10.0


def run_dir(deployment_id: str) -> Path:
    return dirs().state / "embedded" / deployment_id


def log_file(deployment_id: str) -> Path:
    return dirs().logs / f"{deployment_id}.log"


def daemon_config(spec: ServiceSpec, deployment_id: str) -> DaemonConfig:
    rd = run_dir(deployment_id)
    return DaemonConfig(
        deployment_id=deployment_id,
        argv=spec.argv,
        env=dict(spec.env),
        workdir=spec.workdir,
        log_file=str(log_file(deployment_id)),
        status_file=str(rd / "status.json"),
        stop_grace_s=STOP_GRACE_S,
    )


def read_status(path: str | Path) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def tail_lines(path: Path, lines: int) -> list[str]:
    """The last ``lines`` lines of ``path`` (reading backwards, so big logs stay cheap)."""
    if lines <= 0:
        return []
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return []
    with fh:
        fh.seek(0, os.SEEK_END)
        end = fh.tell()
        block = 64 * 1024
        data = b""
        pos = end
        while pos > 0 and data.count(b"\n") <= lines:
            step = min(block, pos)
            pos -= step
            fh.seek(pos)
            data = fh.read(step) + data
    text = data.decode(errors="replace").splitlines()
    return text[-lines:]


def follow_file(path: Path, poll_s: float = 0.2, stop: Callable[[], bool] | None = None) -> Iterator[str]:
    """Yield lines appended to ``path`` from its current end; survives rotation."""
    fh = None
    inode = None
    buf = b""
    at_end = True  # lines already in the file were shown by the caller
    while stop is None or not stop():
        if fh is None:
            try:
                fh = open(path, "rb")
            except FileNotFoundError:
                at_end = False
                time.sleep(poll_s)
                continue
            inode = os.fstat(fh.fileno()).st_ino
            if at_end:
                fh.seek(0, os.SEEK_END)
        chunk = fh.read()
        if chunk:
            buf += chunk
            *done, buf = buf.split(b"\n")
            for line in done:
                yield line.decode(errors="replace")
            continue
        try:
            st = os.stat(path)
            rotated = st.st_ino != inode or st.st_size < fh.tell()
        except FileNotFoundError:
            rotated = True
        if rotated:
            fh.close()
            fh = None
            # the new file is read from its beginning
            try:
                fh = open(path, "rb")
                inode = os.fstat(fh.fileno()).st_ino
            except FileNotFoundError:
                fh = None
            continue
        time.sleep(poll_s)
    if fh is not None:
        fh.close()


class EmbeddedSupervisor:
    name = "embedded"
    runs_in_container = False

    def preflight(self, spec: ServiceSpec) -> None:
        _require_executable(spec)

    def available(self) -> tuple[bool, str]:
        if os.name != "posix":
            return False, "the embedded supervisor needs a POSIX system"
        return True, "runs the server as a detached child process of aistack"

    # --- start ---------------------------------------------------------------
    def prepare(self, spec: ServiceSpec, deployment_id: str) -> DaemonConfig:
        rd = ensure_dir(run_dir(deployment_id), 0o700)
        ensure_dir(dirs().logs, 0o700)
        cfg = daemon_config(spec, deployment_id)
        (rd / "status.json").unlink(missing_ok=True)
        path = rd / "daemon.json"
        path.write_text(json.dumps(cfg.dump(), indent=2), encoding="utf-8")
        return cfg

    def start(self, spec: ServiceSpec, deployment_id: str) -> Handle:
        cfg = self.prepare(spec, deployment_id)
        rd = run_dir(deployment_id)
        err_path = rd / "supervisor.err"
        with open(err_path, "wb") as err:
            # Run the daemon's file directly with -S (no site-packages): it needs
            # only the standard library, and skipping site saves ~40 ms of start-up.
            proc = subprocess.Popen(
                [sys.executable, "-S", str(Path(embedded_daemon.__file__)), str(rd / "daemon.json")],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,
                close_fds=True,
                cwd="/",
            )
        ticks = pids.start_ticks(proc.pid)
        handle = Handle(
            supervisor=self.name,
            deployment_id=deployment_id,
            data={
                "pid": proc.pid,
                "start_ticks": ticks,
                "config": str(rd / "daemon.json"),
                "run_dir": str(rd),
                "status_file": cfg.status_file,
                "log_file": cfg.log_file,
                "host": spec.host,
                "port": spec.port,
            },
        )
        # Wait until the supervisor has started the server (or failed to), so
        # the handle is complete and a broken interpreter is reported here.
        deadline = time.monotonic() + SPAWN_TIMEOUT_S
        while time.monotonic() < deadline:
            status = read_status(cfg.status_file)
            if status.get("supervisor_pid") == proc.pid and status.get("state") != "starting":
                return handle
            if proc.poll() is not None:
                detail = err_path.read_text(errors="replace").strip()[-2000:]
                raise DeployError(
                    f"The embedded supervisor exited at once (code {proc.returncode}).",
                    hint="Run 'aistack up --foreground' to see the failure in this terminal.",
                    details={"stderr": detail},
                )
            time.sleep(0.005)
        self.stop(handle)
        raise DeployError(
            f"The embedded supervisor did not start the server within {SPAWN_TIMEOUT_S:.0f}s.",
            hint="Run 'aistack up --foreground' to see what happens.",
        )

    def foreground_handle(self, spec: ServiceSpec, deployment_id: str) -> Handle:
        """The handle of a supervisor loop run by this very process (``up --foreground``)."""
        rd = run_dir(deployment_id)
        return Handle(
            supervisor=self.name,
            deployment_id=deployment_id,
            data={
                "pid": os.getpid(),
                "start_ticks": pids.start_ticks(os.getpid()),
                "foreground": True,
                "run_dir": str(rd),
                "status_file": str(rd / "status.json"),
                "log_file": str(log_file(deployment_id)),
                "host": spec.host,
                "port": spec.port,
            },
        )

    def run_foreground(self, spec: ServiceSpec, deployment_id: str, should_stop: Callable[[], bool] | None = None) -> int:
        """Run the supervision loop here until SIGTERM/SIGINT (or ``should_stop``)."""
        cfg = self.prepare(spec, deployment_id)
        return Daemon(cfg).run(install_signals=True, should_stop=should_stop)

    # --- inspect ---------------------------------------------------------------
    def _supervisor_alive(self, handle: Handle) -> bool:
        """The recorded supervisor pid is alive, started when recorded, and runs this deployment's config."""
        data = handle.data
        marker = None if data.get("foreground") else data.get("config") or "embedded_daemon"
        return pids.owned(data.get("pid"), data.get("start_ticks"), marker)

    def state(self, handle: Handle) -> ServiceState:
        status = read_status(handle.data.get("status_file", ""))
        if not self._supervisor_alive(handle):
            return ServiceState(running=False, restarts=int(status.get("restarts") or 0), detail="supervisor is not running")
        child = status.get("child_pid")
        child_ok = bool(child) and pids.owned(child, status.get("child_start_ticks"))
        return ServiceState(
            running=child_ok,
            pid=child if child_ok else None,
            started_at=status.get("child_started_at") if child_ok else None,
            restarts=int(status.get("restarts") or 0),
            detail=str(status.get("state") or "unknown"),
        )

    def logs(self, handle: Handle, lines: int, follow: bool) -> Iterator[str]:
        path = Path(handle.data.get("log_file") or log_file(handle.deployment_id))
        yield from tail_lines(path, lines)
        if follow:
            yield from follow_file(path)

    def can_overlap(self, old: Handle, new_spec: ServiceSpec) -> bool:
        return int(old.data.get("port") or -1) != new_spec.port

    # --- stop ------------------------------------------------------------------
    def stop(self, handle: Handle) -> None:
        data = handle.data
        pid = data.get("pid")
        status = read_status(data.get("status_file", ""))
        if self._supervisor_alive(handle) and not (data.get("foreground") and pid == os.getpid()):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE_S + 5.0
            while time.monotonic() < deadline:
                pids.reap(pid)
                if not pids.alive(pid):
                    break
                time.sleep(0.02)
            else:
                if self._supervisor_alive(handle):
                    os.kill(pid, signal.SIGKILL)
                    pids.reap(pid)
        # A server left behind by a supervisor that was killed outright.
        child = status.get("child_pid")
        if child and pids.owned(child, status.get("child_start_ticks")):
            os.kill(child, signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE_S
            while pids.alive(child) and time.monotonic() < deadline:
                time.sleep(0.02)
            if pids.owned(child, status.get("child_start_ticks")):
                os.kill(child, signal.SIGKILL)
        rd = data.get("run_dir")
        if rd and not data.get("foreground"):
            shutil.rmtree(rd, ignore_errors=True)

    def recent_log(self, handle: Handle, lines: int = 20) -> list[str]:
        return list(deque(self.logs(handle, lines, False), maxlen=lines))


def _require_executable(spec: ServiceSpec) -> None:
    """A host-run service needs its executable; say so before anything is stopped."""
    from aistack.errors import DeployError

    if not os.access(spec.executable, os.X_OK):
        raise DeployError(
            f"The server executable {spec.executable} is missing or not executable. Nothing was changed.",
            hint="Run 'aistack up' again to reinstall the backend, or point AISTACK_LLAMA_SERVER at a llama-server.",
        )
