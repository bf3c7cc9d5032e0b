"""The supervisor seam.

A supervisor runs a ``ServiceSpec`` and keeps it running; it never knows which
backend produced it. ``start`` returns a ``Handle``: the JSON-able facts needed
to find the service again from another process (pid, container id, unit
name), which the deployer stores in the state file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Protocol

from aistack.service import ServiceSpec


@dataclass(frozen=True)
class Handle:
    supervisor: str
    deployment_id: str
    data: dict = field(default_factory=dict)  # supervisor-specific: pid, container id, unit


@dataclass(frozen=True)
class ServiceState:
    running: bool
    pid: int | None = None
    started_at: float | None = None  # epoch seconds of the current server process
    restarts: int = 0
    detail: str = ""


class Supervisor(Protocol):
    name: str
    # True when the service runs from a container image rather than a binary
    # on this host (then the backend provides an image, not an executable).
    runs_in_container: bool

    def preflight(self, spec: ServiceSpec) -> None:
        """Raise if ``start`` would fail for a reason knowable up front (a
        missing image that cannot be pulled, an executable that is not there).
        Called before the previous deployment is touched."""
        ...

    def available(self) -> tuple[bool, str]:
        """Whether this supervisor can be used here, and if not, why (one line)."""
        ...

    def start(self, spec: ServiceSpec, deployment_id: str) -> Handle:
        """Start the service (do not wait for health); return how to find it."""
        ...

    def stop(self, handle: Handle) -> None:
        """Stop and remove everything ``start`` created. Idempotent."""
        ...

    def state(self, handle: Handle) -> ServiceState: ...

    def logs(self, handle: Handle, lines: int, follow: bool) -> Iterator[str]: ...

    def can_overlap(self, old: Handle, new_spec: ServiceSpec) -> bool:
        """Whether the new service can start while the old one still runs."""
        ...
