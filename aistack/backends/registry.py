"""Backend registry: name -> factory.

Factories import their module on first use, so listing or resolving names
never pays for a backend's imports. Add a backend by adding one entry.
"""

from __future__ import annotations

from typing import Callable

from aistack.backends.base import Backend
from aistack.errors import UsageError


def _llamacpp() -> Backend:
    from aistack.backends.llamacpp import LlamaCppBackend

    return LlamaCppBackend()


def _ternary() -> Backend:
    from aistack.backends.ternary import TernaryBackend

    return TernaryBackend()


# MLX (Apple Silicon) is a later roadmap item and is deliberately not listed.
BACKENDS: dict[str, Callable[[], Backend]] = {
    "llama.cpp": _llamacpp,
    "ternary": _ternary,
}


def get_backend(name: str) -> Backend:
    """The backend registered under ``name``; unknown names are a UsageError."""
    try:
        factory = BACKENDS[name]
    except KeyError:
        known = ", ".join(sorted(BACKENDS))
        raise UsageError(
            f"Unknown backend '{name}'. Known backends: {known}.",
            hint="Pass one of those with --backend, or leave it out and let the planner choose.",
        ) from None
    return factory()
