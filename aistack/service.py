"""``ServiceSpec``: where a backend and a supervisor meet.

A backend renders a plan into a ServiceSpec; a supervisor runs a ServiceSpec.
Neither knows the other. Paths in ``args`` are host paths; supervisors that run
the service elsewhere (a container) mount every ``Mount`` at the same path, so
``args`` stay valid there too. Secrets never appear in ``args`` or ``env``:
the API key is a file (``api_key_file``) passed with ``--api-key-file``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from aistack import values


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool = True


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # service/container/unit base name, e.g. "aistack"
    executable: str  # host path of the server binary (embedded, systemd)
    args: tuple[str, ...]  # arguments after the executable
    host: str
    port: int
    health_path: str = "/health"
    env: tuple[tuple[str, str], ...] = ()
    mounts: tuple[Mount, ...] = ()
    devices: tuple[str, ...] = ()  # /dev nodes the service needs (GPUs)
    gpu_vendor: str | None = None  # "nvidia", "amd", "intel" when devices are GPUs
    visible_devices: tuple[int, ...] = ()
    image: str | None = None  # container image for this backend build
    image_entrypoint: tuple[str, ...] = ()  # how to start the server inside that image
    api_key_file: str | None = None
    memory_limit_bytes: int | None = None
    backend: str = "llama.cpp"
    model_id: str = ""
    plan_fingerprint: str = ""
    workdir: str | None = None

    @property
    def argv(self) -> tuple[str, ...]:
        return (self.executable, *self.args)

    @property
    def base_url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def health_url(self) -> str:
        return self.base_url + self.health_path

    def to_dict(self) -> dict:
        return values.to_dict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ServiceSpec":
        return values.from_dict(cls, data)

    def fingerprint(self) -> str:
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]
