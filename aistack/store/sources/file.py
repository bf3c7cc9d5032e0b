"""Local files: ``file:///srv/models/x.gguf``. Used where they are, never copied."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from aistack.errors import FetchError
from aistack.plan.model import ArtifactRef
from aistack.store.download import RetryPolicy
from aistack.store.progress import ProgressFn
from aistack.store.sources import LocalCopy, Retrieved, bad_uri

EXAMPLE = "file:///absolute/path/file.gguf"


def path_of(uri: str) -> Path:
    parts = urlsplit(uri)
    if parts.netloc not in ("", "localhost"):
        raise bad_uri(uri, f"host '{parts.netloc}' in a file URI (only local paths are supported)", EXAMPLE)
    if not parts.path:
        raise bad_uri(uri, "no path", EXAMPLE)
    return Path(unquote(parts.path)).expanduser()


class FileSource:
    schemes = ("file",)

    def store_name(self, uri: str) -> None:
        path_of(uri)
        return None

    def local_copies(self, uri: str) -> list[LocalCopy]:
        path = path_of(uri)
        return [LocalCopy(path=path, location="file", trusted=True)] if path.is_file() else []

    def http_target(self, uri: str, *, metadata: bool = False) -> None:
        return None

    def retrieve(self, uri: str, ref: ArtifactRef, part: Path, *, progress: ProgressFn | None,
                 retry: RetryPolicy) -> Retrieved:
        path = path_of(uri)
        raise FetchError(
            f"{path} does not exist (or is not a regular file), and a file:// source cannot be downloaded.",
            hint="Check the path, or use an hf:// or https:// source.",
            details={"reason": "missing", "path": str(path)},
        )


SOURCE = FileSource()
