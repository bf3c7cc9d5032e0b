"""The backend seam.

A backend knows how to get its server onto the machine (``install``), how to
turn a Plan plus the fetched artifacts into a ``ServiceSpec`` (``render``) and
what "healthy" means for it. It never knows which supervisor runs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

from aistack.hardware.profile import HardwareProfile
from aistack.plan.model import Plan
from aistack.service import ServiceSpec

Progress = Callable[[str], None]


@dataclass(frozen=True)
class InstalledBackend:
    """A server binary (or environment) ready to run, and how it was obtained."""

    backend: str
    build: str
    executable: str
    version: str | None
    source: str  # "user", "path", "release", "source-build", "venv", "image"
    image: str | None = None  # container image serving the same build, if any


@dataclass(frozen=True)
class RenderInputs:
    """Everything ``render`` needs besides the plan; all paths are on the host."""

    model_path: str
    draft_model_path: str | None = None
    api_key_file: str | None = None
    log_dir: str | None = None


class Backend(Protocol):
    name: str

    def install(self, plan: Plan, profile: HardwareProfile, progress: Progress) -> InstalledBackend: ...

    def install_image(self, plan: Plan) -> InstalledBackend:
        """The container-image form of this backend (no binary on the host)."""
        ...

    def render(self, plan: Plan, installed: InstalledBackend, inputs: RenderInputs) -> ServiceSpec: ...
