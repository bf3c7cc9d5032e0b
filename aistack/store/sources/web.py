"""Plain HTTP(S) URLs: ``https://host/path/file.gguf``, or ``http://`` for a LAN mirror.

No metadata is asked of the server: the checksum comes from the recipe (the
``ArtifactRef``) when it has one.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from aistack.plan.model import ArtifactRef
from aistack.store.download import DEFAULT_RETRY, HttpTarget, RetryPolicy, download
from aistack.store.progress import ProgressFn
from aistack.store.sources import LocalCopy, Retrieved, bad_uri, safe_relpath

EXAMPLE = "https://host/path/file.gguf"


class WebSource:
    schemes = ("https", "http")

    def _split(self, uri: str):
        parts = urlsplit(uri)
        if not parts.hostname or not parts.path.strip("/"):
            raise bad_uri(uri, "it needs a host and a file path", EXAMPLE)
        return parts

    def store_name(self, uri: str) -> str:
        parts = self._split(uri)
        host = parts.hostname + (f"_{parts.port}" if parts.port else "")
        return safe_relpath("web", host, unquote(parts.path))

    def local_copies(self, uri: str) -> list[LocalCopy]:
        self._split(uri)
        return []

    def http_target(self, uri: str, *, metadata: bool = False) -> HttpTarget:
        self._split(uri)
        return HttpTarget(url=uri)

    def retrieve(self, uri: str, ref: ArtifactRef, part: Path, *, progress: ProgressFn | None,
                 retry: RetryPolicy = DEFAULT_RETRY) -> Retrieved:
        target = HttpTarget(url=uri, size_bytes=ref.size_bytes)
        name = ref.filename or Path(urlsplit(uri).path).name
        got = download(target, part, what=name, progress=progress, retry=retry)
        return Retrieved(sha256=got.sha256, size_bytes=got.size_bytes, expected_sha256=None)


SOURCE = WebSource()
