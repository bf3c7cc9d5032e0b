"""hf:// against a fake hub on 127.0.0.1 (HF_ENDPOINT) and a pre-populated Hugging Face cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aistack import store
from aistack.errors import FetchError, InvalidInputError
from aistack.store.sources import hf

from .conftest import FAST_RETRY
from .helpers import gguf_blob, ref, sha


@pytest.fixture
def hub(server, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    return server


def test_parse():
    f = hf.parse("hf://bartowski/Qwen2.5-7B-Instruct-GGUF@a1b2c3/sub/dir/x.gguf")
    assert (f.owner, f.repo, f.revision, f.path) == ("bartowski", "Qwen2.5-7B-Instruct-GGUF", "a1b2c3", "sub/dir/x.gguf")
    assert hf.parse("hf://o/r/x.gguf").revision == "main"
    for bad in ("hf://o/x.gguf", "hf://o/r@/x.gguf", "hf://o/r/../../etc/passwd"):
        with pytest.raises(InvalidInputError):
            hf.parse(bad)


def test_download_uses_hub_sha256_when_the_recipe_has_none(hub):
    data = gguf_blob(1)
    uri = hub.add_hub_file("acme/tiny-GGUF", "tiny-Q8_0.gguf", data)
    path = store.fetch(ref(uri), retry=FAST_RETRY)
    assert path.read_bytes() == data
    assert path.relative_to(store.index.models_dir()).as_posix() == "hf/acme/tiny-GGUF/tiny-Q8_0.gguf"
    heads = [r for r in hub.log if r.method == "HEAD"]
    assert heads and heads[0].path == "/acme/tiny-GGUF/resolve/main/tiny-Q8_0.gguf"
    [row] = store.list_models()
    assert row.sha256 == sha(data) and row.uri == uri


def test_hub_checksum_mismatch_is_caught(hub):
    data = gguf_blob(1)
    uri = hub.add_hub_file("acme/tiny-GGUF", "t.gguf", data)
    hub.ctl.corrupt = True
    with pytest.raises(FetchError) as exc:
        store.fetch(ref(uri), retry=FAST_RETRY)
    assert exc.value.details["reason"] == "checksum"
    assert exc.value.details["expected_sha256"] == sha(data)


def test_non_lfs_file_has_no_sha256_but_downloads(hub):
    data = gguf_blob(0.2)
    uri = hub.add_hub_file("acme/small", "s.gguf", data, lfs=False)
    path = store.fetch(ref(uri), retry=FAST_RETRY)
    assert path.read_bytes() == data


def test_revision_goes_into_the_url(hub):
    data = gguf_blob(0.2)
    uri = hub.add_hub_file("acme/tiny", "t.gguf", data, rev="v1.0")
    assert uri == "hf://acme/tiny@v1.0/t.gguf"
    store.fetch(ref(uri), retry=FAST_RETRY)
    assert any(r.path == "/acme/tiny/resolve/v1.0/t.gguf" for r in hub.log)


def test_token_from_env_and_from_token_file(hub, monkeypatch, tmp_path):
    data = gguf_blob(0.2)
    uri = hub.add_hub_file("acme/gated", "g.gguf", data)
    hub.ctl.token = "s3cret"
    with pytest.raises(FetchError) as exc:
        store.fetch(ref(uri), retry=FAST_RETRY)
    assert exc.value.details["reason"] == "http" and exc.value.details["status"] == 401
    assert "HF_TOKEN" in exc.value.hint
    Path(os.environ["HF_HOME"]).mkdir(parents=True, exist_ok=True)
    (Path(os.environ["HF_HOME"]) / "token").write_text("s3cret\n")
    assert store.fetch(ref(uri), retry=FAST_RETRY).read_bytes() == data
    resolve = [r for r in hub.log if "/resolve/" in r.path]
    assert resolve[-1].headers["Authorization"] == "Bearer s3cret"
    monkeypatch.setenv("HF_TOKEN", "from-env")
    assert hf.token() == "from-env"


def test_offline_flag_means_no_request(hub, monkeypatch):
    uri = hub.add_hub_file("acme/tiny", "t.gguf", gguf_blob(0.2))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FetchError) as exc:
        store.fetch(ref(uri), retry=FAST_RETRY)
    assert exc.value.details["reason"] == "unreachable"
    assert hub.log == []


def _populate_cache(data: bytes, repo="acme/tiny-GGUF", filename="t.gguf", commit="0123456789abcdef0123456789abcdef01234567",
                    branch="main", blob_name=None) -> Path:
    owner, name = repo.split("/")
    root = Path(os.environ["HF_HUB_CACHE"]) / f"models--{owner}--{name}"
    (root / "blobs").mkdir(parents=True)
    blob = root / "blobs" / (blob_name or sha(data))
    blob.write_bytes(data)
    (root / "refs").mkdir()
    (root / "refs" / branch).write_text(commit)
    snap = root / "snapshots" / commit / filename
    snap.parent.mkdir(parents=True)
    snap.symlink_to(os.path.relpath(blob, snap.parent))
    return snap


def test_hf_cache_is_reused_without_any_request(hub):
    data = gguf_blob(1)
    snap = _populate_cache(data)
    uri = "hf://acme/tiny-GGUF/t.gguf"
    # no checksum in the recipe: the blob's name (its sha256) is verified against its content
    assert store.locate(ref(uri)) == snap
    assert store.fetch(ref(uri), retry=FAST_RETRY) == snap
    assert store.fetch(ref(uri, data), retry=FAST_RETRY) == snap
    assert hub.log == []
    [row] = store.list_models()
    assert row.location == "hf-cache" and row.path == str(snap)
    removed = store.remove_model(row.name)
    assert removed.kept == (str(snap),) and removed.deleted == () and snap.exists()


def test_hf_cache_by_commit_revision(hub):
    data = gguf_blob(0.5)
    commit = "fedcba9876543210fedcba9876543210fedcba98"
    snap = _populate_cache(data, commit=commit, branch="other")
    assert store.locate(ref(f"hf://acme/tiny-GGUF@{commit}/t.gguf")) == snap
    assert store.locate(ref("hf://acme/tiny-GGUF/t.gguf")) is None  # refs/main does not exist
    assert hub.log == []


def test_corrupt_hf_cache_copy_is_not_used(hub):
    data = gguf_blob(0.5)
    _populate_cache(data[:-1000], blob_name=sha(data))  # truncated blob under the right name
    uri = hub.add_hub_file("acme/tiny-GGUF", "t.gguf", data)
    assert store.locate(ref(uri)) is None
    path = store.fetch(ref(uri), retry=FAST_RETRY)
    assert path.read_bytes() == data and "hf-cache" not in str(path)


def test_remote_header_through_the_hub_redirect(hub):
    from aistack import gguf

    data = gguf_blob(1)
    uri = hub.add_hub_file("acme/tiny-GGUF", "t.gguf", data)
    h = store.remote_header(ref(uri), retry=FAST_RETRY)
    assert h == gguf.parse_header(data)
    cdn = [r for r in hub.log if r.path.startswith("/cdn/")]
    assert cdn and all(r.status == 206 for r in cdn)
