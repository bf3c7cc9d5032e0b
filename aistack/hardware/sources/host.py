"""Host capabilities: Docker engine, init system, root, free disk for models.

* Docker: the engine named by ``DOCKER_HOST``, else the first socket that
  exists of ``/var/run/docker.sock``, ``$XDG_RUNTIME_DIR/docker.sock``
  (rootless) and ``~/.docker/run/docker.sock`` (Docker Desktop). No socket
  means "not installed" and costs nothing. A local socket is asked
  ``GET /info`` directly over HTTP (the docker SDK costs ~150 ms to import,
  most of the probe's time budget); a remote ``DOCKER_HOST`` (tcp://, ssh://)
  goes through the docker SDK. ``/info`` gives the server version, the
  configured runtimes (``nvidia`` = the NVIDIA container runtime) and rootless
  mode. Every call has a short timeout.
* systemd: PID 1 is ``systemd`` and ``/run/systemd/system`` exists (what
  ``sd_booted()`` checks); the user manager is reachable when its private
  socket ``$XDG_RUNTIME_DIR/systemd/private`` accepts a connection.
* launchd: always PID 1 on macOS.
* Free disk at the models directory, measured at its nearest existing parent
  (the directory need not exist yet).
"""

from __future__ import annotations

import shutil
import socket
from pathlib import Path
from typing import Any

from aistack.hardware.profile import DockerInfo, HostInfo, InitInfo
from aistack.hardware.sources.base import Facts, ProbeContext

_CONNECT_TIMEOUT_S = 0.5


def _connect(path: Path) -> OSError | None:
    """Try a unix socket; ``None`` when it accepts, else the error."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(_CONNECT_TIMEOUT_S)
    try:
        s.connect(str(path))
        return None
    except OSError as exc:
        return exc
    finally:
        s.close()


def _runtime_dir(ctx: ProbeContext) -> str | None:
    return ctx.env.get("XDG_RUNTIME_DIR") or (f"/run/user/{ctx.euid}" if ctx.euid is not None else None)


def _docker_socket_candidates(ctx: ProbeContext) -> list[str]:
    out = ["/var/run/docker.sock"]
    runtime = _runtime_dir(ctx)
    if runtime:
        out.append(f"{runtime}/docker.sock")
    home = ctx.env.get("HOME")
    if home:
        out.append(f"{home}/.docker/run/docker.sock")
    return out


def unix_http_get_json(sock_path: str, url_path: str, timeout: float) -> Any:
    """GET ``url_path`` from an HTTP server on a unix socket (HTTP/1.0: the
    server closes the connection after the body) and parse the JSON body."""
    import json

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(sock_path)
        s.sendall(f"GET {url_path} HTTP/1.0\r\nHost: docker\r\nAccept: application/json\r\n\r\n".encode())
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                break
            chunks.append(data)
    finally:
        s.close()
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode(errors="replace")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or parts[1] != "200":
        raise OSError(f"{url_path} answered '{status_line}'")
    return json.loads(body)


def default_docker_info(base_url: str, timeout: float) -> dict:
    """``GET /info`` of the engine. A local socket is asked directly (the
    docker SDK costs ~150 ms to import, most of the probe's budget); remote
    engines (tcp://, ssh://, TLS settings) go through the docker SDK."""
    if base_url.startswith("unix://"):
        return unix_http_get_json(base_url[len("unix://"):], "/info", timeout)
    import docker  # heavy: only for remote engines

    client = docker.DockerClient(base_url=base_url, timeout=int(max(1, timeout)))
    try:
        return client.info()
    finally:
        client.close()


def read_docker(ctx: ProbeContext, facts: Facts) -> DockerInfo:
    host = ctx.env.get("DOCKER_HOST")
    if host and not host.startswith("unix://"):
        base_url = host  # tcp:// or ssh://: nothing to pre-check locally
    else:
        paths = [host[len("unix://"):]] if host else _docker_socket_candidates(ctx)
        sock = next((ctx.path(p) for p in paths if ctx.path(p).exists()), None)
        if sock is None:
            return DockerInfo(reachable=False)
        err = _connect(sock)
        if isinstance(err, PermissionError):
            facts.warn(f"Docker socket {sock}: permission denied; add this user to the 'docker' group "
                       "(then log in again) to let aistack use Docker")
            return DockerInfo(reachable=False)
        if err is not None:
            facts.warn(f"Docker socket {sock} exists but no engine answers ({err.strerror or err}); "
                       "start it with: systemctl start docker")
            return DockerInfo(reachable=False)
        base_url = f"unix://{sock}"
    get_info = ctx.docker_info or default_docker_info
    try:
        info = get_info(base_url, ctx.docker_timeout_s)
    except ImportError:
        facts.warn("the docker Python package is not installed: the remote Docker engine was not probed")
        return DockerInfo(reachable=False)
    except Exception as exc:  # docker.errors.*, OSError, bad JSON: all mean "not usable"
        facts.warn(f"Docker engine at {base_url} did not answer: {exc}")
        return DockerInfo(reachable=False)
    if not isinstance(info, dict):
        facts.warn(f"Docker engine at {base_url} answered /info with no JSON object")
        return DockerInfo(reachable=False)
    runtimes = tuple(sorted((info.get("Runtimes") or {}).keys()))
    security = " ".join(info.get("SecurityOptions") or [])
    return DockerInfo(
        reachable=True,
        server_version=info.get("ServerVersion"),
        runtimes=runtimes,
        nvidia_runtime="nvidia" in runtimes,
        rootless="rootless" in security,
    )


def read_init(ctx: ProbeContext) -> InitInfo:
    if ctx.system == "Darwin":
        return InitInfo(launchd=True)
    system = ctx.exists("/run/systemd/system") and ctx.read_opt("/proc/1/comm") == "systemd"
    user = False
    runtime = _runtime_dir(ctx)
    if system and runtime:
        private = ctx.path(f"{runtime}/systemd/private")
        user = private.exists() and _connect(private) is None
    return InitInfo(systemd_system=system, systemd_user=user)


def nearest_existing(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


class HostSource:
    name = "host"

    def read(self, ctx: ProbeContext) -> Facts:
        facts = Facts()
        docker = read_docker(ctx, facts)
        init = read_init(ctx)
        free = None
        models = str(ctx.models_dir) if ctx.models_dir is not None else None
        if ctx.models_dir is not None:
            try:
                free = shutil.disk_usage(nearest_existing(Path(ctx.models_dir))).free
            except OSError as exc:
                facts.warn(f"could not measure free disk at {ctx.models_dir}: {exc.strerror or exc}")
        facts.host = HostInfo(
            docker=docker, init=init, is_root=ctx.euid == 0, models_dir=models, disk_free_bytes=free,
        )
        return facts


SOURCE = HostSource()
