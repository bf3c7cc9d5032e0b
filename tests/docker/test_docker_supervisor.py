"""The Docker supervisor against a real engine, through the real CLI.

Each test runs ``aistack up --runtime docker`` with the SmolLM2 model and the
locally built llama-server image, then checks what the engine really did.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from docker_helpers import SERVER_IMAGE, BASE_IMAGE, SMOLLM2, Poller

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]


def _state(home: Path) -> dict:
    return json.loads((home / "state" / "state.json").read_text())


def _current(home: Path) -> dict:
    cur = _state(home)["current"]
    assert cur, "nothing recorded as deployed"
    return cur


def _server(client, home: Path):
    data = _current(home)["handle"]["data"]
    return client.containers.get(data["container_id"])


def _chat(port: int, api_key: str = "none") -> str:
    import openai

    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=api_key, timeout=60, max_retries=0)
    out = client.chat.completions.create(
        model=SMOLLM2, messages=[{"role": "user", "content": "Say hello."}], max_tokens=8, temperature=0
    )
    return out.choices[0].message.content or ""


def _wait_served(port: int, timeout_s: float = 120.0, api_key: str = "none") -> float:
    """Seconds until a real chat completion comes back on the port."""
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < timeout_s:
        try:
            _chat(port, api_key)
            return time.monotonic() - t0
        except Exception as exc:  # not up yet: connection refused/reset, 503 loading
            last = exc
            time.sleep(0.2)
    raise AssertionError(f"port {port} did not serve a completion within {timeout_s}s (last: {last!r})")


def _up(cli, port: int, *extra: str, env: dict | None = None):
    return cli("up", "--runtime", "docker", "--model", SMOLLM2, "--port", str(port), *extra, env=env)


def test_up_serves_a_chat_completion_from_a_hardened_container(aistack_docker, docker_engine, free_port, _guard_home):
    r = _up(aistack_docker, free_port)
    assert r.returncode == 0, r.stderr
    assert _chat(free_port).strip()

    ctr = _server(docker_engine, _guard_home)
    a = ctr.attrs
    hc = a["HostConfig"]
    assert a["Config"]["User"] == "65534:65534"
    assert hc["CapDrop"] == ["ALL"]
    assert any(o.startswith("no-new-privileges") for o in hc["SecurityOpt"])
    assert hc["ReadonlyRootfs"] is True
    assert "/tmp" in hc["Tmpfs"]
    assert hc["PidsLimit"] and hc["PidsLimit"] > 0
    limit = _current(_guard_home)["spec"]["memory_limit_bytes"]
    assert limit and hc["Memory"] == limit  # the plan's ceiling, enforced by the engine
    assert hc["RestartPolicy"]["Name"] in ("unless-stopped", "on-failure")
    model_mounts = [m for m in a["Mounts"] if m["Source"].endswith(".gguf")]
    assert model_mounts and all(m["RW"] is False for m in model_mounts)
    assert a["Config"]["Healthcheck"]["Test"][0] == "CMD"
    labels = a["Config"]["Labels"]
    assert labels["io.aistack.managed"] == "true"
    assert labels["io.aistack.deployment"] == _current(_guard_home)["deployment_id"]
    assert labels["io.aistack.plan"] == _current(_guard_home)["spec"]["plan_fingerprint"]

    # The port is published by the pod the server joined, on loopback only.
    pod = docker_engine.containers.get(hc["NetworkMode"].split(":", 1)[1])
    bindings = pod.attrs["HostConfig"]["PortBindings"][f"{free_port}/tcp"]
    assert [b["HostIp"] for b in bindings] == ["127.0.0.1"]
    assert pod.attrs["Config"]["User"] == "65534:65534"
    assert pod.attrs["HostConfig"]["CapDrop"] == ["ALL"]

    # The container's own healthcheck (bash /dev/tcp, no curl in this image) turns healthy.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ctr.reload()
        if ctr.attrs["State"].get("Health", {}).get("Status") == "healthy":
            break
        time.sleep(1)
    assert ctr.attrs["State"]["Health"]["Status"] == "healthy", ctr.attrs["State"].get("Health")

    st = aistack_docker("status", "--json")
    assert st.returncode == 0, st.stderr
    logs = aistack_docker("logs", "-n", "20")
    assert logs.returncode == 0 and logs.stdout.strip()

    down = aistack_docker("down")
    assert down.returncode == 0, down.stderr
    left = docker_engine.containers.list(all=True, filters={"label": "io.aistack.managed=true"})
    assert not [c.name for c in left if c.id in (ctr.id, pod.id)]


def test_killed_server_is_restarted_by_the_engine(aistack_docker, docker_engine, free_port, _guard_home):
    assert _up(aistack_docker, free_port).returncode == 0
    ctr = _server(docker_engine, _guard_home)
    pid = ctr.attrs["State"]["Pid"]
    os.kill(pid, signal.SIGKILL)  # the server process itself, as a crash would
    time.sleep(0.5)
    _wait_served(free_port)
    ctr.reload()
    assert ctr.attrs["RestartCount"] >= 1
    assert ctr.attrs["State"]["Pid"] != pid


@pytest.mark.skipif(os.environ.get("AISTACK_TEST_NO_DOCKERD_RESTART") == "1", reason="dockerd restart disabled")
def test_deployment_survives_a_dockerd_restart(aistack_docker, docker_engine, free_port, _guard_home):
    assert _up(aistack_docker, free_port).returncode == 0
    old_pid = _server(docker_engine, _guard_home).attrs["State"]["Pid"]
    script = str(REPO / "scripts" / "start-dockerd.sh")
    stop = subprocess.run([script, "--stop"], capture_output=True, text=True, timeout=60)
    assert stop.returncode == 0, stop.stderr
    start = subprocess.run([script], capture_output=True, text=True, timeout=120)
    assert start.returncode == 0, start.stderr
    _wait_served(free_port)
    import docker

    client = docker.from_env(timeout=60)
    ctr = _server(client, _guard_home)
    assert ctr.status == "running"
    assert ctr.attrs["State"]["Pid"] != old_pid  # a new process: the engine brought it back


def test_changed_plan_swaps_containers_without_a_window_where_nobody_listens(
    aistack_docker, docker_engine, free_port, _guard_home
):
    assert _up(aistack_docker, free_port).returncode == 0
    old = _current(_guard_home)
    old_id = old["handle"]["data"]["container_id"]
    pod_id = old["handle"]["data"]["pod_id"]
    with Poller(f"http://127.0.0.1:{free_port}/health", interval_s=0.015) as poller:
        time.sleep(0.3)
        r = _up(aistack_docker, free_port, "--ctx", "1024")
        time.sleep(0.3)
    assert r.returncode == 0, r.stderr
    new = _current(_guard_home)
    assert new["deployment_id"] != old["deployment_id"]
    assert "-c 1024" in " ".join(new["spec"]["args"]) or "1024" in new["spec"]["args"]
    import docker

    with pytest.raises(docker.errors.NotFound):
        docker_engine.containers.get(old_id)
    ctr = docker_engine.containers.get(new["handle"]["data"]["container_id"])
    assert ctr.status == "running"
    assert new["handle"]["data"]["pod_id"] == pod_id  # same published port holder throughout
    res = poller.result
    print(
        f"\nswap: {res.total} polls, {len(res.failures)} failed "
        f"({sorted(set(res.failures))}), longest gap {res.longest_gap_ms:.0f} ms"
    )
    assert res.total > 20
    # The port always had a listener: never refused (a stop-then-start shows
    # refusals or resets for the whole start-up of the new server).
    assert "refused" not in res.failures
    assert not [f for f in res.failures if "Reset" in f or "RemoteDisconnected" in f]
    assert _chat(free_port).strip()


def test_new_container_that_cannot_start_leaves_the_old_one_serving(
    aistack_docker, docker_engine, free_port, _guard_home
):
    assert _up(aistack_docker, free_port).returncode == 0
    old = _current(_guard_home)
    # An image without the server binary: the engine cannot even start it.
    r = _up(aistack_docker, free_port, "--ctx", "1024", env={"AISTACK_IMAGE_CPU": BASE_IMAGE})
    assert r.returncode == 7, (r.stdout, r.stderr)
    assert "kept serving" in r.stderr or "left as it was" in r.stderr, r.stderr
    assert _current(_guard_home)["deployment_id"] == old["deployment_id"]
    assert docker_engine.containers.get(old["handle"]["data"]["container_id"]).status == "running"
    assert _chat(free_port).strip()
    names = [c.name for c in docker_engine.containers.list(all=True, filters={"label": "io.aistack.managed=true"})]
    assert not [n for n in names if n.endswith("-verify")]


def test_new_server_that_exits_leaves_the_old_one_serving(aistack_docker, docker_engine, free_port, _guard_home):
    import io

    # An image whose "server" exits at once with an error, like a bad flag would.
    dockerfile = f"FROM {BASE_IMAGE}\nRUN mkdir -p /app && printf '#!/bin/sh\\necho bad flag >&2\\nexit 1\\n' > /app/llama-server && chmod +x /app/llama-server\n"
    docker_engine.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag="aistack-test/exits:latest", rm=True)
    assert _up(aistack_docker, free_port).returncode == 0
    old = _current(_guard_home)
    r = _up(aistack_docker, free_port, "--ctx", "1024", env={"AISTACK_IMAGE_CPU": "aistack-test/exits:latest"})
    assert r.returncode == 7, (r.stdout, r.stderr)
    assert "bad flag" in r.stderr  # the failed server's own log is shown
    assert _current(_guard_home)["deployment_id"] == old["deployment_id"]
    assert _chat(free_port).strip()
    left = [c.name for c in docker_engine.containers.list(all=True, filters={"label": "io.aistack.managed=true"})]
    assert old["handle"]["data"]["container_name"] in left
    assert not [n for n in left if n.endswith("-verify")]


def test_api_key_never_appears_in_docker_inspect_when_bound_beyond_loopback(
    aistack_docker, docker_engine, free_port, _guard_home
):
    r = _up(aistack_docker, free_port, "--host", "0.0.0.0")
    assert r.returncode == 0, r.stderr
    cur = _current(_guard_home)
    key = Path(cur["api_key_file"]).read_text().strip()
    assert len(key) > 16
    ctr = _server(docker_engine, _guard_home)
    pod = docker_engine.containers.get(cur["handle"]["data"]["pod_id"])
    for obj in (ctr, pod):
        assert key not in json.dumps(obj.attrs)
    bindings = pod.attrs["HostConfig"]["PortBindings"][f"{free_port}/tcp"]
    assert [b["HostIp"] for b in bindings] == ["0.0.0.0"]
    # The key file inside is the per-deployment copy, readable only by the container user.
    key_mount = [m for m in ctr.attrs["Mounts"] if m["Source"].endswith("api-key")]
    assert key_mount and key_mount[0]["RW"] is False
    st = os.stat(key_mount[0]["Source"])
    assert (st.st_uid, st.st_mode & 0o777) == (65534, 0o400)
    import openai

    with pytest.raises(openai.AuthenticationError):
        _chat(free_port, api_key="wrong")
    assert _chat(free_port, api_key=key).strip()


def test_foreign_container_with_our_name_is_refused_and_left_alone(
    aistack_docker, docker_engine, free_port, _guard_home
):
    foreign = docker_engine.containers.run(
        BASE_IMAGE, ["sleep", "300"], name=f"aistack-pod-{free_port}", detach=True
    )
    try:
        r = _up(aistack_docker, free_port)
        assert r.returncode == 7, (r.stdout, r.stderr)
        assert "not created by aistack" in r.stderr
        foreign.reload()
        assert foreign.status == "running"
        assert not docker_engine.containers.list(
            all=True, filters={"label": ["io.aistack.managed=true", f"io.aistack.port={free_port}"]}
        )
    finally:
        foreign.remove(force=True)


def test_docker_runtime_needs_no_llama_server_on_the_host(aistack_docker, docker_engine, free_port, _guard_home):
    # The image carries the server: with no host binary configured and none on
    # PATH, 'up --runtime docker' must not try to find or build one.
    env = {"AISTACK_LLAMA_SERVER": "", "PATH": "/usr/bin:/bin"}
    r = _up(aistack_docker, free_port, env=env)
    assert r.returncode == 0, r.stderr
    cur = _current(_guard_home)
    assert cur["installed"]["source"] == "image"
    assert cur["installed"]["image"] == SERVER_IMAGE
    assert _chat(free_port).strip()


def test_auto_runtime_gives_way_to_embedded_when_the_image_cannot_be_pulled(
    aistack_docker, docker_engine, free_port, _guard_home
):
    # No --runtime: the planner picks docker (the engine answers), but the
    # image is neither local nor pullable here; 'up' must still serve, under
    # the embedded supervisor, and say why.
    missing = "aistack-test/no-such-image:never-built"
    r = aistack_docker(
        "up", "--model", SMOLLM2, "--port", str(free_port), "--json", env={"AISTACK_IMAGE_CPU": missing}
    )
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)["result"]
    assert result["supervisor"] == "embedded"
    assert any("docker runtime" in f and missing in f for f in result["fallbacks"]), result["fallbacks"]
    assert _chat(free_port).strip()
    # An explicit --runtime docker is never silently replaced.
    r2 = aistack_docker(
        "up", "--runtime", "docker", "--model", SMOLLM2, "--port", str(free_port), "--ctx", "1024",
        env={"AISTACK_IMAGE_CPU": missing},
    )
    assert r2.returncode != 0
    assert missing in r2.stderr
    assert _current(_guard_home)["handle"]["supervisor"] == "embedded"
    assert _chat(free_port).strip()
