"""End to end: the real CLI, the real llama-server, the real SmolLM2 model.

``aistack up`` under the embedded supervisor, then the official ``openai``
client, a kill -9 of the server, an unchanged re-run, status, logs and down;
and the failure paths: busy port, corrupt model, a server that never becomes
healthy (rollback), a concurrent ``up``, and no network (fallback).
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
import urllib.request

import pytest

from aistack.supervisors import embedded_pids as pids

from e2e_helpers import SMOLLM2, recipe, state

pytestmark = pytest.mark.integration


def _health(base: str) -> int:
    try:
        with urllib.request.urlopen(base + "/health", timeout=1) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _alien_gguf() -> bytes:
    """A well-formed GGUF whose architecture llama-server does not know."""
    import gguf_writer as w

    return w.build(
        [("general.architecture", w.STRING, "nosucharch"), ("general.name", w.STRING, "alien")],
        [("token_embd.weight", (64, 8), 0)],
    )


def _up_ok(aistack, port: int, *extra: str, env=None) -> dict:
    run = aistack("up", "--runtime", "embedded", "--model", SMOLLM2, "--port", str(port), "--json", *extra, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.json["result"]


def test_up_chat_crash_rerun_status_logs_down(aistack, free_port, _guard_home):
    from openai import OpenAI

    res = _up_ok(aistack, free_port)
    assert res["changed"] is True
    assert res["model_id"] == SMOLLM2
    assert res["supervisor"] == "embedded"
    assert res["endpoint"] == f"http://127.0.0.1:{free_port}/v1"
    assert f"127.0.0.1:{free_port}/v1/chat/completions" in res["curl"]
    print(f"\nup timings: {res['timings_s']}")

    # the human rendering names the endpoint and a curl line
    st = state(_guard_home)
    assert st["current"]["deployment_id"] == res["deployment_id"]
    sup_pid = st["current"]["handle"]["data"]["pid"]
    assert pids.owned(sup_pid, None, "embedded_daemon")

    client = OpenAI(base_url=res["endpoint"], api_key="unused-on-loopback")
    reply = client.chat.completions.create(
        model=SMOLLM2, messages=[{"role": "user", "content": "Name a colour."}], max_tokens=8
    )
    assert reply.choices[0].message.content is not None
    assert reply.usage.completion_tokens > 0

    status = aistack("status", "--json")
    assert status.returncode == 0, status.stderr
    s = status.json["result"]
    assert s["health"] == "ok" and s["running"] is True and s["restarts"] == 0
    assert s["model_id"] == SMOLLM2 and s["endpoint"] == res["endpoint"]
    assert s["pid"] == res["pid"] and s["uptime_s"] >= 0

    # kill -9 the server: the supervisor brings it back
    t0 = time.monotonic()
    os.kill(s["pid"], signal.SIGKILL)
    while time.monotonic() - t0 < 30:
        if _health(f"http://127.0.0.1:{free_port}") == 200:
            cur = aistack("status", "--json").json["result"]
            if cur["pid"] != s["pid"]:
                break
        time.sleep(0.05)
    crash_to_healthy = time.monotonic() - t0
    print(f"crash-to-healthy (incl. status calls): {crash_to_healthy:.2f}s")
    after = aistack("status", "--json").json["result"]
    assert after["health"] == "ok" and after["restarts"] == 1 and after["pid"] != s["pid"]
    reply = client.chat.completions.create(model=SMOLLM2, messages=[{"role": "user", "content": "Hi"}], max_tokens=4)
    assert reply.choices

    # unchanged plan: nothing restarts
    again = aistack("up", "--runtime", "embedded", "--model", SMOLLM2, "--port", str(free_port))
    assert again.returncode == 0, again.stderr
    assert "nothing changed" in again.stdout
    same = aistack("status", "--json").json["result"]
    assert (same["pid"], same["restarts"], same["deployment_id"]) == (after["pid"], 1, res["deployment_id"])

    logs = aistack("logs", "-n", "5")
    assert logs.returncode == 0
    assert len(logs.stdout.splitlines()) == 5

    down = aistack("down", "--json")
    assert down.returncode == 0 and down.json["result"]["stopped"] is True
    assert _port_free(free_port)
    assert not pids.alive(sup_pid)
    assert not pids.alive(after["pid"])
    assert state(_guard_home)["current"] is None
    gone = aistack("status")
    assert gone.returncode == 9 and "Nothing is deployed" in gone.stderr
    assert aistack("down").returncode == 0  # idempotent


def test_port_in_use_is_refused_before_anything_starts(aistack, free_port, _guard_home):
    with socket.socket() as s:
        s.bind(("127.0.0.1", free_port))
        s.listen(1)
        run = aistack("up", "--runtime", "embedded", "--model", SMOLLM2, "--port", str(free_port))
    assert run.returncode == 7, run.stderr
    assert f"Port {free_port}" in run.stderr and f"--port {free_port + 1}" in run.stderr
    assert "Traceback" not in run.stderr
    assert not state(_guard_home).get("current")
    assert not (_guard_home / "state" / "embedded").exists(), "no supervisor was started"


def test_corrupt_model_file_is_refused_before_start(aistack, free_port, _guard_home, recipes_dir, smollm2_gguf, tmp_path):
    bad = tmp_path / "truncated.gguf"
    with open(smollm2_gguf, "rb") as src, open(bad, "wb") as dst:
        dst.write(src.read(40 * 1024 * 1024))
    (recipes_dir / "broken.toml").write_text(recipe("truncated-model", bad.as_uri()))
    env = {"AISTACK_RECIPES_DIR": str(recipes_dir)}
    run = aistack("up", "--runtime", "embedded", "--model", "truncated-model", "--port", str(free_port), env=env)
    assert run.returncode in (3, 5), run.stderr
    assert "truncated" in run.stderr.lower()
    assert "Traceback" not in run.stderr
    assert not state(_guard_home).get("current")
    assert not (_guard_home / "state" / "embedded").exists(), "no server was started on a corrupt file"
    assert _port_free(free_port)


def test_unhealthy_server_rolls_back_to_the_previous_deployment(aistack, free_port, _guard_home, recipes_dir, tmp_path):
    first = _up_ok(aistack, free_port)
    before = state(_guard_home)

    # a well-formed GGUF whose architecture llama-server does not know: it exits at load
    alien = tmp_path / "alien.gguf"
    alien.write_bytes(_alien_gguf())
    (recipes_dir / "alien.toml").write_text(recipe("alien-model", alien.as_uri()))
    env = {"AISTACK_RECIPES_DIR": str(recipes_dir)}
    t0 = time.monotonic()
    run = aistack("up", "--runtime", "embedded", "--model", "alien-model", "--port", str(free_port), env=env)
    took = time.monotonic() - t0
    assert run.returncode == 7, run.stdout + run.stderr
    assert "did not become healthy" in run.stderr
    assert "Rolled back" in run.stderr
    assert "nosucharch" in run.stderr, "the message shows the server log's last lines"
    print(f"\nfailed up + rollback took {took:.1f}s")

    after = state(_guard_home)
    assert after["current"]["deployment_id"] == first["deployment_id"]
    assert after["current"]["plan_fingerprint"] == before["current"]["plan_fingerprint"]
    assert after["previous"] == before["previous"]
    status = aistack("status", "--json").json["result"]
    assert status["health"] == "ok" and status["model_id"] == SMOLLM2
    # the old deployment really answers
    from openai import OpenAI

    reply = OpenAI(base_url=first["endpoint"], api_key="x").chat.completions.create(
        model=SMOLLM2, messages=[{"role": "user", "content": "Hi"}], max_tokens=4
    )
    assert reply.choices


def test_unhealthy_first_deployment_leaves_nothing(aistack, free_port, _guard_home, recipes_dir, tmp_path):
    alien = tmp_path / "alien.gguf"
    alien.write_bytes(_alien_gguf())
    (recipes_dir / "alien.toml").write_text(recipe("alien-model", alien.as_uri()))
    run = aistack(
        "up", "--runtime", "embedded", "--model", "alien-model", "--port", str(free_port),
        env={"AISTACK_RECIPES_DIR": str(recipes_dir)},
    )
    assert run.returncode == 7
    assert "nothing is deployed" in run.stderr.lower()
    assert not state(_guard_home).get("current")
    assert _port_free(free_port)


def test_concurrent_up_waits_or_refuses_naming_the_holder(aistack, free_port, _guard_home):
    from aistack import state as state_file

    # another process (this test) holds the lock: a short --wait refuses with exit 8
    with state_file.locked():
        run = aistack("up", "--runtime", "embedded", "--model", SMOLLM2, "--port", str(free_port), "--wait", "0.5")
    assert run.returncode == 8, run.stderr
    assert f"pid {os.getpid()}" in run.stderr
    assert not state(_guard_home).get("current")

    # ...and a longer --wait waits for it, then deploys
    release = threading.Event()

    def hold():
        with state_file.locked():
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    time.sleep(0.2)
    timer = threading.Timer(1.0, release.set)
    timer.start()
    t0 = time.monotonic()
    run = aistack("up", "--runtime", "embedded", "--model", SMOLLM2, "--port", str(free_port), "--wait", "20")
    t.join()
    assert run.returncode == 0, run.stderr
    assert time.monotonic() - t0 >= 0.8
    assert state(_guard_home)["current"]["plan"]["model_id"] == SMOLLM2


def test_two_up_processes_at_once_do_not_interleave(aistack, free_port, _guard_home):
    args = ("up", "--runtime", "embedded", "--model", SMOLLM2, "--port", str(free_port), "--json", "--wait", "0")
    a, b = aistack.popen(*args), aistack.popen(*args)
    ra, rb = a.wait(120), b.wait(120)
    codes = sorted((ra, rb))
    outs = [p.stdout.read() + p.stderr.read() for p in (a, b)]
    # either one refused (exit 8) while the other deployed, or the second ran
    # after the first and found the same plan serving (no second deployment)
    assert codes in ([0, 8], [0, 0]), outs
    st = state(_guard_home)
    assert st["current"] and not st.get("previous"), "only one deployment was made"
    assert len(list((_guard_home / "state" / "embedded").iterdir())) == 1


def test_no_network_falls_back_to_the_offline_model(aistack, free_port, _guard_home, recipes_dir):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # nothing listens here once the socket closes
    # a better model than SmolLM2, only on the hub: the planner's first choice
    (recipes_dir / "hub-only.toml").write_text(
        recipe("hub-only-model", "hf://aistack-test/hub-only@main/hub-only.Q4_1.gguf", quality=90, size_bytes=98362432)
    )
    env = {
        "AISTACK_RECIPES_DIR": str(recipes_dir),
        "HF_ENDPOINT": f"http://127.0.0.1:{closed}",
        "HF_HUB_OFFLINE": "0",
    }
    plan = aistack("plan", "--json", "--port", str(free_port), env=env)
    assert plan.returncode == 0, plan.stderr
    assert plan.json["result"]["model_id"] == "hub-only-model", "the test needs the hub model to be the first choice"
    run = aistack("up", "--runtime", "embedded", "--port", str(free_port), "--json", env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    res = run.json["result"]
    assert res["model_id"] == SMOLLM2
    assert any("hub-only" in note for note in res["fallbacks"])
    assert _health(f"http://127.0.0.1:{free_port}") == 200
    # still offline: the same fallback is already serving, so nothing restarts
    again = aistack("up", "--runtime", "embedded", "--port", str(free_port), "--json", env=env)
    assert again.returncode == 0, again.stderr
    assert again.json["result"]["changed"] is False
    assert again.json["result"]["pid"] == res["pid"]


def test_off_loopback_needs_the_generated_api_key(aistack, free_port, _guard_home):
    import openai

    res = _up_ok(aistack, free_port, "--host", "0.0.0.0")
    key_file = res["api_key_file"]
    assert key_file and os.stat(key_file).st_mode & 0o777 == 0o600
    key = open(key_file).read().strip()
    assert key not in (_guard_home / "state" / "state.json").read_text(), "the key itself is never in the state file"
    good = openai.OpenAI(base_url=res["endpoint"], api_key=key)
    assert good.chat.completions.create(model=SMOLLM2, messages=[{"role": "user", "content": "Hi"}], max_tokens=2).choices
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=res["endpoint"], api_key="wrong").chat.completions.create(
            model=SMOLLM2, messages=[{"role": "user", "content": "Hi"}], max_tokens=2
        )
    # the key is reused by the next deployment, not rotated under the clients' feet
    aistack("down")
    again = _up_ok(aistack, free_port, "--host", "0.0.0.0")
    assert open(again["api_key_file"]).read().strip() == key


def _read_until(stream, pred, timeout: float) -> list[str]:
    """Lines read from ``stream`` (in a thread) until ``pred(line)`` or the timeout."""
    got: list[str] = []
    done = threading.Event()

    def reader():
        for line in stream:
            got.append(line.rstrip("\n"))
            if pred(line):
                done.set()
                return

    threading.Thread(target=reader, daemon=True).start()
    done.wait(timeout)
    return got


def test_logs_follow_shows_new_lines(aistack, free_port):
    from openai import OpenAI

    res = _up_ok(aistack, free_port)
    follower = aistack.popen("logs", "-f", "-n", "0")
    try:
        time.sleep(0.5)
        OpenAI(base_url=res["endpoint"], api_key="x").chat.completions.create(
            model=SMOLLM2, messages=[{"role": "user", "content": "Hi"}], max_tokens=3
        )
        lines = _read_until(follower.stdout, lambda l: "print_timing" in l or "release" in l, timeout=30)
        assert any("print_timing" in l or "release" in l for l in lines), lines
    finally:
        follower.send_signal(signal.SIGINT)
        assert follower.wait(10) == 0


def test_foreground_serves_until_interrupted(aistack, free_port, _guard_home):
    proc = aistack.popen("up", "--runtime", "embedded", "--model", SMOLLM2, "--port", str(free_port),
                         "--foreground")
    try:
        lines = _read_until(proc.stdout, lambda l: "Ctrl-C" in l, timeout=120)
        assert any(f"127.0.0.1:{free_port}/v1" in l for l in lines), lines
        status = aistack("status", "--json").json["result"]
        assert status["health"] == "ok" and status["running"]
        st = state(_guard_home)["current"]
        assert st["handle"]["data"]["pid"] == proc.pid and st["handle"]["data"]["foreground"]
        server_pid = status["pid"]
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(30)
    assert code == 0, proc.stderr.read()
    assert not pids.alive(server_pid)
    assert _port_free(free_port)
    assert state(_guard_home)["current"] is None


def test_down_stops_a_foreground_deployment(aistack, free_port, _guard_home):
    proc = aistack.popen("up", "--runtime", "embedded", "--model", SMOLLM2, "--port", str(free_port),
                         "--foreground")
    try:
        _read_until(proc.stdout, lambda l: "Ctrl-C" in l, timeout=120)
        t0 = time.monotonic()
        down = aistack("down", "--json")
        took = time.monotonic() - t0
        assert down.returncode == 0 and down.json["result"]["stopped"], down.stderr
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert took < 10, "down and the foreground process do not wait on each other's lock"
    assert _port_free(free_port)
    assert state(_guard_home)["current"] is None
