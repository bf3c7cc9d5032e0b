from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from aistack.hardware.sources import host

from .conftest import FIXTURES, UnixHttpServer, linux_ctx


def _docker_root(short_tmp: Path, info: str) -> tuple[Path, UnixHttpServer]:
    (short_tmp / "var/run").mkdir(parents=True)
    body = (FIXTURES / "docker" / info).read_bytes()
    return short_tmp, UnixHttpServer(short_tmp / "var/run/docker.sock", body)


def test_engine_with_nvidia_runtime_over_a_real_socket(short_tmp):
    root, server = _docker_root(short_tmp, "info_nvidia.json")
    try:
        facts = host.SOURCE.read(linux_ctx(root))
    finally:
        server.close()
    d = facts.host.docker
    assert d.reachable and d.server_version == "27.3.1"
    assert d.runtimes == ("io.containerd.runc.v2", "nvidia", "runc")
    assert d.nvidia_runtime is True and d.rootless is False
    assert facts.warnings == []
    assert server.requests[-1].startswith(b"GET /info HTTP/1.0\r\n")


def test_rootless_engine_via_docker_host(short_tmp):
    (short_tmp / "u").mkdir()
    server = UnixHttpServer(short_tmp / "u" / "docker.sock", (FIXTURES / "docker" / "info_rootless.json").read_bytes())
    try:
        ctx = linux_ctx(Path("/"), env={"DOCKER_HOST": f"unix://{short_tmp}/u/docker.sock"})
        d = host.read_docker(ctx, host.Facts())
    finally:
        server.close()
    assert d.reachable and d.rootless and not d.nvidia_runtime and d.server_version == "26.1.4"


def test_no_socket_means_not_installed_without_a_warning(tmp_path):
    facts = host.SOURCE.read(linux_ctx(tmp_path))
    assert facts.host.docker.reachable is False
    assert facts.warnings == []


def test_socket_nobody_listens_on_is_a_warning(short_tmp):
    (short_tmp / "var/run").mkdir(parents=True)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(short_tmp / "var/run/docker.sock"))  # bound, never listening: connection refused
    try:
        facts = host.SOURCE.read(linux_ctx(short_tmp))
    finally:
        s.close()
    assert facts.host.docker.reachable is False
    assert "no engine answers" in facts.warnings[0].message


def test_engine_answering_an_error_is_a_warning(short_tmp):
    (short_tmp / "var/run").mkdir(parents=True)
    server = UnixHttpServer(short_tmp / "var/run/docker.sock", b'{"message": "boom"}', status="500 Internal Server Error")
    try:
        facts = host.SOURCE.read(linux_ctx(short_tmp))
    finally:
        server.close()
    assert facts.host.docker.reachable is False
    assert "500" in facts.warnings[0].message


def test_systemd_and_user_manager(short_tmp):
    root = short_tmp
    (root / "run/systemd/system").mkdir(parents=True)
    (root / "proc/1").mkdir(parents=True)
    (root / "proc/1/comm").write_text("systemd\n")
    ctx = linux_ctx(root, env={"XDG_RUNTIME_DIR": "/run/user/1000"})
    assert host.read_init(ctx).systemd_system is True
    assert host.read_init(ctx).systemd_user is False  # no user manager socket
    (root / "run/user/1000/systemd").mkdir(parents=True)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(root / "run/user/1000/systemd/private"))
    s.listen(1)
    try:
        assert host.read_init(ctx).systemd_user is True
    finally:
        s.close()
    (root / "proc/1/comm").write_text("bash\n")  # /run/systemd/system left over, PID 1 is not systemd
    assert host.read_init(ctx).systemd_system is False


def test_disk_free_at_nearest_existing_parent(tmp_path):
    models = tmp_path / "not" / "yet" / "models"
    facts = host.SOURCE.read(linux_ctx(tmp_path, models_dir=models, euid=0))
    assert facts.host.models_dir == str(models)
    assert facts.host.disk_free_bytes == pytest.approx(os.statvfs(tmp_path).f_bavail * os.statvfs(tmp_path).f_frsize,
                                                       rel=0.01)
    assert facts.host.is_root is True


def test_real_docker_engine_matches_the_docker_sdk():
    """Whatever this machine has: the probe agrees with the docker SDK's own view."""
    import docker

    facts = host.SOURCE.read(host.ProbeContext(models_dir=None))
    try:
        client = docker.from_env(timeout=3)
        info = client.info()
        client.close()
    except Exception:
        info = None
    if info is None:
        assert facts.host.docker.reachable is False
    else:
        assert facts.host.docker.reachable is True
        assert facts.host.docker.server_version == info["ServerVersion"]
        assert facts.host.docker.runtimes == tuple(sorted(info["Runtimes"]))
