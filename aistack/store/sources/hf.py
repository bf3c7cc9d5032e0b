"""Hugging Face Hub: ``hf://owner/repo[@revision]/path/in/repo``.

Honours the hub's own environment, so a model another tool already downloaded
is reused and a private mirror works:

* ``HF_ENDPOINT`` — the hub (or a mirror); files are at
  ``<endpoint>/<owner>/<repo>/resolve/<revision>/<path>``;
* ``HF_TOKEN`` (or the token file ``$HF_TOKEN_PATH`` / ``$HF_HOME/token``) — sent
  as ``Authorization: Bearer`` for gated and private repositories;
* ``HF_HUB_CACHE`` / ``$HF_HOME/hub`` / ``~/.cache/huggingface/hub`` — an existing
  cache, read as ``models--owner--repo/snapshots/<commit>/<path>`` (a branch
  name is resolved through ``refs/<branch>``). aistack reads it, never writes it;
* ``HF_HUB_OFFLINE=1`` — never touch the network.

The sha256 of a file stored in LFS (every model file) is its ``X-Linked-Etag``
(or ``ETag``) header, which a HEAD request without following redirects returns.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from aistack.errors import FetchError
from aistack.plan.model import ArtifactRef
from aistack.store.download import (DEFAULT_RETRY, HttpTarget, RetryPolicy, download, is_dns_failure,
                                     recently_unreachable)
from aistack.store.progress import ProgressFn
from aistack.store.sources import LocalCopy, Retrieved, bad_uri, safe_relpath

DEFAULT_ENDPOINT = "https://huggingface.co"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
EXAMPLE = "hf://owner/repo[@revision]/path/in/repo.gguf"


@dataclass(frozen=True)
class HfFile:
    owner: str
    repo: str
    revision: str
    path: str

    @property
    def repo_id(self) -> str:
        return f"{self.owner}/{self.repo}"


def parse(uri: str) -> HfFile:
    rest = uri[len("hf://"):] if uri.lower().startswith("hf://") else uri
    parts = rest.split("/", 2)
    if len(parts) < 3 or not all(parts):
        raise bad_uri(uri, "it needs an owner, a repository and a file path", EXAMPLE)
    owner, repo, path = parts
    revision = "main"
    if "@" in repo:
        repo, revision = repo.split("@", 1)
        if not repo or not revision:
            raise bad_uri(uri, "empty repository or revision around '@'", EXAMPLE)
    if ".." in path.split("/"):
        raise bad_uri(uri, "'..' is not allowed in the file path", EXAMPLE)
    return HfFile(owner, repo, revision, path)


def endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def hf_home() -> Path:
    env = os.environ.get("HF_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "huggingface"


def hub_cache() -> Path:
    env = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    return Path(env).expanduser() if env else hf_home() / "hub"


def token() -> str | None:
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        value = os.environ.get(var, "").strip()
        if value:
            return value
    path = Path(os.environ["HF_TOKEN_PATH"]).expanduser() if os.environ.get("HF_TOKEN_PATH") else hf_home() / "token"
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return value or None


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _etag(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    value = value.strip('"').lower()
    return value if _SHA256.match(value) else None


class HfSource:
    schemes = ("hf",)

    def store_name(self, uri: str) -> str:
        f = parse(uri)
        return safe_relpath("hf", f.owner, f.repo, f.path)

    def local_copies(self, uri: str) -> list[LocalCopy]:
        f = parse(uri)
        repo_dir = hub_cache() / f"models--{f.owner}--{f.repo}"
        commit = f.revision if _COMMIT.match(f.revision) else None
        if commit is None:
            try:
                commit = (repo_dir / "refs" / f.revision).read_text(encoding="utf-8").strip()
            except OSError:
                return []
        path = repo_dir / "snapshots" / commit / f.path
        if not path.is_file():
            return []
        hint = None
        if path.is_symlink():
            hint = _etag(Path(os.readlink(path)).name)  # blobs are named after their sha256 (LFS)
        return [LocalCopy(path=path, location="hf-cache", sha256_hint=hint)]

    def http_target(self, uri: str, *, metadata: bool = False) -> HttpTarget:
        f = parse(uri)
        if offline():
            raise FetchError(
                f"HF_HUB_OFFLINE is set, so {uri} cannot be downloaded and it is not in the Hugging Face cache "
                f"({hub_cache()}).",
                hint="Unset HF_HUB_OFFLINE, or download the file with another machine and copy it into the cache.",
                details={"reason": "unreachable", "uri": uri},
            )
        url = f"{endpoint()}/{f.owner}/{f.repo}/resolve/{f.revision}/{f.path}"
        headers = {}
        tok = token()
        if tok:
            headers["Authorization"] = f"Bearer {tok}"
        if not metadata:
            return HttpTarget(url=url, headers=headers)
        sha, size = _file_metadata(url, headers)
        return HttpTarget(url=url, headers=headers, sha256=sha, size_bytes=size)

    def retrieve(self, uri: str, ref: ArtifactRef, part: Path, *, progress: ProgressFn | None,
                 retry: RetryPolicy = DEFAULT_RETRY) -> Retrieved:
        target = self.http_target(uri, metadata=True)
        if ref.size_bytes and not target.size_bytes:
            target = HttpTarget(target.url, target.headers, target.sha256, ref.size_bytes)
        got = download(target, part, what=ref.filename or parse(uri).path, progress=progress, retry=retry)
        return Retrieved(sha256=got.sha256, size_bytes=got.size_bytes, expected_sha256=target.sha256)


def _file_metadata(url: str, headers: dict[str, str]) -> tuple[str | None, int | None]:
    """(sha256, size) from a HEAD on the resolve URL; (None, None) when the hub says nothing useful.

    Errors here are not fatal: the GET that follows reports them properly.
    """
    import requests

    if recently_unreachable(url):
        raise FetchError(
            f"Could not reach {url}: the hub did not answer moments ago either. Nothing was installed.",
            hint="Check the network (or HF_ENDPOINT / a proxy setting), then run the command again.",
            details={"reason": "unreachable", "url": url, "tries": 0},
        )
    try:
        resp = requests.head(url, headers={**headers, "Accept-Encoding": "identity"}, allow_redirects=False, timeout=10)
        sha = _etag(resp.headers.get("X-Linked-Etag"))
        size_text = resp.headers.get("X-Linked-Size")
        if resp.is_redirect and sha is None:
            # a renamed repository or a mirror redirecting elsewhere: ask where it points
            resp = requests.head(url, headers={**headers, "Accept-Encoding": "identity"}, allow_redirects=True,
                                 timeout=10)
        if sha is None and resp.status_code < 400:
            sha = _etag(resp.headers.get("X-Linked-Etag")) or _etag(resp.headers.get("ETag"))
        if size_text is None and resp.status_code == 200:
            size_text = resp.headers.get("X-Linked-Size") or resp.headers.get("Content-Length")
    except requests.RequestException as exc:
        if is_dns_failure(exc):  # no name resolution: the GET would only fail the same way
            raise FetchError(
                f"Could not reach {url} ({type(exc).__name__}: {exc}). Nothing was installed.",
                hint="Check the network (or HF_ENDPOINT / a proxy setting), then run the command again.",
                details={"reason": "unreachable", "url": url},
            ) from None
        return None, None
    size = int(size_text) if size_text and size_text.isdigit() else None
    return sha, size


SOURCE = HfSource()
