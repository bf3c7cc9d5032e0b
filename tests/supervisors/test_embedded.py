"""The embedded supervisor: restart policy, log rotation, pid ownership, and a
real detached supervisor running a real (tiny) child process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from aistack.service import ServiceSpec
from aistack.supervisors import embedded_pids as pids
from aistack.supervisors.base import Handle
from aistack.supervisors.embedded import EmbeddedSupervisor, follow_file, tail_lines
from aistack.supervisors.embedded_daemon import RestartPolicy, RotatingLog
from aistack.supervisors.registry import SUPERVISORS, get_supervisor


# --- restart policy ---------------------------------------------------------


def test_first_restart_is_quick_then_backoff_grows_to_the_cap():
    p = RestartPolicy(first_delay_s=0.1, factor=3.0, max_delay_s=5.0, stable_after_s=30.0)
    delays = [p.next_delay(ran_for_s=0.2) for _ in range(6)]
    assert delays[0] == pytest.approx(0.1)
    assert delays[1] == pytest.approx(0.3)
    assert delays[2] == pytest.approx(0.9)
    assert all(b >= a for a, b in zip(delays, delays[1:]))
    assert delays[-1] == 5.0


def test_a_stable_run_resets_the_backoff():
    p = RestartPolicy(first_delay_s=0.1, factor=3.0, max_delay_s=30.0, stable_after_s=10.0)
    for _ in range(4):
        p.next_delay(ran_for_s=1.0)
    assert p.next_delay(ran_for_s=1.0) > 5
    assert p.next_delay(ran_for_s=11.0) == pytest.approx(0.1)
    assert p.next_delay(ran_for_s=0.5) == pytest.approx(0.3)


# --- log rotation -------------------------------------------------------------


def test_log_rotates_by_size_and_keeps_a_bounded_number_of_backups(tmp_path):
    path = tmp_path / "server.log"
    log = RotatingLog(path, max_bytes=100, backups=2)
    for i in range(30):
        log.write(f"line {i:03d} xxxxxxxxxx\n".encode())  # 20 bytes each
    log.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["server.log", "server.log.1", "server.log.2"]
    for p in tmp_path.iterdir():
        assert p.stat().st_size <= 100
        # rotation happens at line boundaries
        assert p.read_text().endswith("\n")
    # the newest lines are in the live file, the older ones in .1 then .2
    assert "line 029" in path.read_text()
    newest_backup = (tmp_path / "server.log.1").read_text().splitlines()
    live = path.read_text().splitlines()
    assert int(newest_backup[-1].split()[1]) + 1 == int(live[0].split()[1])
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)


def test_log_event_lines_are_marked(tmp_path):
    log = RotatingLog(tmp_path / "a.log")
    log.event("restarted pid 42")
    log.close()
    assert (tmp_path / "a.log").read_text().startswith("[aistack ")


def test_tail_lines_reads_only_the_end(tmp_path):
    path = tmp_path / "big.log"
    path.write_text("".join(f"{i}\n" for i in range(100_000)))
    assert tail_lines(path, 3) == ["99997", "99998", "99999"]
    assert tail_lines(path, 0) == []
    assert tail_lines(tmp_path / "missing.log", 5) == []


def test_follow_file_sees_appended_lines_across_rotation(tmp_path):
    path = tmp_path / "f.log"
    path.write_text("old\n")
    got: list[str] = []
    done = threading.Event()

    def reader():
        for line in follow_file(path, poll_s=0.01, stop=done.is_set):
            got.append(line)

    t = threading.Thread(target=reader)
    t.start()
    time.sleep(0.1)
    with open(path, "a") as fh:
        fh.write("one\n")
    time.sleep(0.1)
    os.replace(path, tmp_path / "f.log.1")
    path.write_text("two\n")
    deadline = time.monotonic() + 3
    while got != ["one", "two"] and time.monotonic() < deadline:
        time.sleep(0.02)
    done.set()
    t.join(2)
    assert got == ["one", "two"]


# --- pid ownership ------------------------------------------------------------


def test_own_process_is_owned_with_matching_start_time_and_marker():
    me = os.getpid()
    ticks = pids.start_ticks(me)
    assert ticks is not None
    assert pids.owned(me, ticks, "python")
    assert not pids.owned(me, ticks + 1, "python"), "a different start time means a recycled pid"
    assert not pids.owned(me, ticks, "no-such-marker-in-cmdline")


def test_exited_and_zombie_processes_are_not_alive():
    child = subprocess.Popen(["true"])
    deadline = time.monotonic() + 5
    while pids.stat(child.pid) and pids.stat(child.pid)[0] != "Z" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pids.stat(child.pid)[0] == "Z"
    assert not pids.alive(child.pid), "an unreaped zombie is not a running process"
    child.wait()
    assert not pids.alive(child.pid)
    assert not pids.owned(child.pid, None)
    assert not pids.alive(None) and not pids.alive(0)


# --- the registry -------------------------------------------------------------


def test_registry_is_lazy_and_names_the_three_runtimes():
    assert set(SUPERVISORS) == {"embedded", "docker", "systemd"}
    assert get_supervisor("embedded").name == "embedded"
    from aistack.errors import UsageError

    with pytest.raises(UsageError) as exc:
        get_supervisor("launchd-on-linux")
    assert "embedded" in exc.value.hint


# --- a real detached supervisor ----------------------------------------------


def _spec(tmp_path: Path, script: str, port: int = 9) -> ServiceSpec:
    return ServiceSpec(
        name="aistack-test",
        executable="/bin/sh",
        args=("-c", script),
        host="127.0.0.1",
        port=port,
    )


def _wait(pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.01)
    return False


def test_supervisor_runs_restarts_logs_and_stops_a_real_child(tmp_path):
    sup = EmbeddedSupervisor()
    handle = sup.start(_spec(tmp_path, "echo started-$$; exec sleep 60"), "d-test-1")
    try:
        daemon_pid = handle.data["pid"]
        assert pids.owned(daemon_pid, handle.data["start_ticks"], "embedded_daemon")
        # the supervisor lives in its own session (no controlling terminal)
        assert os.getsid(daemon_pid) == daemon_pid
        st = sup.state(handle)
        assert st.running and st.pid and st.restarts == 0
        first = st.pid
        os.kill(first, signal.SIGKILL)
        assert _wait(lambda: sup.state(handle).pid not in (None, first))
        st2 = sup.state(handle)
        assert st2.running and st2.restarts == 1
        assert _wait(lambda: sum(l.startswith("started-") for l in sup.logs(handle, 50, False)) == 2)
        lines = list(sup.logs(handle, 50, False))
        assert any("exited with code -9" in l for l in lines)
        # SIGHUP (terminal closed) does not stop it
        os.kill(daemon_pid, signal.SIGHUP)
        time.sleep(0.1)
        assert sup.state(handle).running
    finally:
        sup.stop(handle)
    assert not pids.alive(daemon_pid)
    assert not pids.alive(st2.pid)
    assert not sup.state(handle).running
    sup.stop(handle)  # idempotent


def test_stop_kills_a_child_that_ignores_sigterm(tmp_path, monkeypatch):
    monkeypatch.setattr("aistack.supervisors.embedded.STOP_GRACE_S", 0.2)
    sup = EmbeddedSupervisor()
    handle = sup.start(_spec(tmp_path, "trap '' TERM; echo ready; while :; do sleep 0.1; done"), "d-test-2")
    child = sup.state(handle).pid
    assert _wait(lambda: any("ready" in l for l in sup.logs(handle, 10, False)))
    t = time.monotonic()
    sup.stop(handle)
    assert time.monotonic() - t < 5
    assert not pids.alive(child)
    assert not pids.alive(handle.data["pid"])


def test_stop_never_signals_a_recycled_pid(tmp_path):
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        # a handle whose pid now belongs to someone else (start time differs)
        fake = Handle(
            "embedded",
            "d-gone",
            {"pid": stranger.pid, "start_ticks": (pids.start_ticks(stranger.pid) or 0) - 5,
             "status_file": str(tmp_path / "none.json"), "run_dir": str(tmp_path / "run")},
        )
        sup = EmbeddedSupervisor()
        assert not sup.state(fake).running
        sup.stop(fake)
        time.sleep(0.1)
        assert stranger.poll() is None, "a process we did not start was signalled"
        # right start time but not our command line: still not ours
        fake2 = Handle("embedded", "d-gone", {**fake.data, "start_ticks": pids.start_ticks(stranger.pid)})
        sup.stop(fake2)
        time.sleep(0.1)
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_a_missing_executable_is_retried_with_backoff_not_a_crash(tmp_path):
    sup = EmbeddedSupervisor()
    spec = ServiceSpec(name="x", executable=str(tmp_path / "nope"), args=(), host="127.0.0.1", port=9)
    handle = sup.start(spec, "d-test-3")
    try:
        assert _wait(lambda: sup.state(handle).restarts >= 2)
        st = sup.state(handle)
        assert not st.running and st.detail == "backoff"
        assert any("could not start" in l for l in sup.logs(handle, 20, False))
    finally:
        sup.stop(handle)
    assert not pids.alive(handle.data["pid"])


def test_can_overlap_only_on_a_different_port(tmp_path):
    sup = EmbeddedSupervisor()
    old = Handle("embedded", "d", {"port": 8080})
    assert not sup.can_overlap(old, _spec(tmp_path, "true", port=8080))
    assert sup.can_overlap(old, _spec(tmp_path, "true", port=8081))
