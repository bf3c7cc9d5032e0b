"""The systemd supervisor: the service as a hardened unit, kept by PID 1.

As root it writes a system unit (``/etc/systemd/system/<name>.service``, run
by a ``DynamicUser``); otherwise a user unit
(``~/.config/systemd/user/<name>.service``, ``systemctl --user``; it survives
logout only with ``loginctl enable-linger``). The unit text comes from
``systemd_unit.render_unit`` and carries an ownership marker with a hash:

* ``start`` writes the unit atomically only when its text changed, refuses to
  replace a unit without our marker (or one edited by hand), runs
  ``daemon-reload`` only after a write, enables it (so it comes back after a
  reboot) and restarts it. An unchanged unit that is already running is left
  alone: no write, no reload, no restart.
* ``stop`` stops and disables the unit and removes exactly the file aistack
  wrote; the admin's drop-ins (``<name>.service.d/``) stay.
* ``restore`` puts back the unit text a ``start`` replaced (rollback).

Every systemctl/journalctl call goes through ``aistack.proc.run``; only
``logs(follow=True)`` holds a streaming ``journalctl -f`` child.
"""

from __future__ import annotations

import contextlib
import grp
import os
import stat
import subprocess
import time
from pathlib import Path
from typing import Iterator

from aistack import atomicfile, proc
from aistack.errors import DeployError, UnsatisfiableError
from aistack.service import ServiceSpec
from aistack.supervisors.base import Handle, ServiceState
from aistack.supervisors.systemd_unit import Ownership, RenderedUnit, UnitContext, ownership, render_unit, unit_name

SYSTEM_UNIT_DIR = Path("/etc/systemd/system")
_SHOW_PROPS = (
    "LoadState,ActiveState,SubState,Result,MainPID,NRestarts,UnitFileState,FragmentPath,"
    "ExecMainStartTimestampMonotonic,ExecMainStatus"
)


def default_scope() -> str:
    return "system" if os.geteuid() == 0 else "user"


def user_unit_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user"


class SystemdSupervisor:
    name = "systemd"
    runs_in_container = False

    def preflight(self, spec: ServiceSpec) -> None:
        from aistack.supervisors.embedded import _require_executable

        _require_executable(spec)

    def __init__(self, scope: str | None = None, unit_dir: Path | None = None):
        self.scope = scope or default_scope()
        if self.scope not in ("system", "user"):
            raise ValueError(f"scope must be 'system' or 'user', not {self.scope!r}")
        self.unit_dir = Path(unit_dir) if unit_dir else (SYSTEM_UNIT_DIR if self.scope == "system" else user_unit_dir())

    # --- plumbing -------------------------------------------------------------

    def _systemctl(self, *args: str, timeout: float = 90.0) -> proc.Result:
        scope = ["--user"] if self.scope == "user" else []
        return proc.run(["systemctl", *scope, "--no-ask-password", *args], timeout=timeout)

    def _must(self, *args: str, what: str, timeout: float = 90.0) -> proc.Result:
        res = self._systemctl(*args, timeout=timeout)
        if not res.ok:
            raise DeployError(
                f"systemctl {' '.join(args)} failed while trying to {what}: {(res.stderr or res.stdout).strip()}",
                hint=f"Inspect with: {self._cmd('status', args[-1])} and {self._journal_cmd(args[-1])}",
            )
        return res

    def _cmd(self, *args: str) -> str:
        return " ".join(["systemctl", *(["--user"] if self.scope == "user" else []), *args])

    def _journal_cmd(self, unit: str) -> str:
        return f"journalctl {'--user-unit' if self.scope == 'user' else '-u'} {unit} -n 50"

    def unit_path(self, spec_or_name: ServiceSpec | str) -> Path:
        name = spec_or_name if isinstance(spec_or_name, str) else unit_name(spec_or_name)
        return self.unit_dir / name

    def show(self, unit: str) -> dict[str, str]:
        res = self._systemctl("show", unit, "-p", _SHOW_PROPS)
        props: dict[str, str] = {}
        for line in res.stdout.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                props[key] = value
        return props

    # --- the Supervisor protocol ---------------------------------------------------

    def available(self) -> tuple[bool, str]:
        if not Path("/run/systemd/system").is_dir():
            return False, "PID 1 is not systemd (no /run/systemd/system)"
        if proc.which("systemctl") is None:
            return False, "systemctl is not installed"
        res = self._systemctl("is-system-running", timeout=10)
        status = res.stdout.strip()
        if status in ("running", "degraded", "starting", "initializing", "maintenance"):
            return True, f"{self.scope} manager is {status}"
        if self.scope == "user":
            return False, (
                "no systemd user manager answers (log in through a session, or run "
                "'loginctl enable-linger $USER' as root)"
            )
        return False, f"the systemd manager does not answer ({status or res.stderr.strip() or 'no reply'})"

    def render(self, spec: ServiceSpec) -> RenderedUnit:
        nodes, groups = _device_facts(spec.devices)
        return render_unit(spec, UnitContext(scope=self.scope, device_nodes=nodes, device_groups=groups))

    def start(self, spec: ServiceSpec, deployment_id: str) -> Handle:
        ok, why = self.available()
        if not ok:
            raise UnsatisfiableError(
                f"The systemd runtime cannot be used here: {why}. Nothing was changed.",
                hint="Use --runtime embedded (or docker) instead.",
            )
        unit = self.render(spec)
        path = self.unit_path(unit.name)
        current = _read_text(path)
        self._check_ownership(path, current, unit.name)
        if self.scope == "system":
            _check_readable(unit.bind_paths, path)

        changed = current != unit.text
        notes: list[str] = []
        if changed:
            atomicfile.write_text(path, unit.text, mode=0o644)
            try:
                self._must("enable", "--no-reload", unit.name, what=f"enable {unit.name}")
                self._must("daemon-reload", what="reload unit files")
                self._systemctl("reset-failed", unit.name)
                self._must("restart", unit.name, what=f"start {unit.name}")
            except DeployError:
                # Leave the previous unit in place, as it was before this start.
                self._put_back(path, current, unit.name)
                raise
        else:
            props = self.show(unit.name)
            if props.get("UnitFileState") != "enabled":
                self._must("enable", unit.name, what=f"enable {unit.name}")
            if props.get("ActiveState") not in ("active", "activating", "reloading"):
                self._systemctl("reset-failed", unit.name)
                self._must("start", unit.name, what=f"start {unit.name}")
        if self.scope == "user" and not _lingering():
            notes.append("user units stop at logout unless lingering is on: run 'loginctl enable-linger' as this user")
        return Handle(
            supervisor=self.name,
            deployment_id=deployment_id,
            data={
                "unit": unit.name,
                "scope": self.scope,
                "unit_path": str(path),
                "unit_sha256": unit.sha256,
                "port": spec.port,
                "changed": changed,
                "previous_unit_text": current if changed else None,
                "notes": notes,
            },
        )

    def stop(self, handle: Handle) -> None:
        unit = handle.data.get("unit") or "aistack.service"
        path = Path(handle.data.get("unit_path") or self.unit_path(unit))
        text = _read_text(path)
        owner = ownership(text)
        if owner in (Ownership.FOREIGN, Ownership.MODIFIED):
            raise DeployError(
                f"{path} was not written by aistack (or was edited since); it was left as it is and not stopped.",
                hint=f"Stop it yourself ({self._cmd('disable', '--now', unit)}) or move it away, then run 'aistack down' again.",
            )
        if owner is Ownership.ABSENT and self.show(unit).get("LoadState") not in ("loaded", "masked"):
            return
        self._systemctl("disable", "--now", "--no-reload", unit)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        self._systemctl("daemon-reload")
        self._systemctl("reset-failed", unit)

    def restore(self, handle: Handle) -> None:
        """Roll back ``start``: put back the unit it replaced (or remove the new one)."""
        if not handle.data.get("changed"):
            return
        unit = handle.data["unit"]
        path = Path(handle.data["unit_path"])
        previous = handle.data.get("previous_unit_text")
        if previous is None:
            self.stop(handle)
            return
        if ownership(_read_text(path)) in (Ownership.FOREIGN, Ownership.MODIFIED):
            raise DeployError(f"{path} changed behind aistack's back; rollback left it as it is.")
        self._put_back(path, previous, unit)
        self._systemctl("reset-failed", unit)
        self._must("restart", unit, what=f"restart the previous {unit}")

    def state(self, handle: Handle) -> ServiceState:
        unit = handle.data.get("unit") or "aistack.service"
        props = self.show(unit)
        active, sub = props.get("ActiveState", "unknown"), props.get("SubState", "unknown")
        pid = int(props.get("MainPID") or 0) or None
        started_at = None
        mono_us = int(props.get("ExecMainStartTimestampMonotonic") or 0)
        if mono_us and pid:
            started_at = time.time() - (time.clock_gettime(time.CLOCK_MONOTONIC) - mono_us / 1e6)
        detail = f"{unit} {active}/{sub}"
        if props.get("Result") not in (None, "", "success"):
            detail += f" (last result: {props['Result']})"
        return ServiceState(
            running=active == "active" and sub == "running",
            pid=pid,
            started_at=started_at,
            restarts=int(props.get("NRestarts") or 0),
            detail=detail,
        )

    def logs(self, handle: Handle, lines: int, follow: bool) -> Iterator[str]:
        unit = handle.data.get("unit") or "aistack.service"
        argv = ["journalctl", "--user-unit" if self.scope == "user" else "-u", unit,
                "-n", str(max(0, int(lines))), "--no-pager", "-o", "short-iso"]
        if not follow:
            res = proc.run(argv, timeout=60)
            if not res.ok and not res.stdout:
                raise DeployError(f"journalctl could not read the logs of {unit}: {res.stderr.strip()}")
            yield from res.stdout.splitlines()
            return
        # A streaming child: proc.run would wait for it to exit.
        child = subprocess.Popen([*argv, "-f"], stdout=subprocess.PIPE, text=True, errors="replace")
        try:
            assert child.stdout is not None
            for line in child.stdout:
                yield line.rstrip("\n")
        finally:
            child.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=5)

    def can_overlap(self, old: Handle, new_spec: ServiceSpec) -> bool:
        # The same unit is rewritten in place (start replaces it, restore puts it
        # back); another unit can run beside it only on another port.
        return old.data.get("unit") != unit_name(new_spec) and old.data.get("port") != new_spec.port

    # --- helpers ----------------------------------------------------------------

    def _check_ownership(self, path: Path, current: str | None, unit: str) -> None:
        owner = ownership(current)
        if owner is Ownership.FOREIGN:
            raise DeployError(
                f"{path} exists and was not written by aistack; it was left untouched and nothing was started.",
                hint=f"Move it away (mv {path} {path}.bak), or deploy under another name, then run 'aistack up' again.",
                details={"unit_path": str(path)},
            )
        if owner is Ownership.MODIFIED:
            raise DeployError(
                f"{path} was written by aistack but edited since; it was left untouched and nothing was started.",
                hint=f"Put your changes in {path}.d/override.conf (drop-ins survive every 'aistack up'), "
                f"remove {path}, then run 'aistack up' again.",
                details={"unit_path": str(path)},
            )
        if owner is Ownership.ABSENT:
            props = self.show(unit)
            fragment = props.get("FragmentPath") or ""
            if props.get("LoadState") == "loaded" and fragment and Path(fragment) != path:
                raise DeployError(
                    f"A unit named {unit} already exists at {fragment} (not written by aistack); nothing was changed.",
                    hint="Deploy under another service name, or remove that unit first.",
                    details={"unit_path": fragment},
                )

    def _put_back(self, path: Path, previous: str | None, unit: str) -> None:
        if previous is None:
            self._systemctl("disable", "--no-reload", unit)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        else:
            atomicfile.write_text(path, previous, mode=0o644)
        self._systemctl("daemon-reload")


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def _device_facts(devices: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Expand device directories (/dev/dri) to their nodes; the non-root groups owning them."""
    nodes: list[str] = []
    for dev in devices:
        p = Path(dev)
        if p.is_dir():
            nodes += sorted(str(c) for c in p.iterdir() if c.is_char_device() or c.is_block_device())
        else:
            nodes.append(dev)
    groups: list[str] = []
    for node in nodes:
        try:
            st = os.stat(node)
        except OSError:
            continue
        if st.st_gid == 0 or st.st_mode & stat.S_IROTH and st.st_mode & stat.S_IWOTH:
            continue
        try:
            name = grp.getgrgid(st.st_gid).gr_name
        except KeyError:
            continue
        if name not in groups:
            groups.append(name)
    return tuple(nodes), tuple(groups)


def _check_readable(paths: tuple[str, ...], unit_path: Path) -> None:
    """The dynamic service user reads these through a same-path bind mount: "other" needs access."""
    for raw in paths:
        p = Path(raw)
        try:
            st = p.stat()
        except FileNotFoundError:
            raise DeployError(
                f"{p} does not exist; {unit_path} was not written.",
                hint="Run 'aistack up' again (it fetches and installs what is missing).",
            ) from None
        need = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(st.st_mode) or os.access(p, os.X_OK) else 0)
        if st.st_mode & need != need:
            raise DeployError(
                f"The service runs as an unprivileged dynamic user and cannot read {p} "
                f"(mode {stat.filemode(st.st_mode)}); {unit_path} was not written.",
                hint=f"Make it readable (chmod o+r{'x' if need & stat.S_IXOTH else ''} {p}), then run 'aistack up' again.",
            )


def _lingering() -> bool:
    try:
        res = proc.run(["loginctl", "show-user", str(os.getuid()), "-p", "Linger", "--value"], timeout=10)
    except proc.ExecutableNotFound:
        return False
    return res.ok and res.stdout.strip() == "yes"
