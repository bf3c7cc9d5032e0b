"""Which supervisors exist, imported only when asked for.

``SUPERVISORS`` maps a runtime name (``--runtime``, ``Plan.supervisor``) to
``"module:Class"``; ``get_supervisor`` imports the module on demand so that
the Docker SDK is never imported by a run that uses the embedded supervisor.
"""

from __future__ import annotations

import importlib

from aistack.errors import UsageError
from aistack.supervisors.base import Supervisor

SUPERVISORS: dict[str, str] = {
    "embedded": "aistack.supervisors.embedded:EmbeddedSupervisor",
    "docker": "aistack.supervisors.docker:DockerSupervisor",
    "systemd": "aistack.supervisors.systemd:SystemdSupervisor",
}


def names() -> list[str]:
    return sorted(SUPERVISORS)


def get_supervisor(name: str) -> Supervisor:
    """An instance of the supervisor called ``name`` ("embedded", "docker", "systemd")."""
    target = SUPERVISORS.get(name)
    if target is None:
        raise UsageError(
            f"Unknown runtime '{name}'.",
            hint=f"Choose one of: {', '.join(names())} (for example: aistack up --runtime embedded).",
        )
    module_name, _, cls_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise UsageError(
            f"The '{name}' runtime is not available in this version of aistack.",
            hint="Use --runtime embedded.",
        ) from None
    return getattr(module, cls_name)()
