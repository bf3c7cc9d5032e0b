"""Downloads over real HTTP from a local server: resume, checksum, retries, disk, errors."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest

from aistack import store
from aistack.errors import FetchError
from aistack.paths import dirs
from aistack.store.download import NET_CHUNK, RetryPolicy

from .conftest import FAST_RETRY
from .helpers import gguf_blob, ref, sha


def _range_start(req) -> int:
    assert req.headers["Range"].startswith("bytes=") and req.headers["Range"].endswith("-")
    return int(req.headers["Range"][6:-1])


def _gets(server, prefix="/"):
    return [r for r in server.requests_to(prefix) if r.method == "GET"]


def test_full_download_verifies_and_indexes(server):
    data = gguf_blob(3)
    r = ref(server.add("/models/tiny.gguf", data), data)
    events = []
    path = store.fetch(r, progress=events.append, retry=FAST_RETRY)
    assert path.read_bytes() == data
    assert path == dirs().models / "web" / f"127.0.0.1_{server.server_address[1]}" / "models" / "tiny.gguf"
    assert not path.with_name("tiny.gguf.part").exists()
    assert not path.with_name("tiny.gguf.part.json").exists()
    assert events[-1].phase == "done" and events[-1].done_bytes == len(data)
    assert any(e.phase == "download" and e.total_bytes == len(data) for e in events)
    [row] = store.list_models()
    assert row.location == "store" and row.sha256 == sha(data) and row.size_bytes == len(data)
    assert row.uri == r.uri and row.present
    # present now: no network on the second call
    n = len(server.log)
    assert store.locate(r) == path
    assert store.fetch(r, retry=FAST_RETRY) == path
    assert len(server.log) == n


def test_store_copy_without_recipe_checksum_is_checked_against_the_index(server):
    data = gguf_blob(1)
    r = ref(server.add("/a/x.gguf", data), data, with_sha=False, with_size=False)
    path = store.fetch(r, retry=FAST_RETRY)
    assert store.locate(r) == path
    # a file changed behind our back is not returned
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF
    path.write_bytes(bytes(raw))
    assert store.locate(r) is None


def test_resume_after_a_cut_within_one_fetch(server):
    data = gguf_blob(3)
    r = ref(server.add("/m.gguf", data), data)
    server.ctl.cut_after = 1_000_000
    path = store.fetch(r, retry=FAST_RETRY)
    assert path.read_bytes() == data
    first, second = _gets(server)
    assert "Range" not in first.headers and first.sent == 1_000_000
    start = _range_start(second)
    assert 1_000_000 - NET_CHUNK <= start <= 1_000_000  # what arrived before the cut is kept
    assert second.headers["If-Range"] == server.routes["/m.gguf"].etag
    assert second.status == 206 and second.sent == len(data) - start


def test_resume_after_an_interrupted_fetch(server):
    data = gguf_blob(3)
    r = ref(server.add("/m.gguf", data), data)
    server.ctl.cut_after = 1_200_000
    with pytest.raises(FetchError) as exc:
        store.fetch(r, retry=RetryPolicy(attempts=1))
    assert exc.value.details["reason"] == "unreachable"
    [partial] = store.list_models()
    assert partial.location == "partial" and partial.uri == r.uri
    assert 1_200_000 - NET_CHUNK <= partial.size_bytes <= 1_200_000
    assert store.locate(r) is None
    path = store.fetch(r, retry=FAST_RETRY)
    assert path.read_bytes() == data
    last = _gets(server)[-1]
    assert _range_start(last) == partial.size_bytes and last.sent == len(data) - partial.size_bytes
    assert [m.location for m in store.list_models()] == ["store"]


def test_resume_restarts_when_the_file_changed_on_the_server(server):
    old = gguf_blob(2, "old")
    new = gguf_blob(2, "new-version")
    url = server.add("/m.gguf", old)
    server.ctl.cut_after = 500_000
    with pytest.raises(FetchError):
        store.fetch(ref(url, old), retry=RetryPolicy(attempts=1))
    server.add("/m.gguf", new)  # new content, new ETag: If-Range fails, the server sends it whole
    path = store.fetch(ref(url, new), retry=FAST_RETRY)
    assert path.read_bytes() == new
    last = _gets(server)[-1]
    assert last.headers.get("If-Range") and last.status == 200 and last.sent == len(new)


def test_checksum_mismatch_deletes_the_partial_file(server):
    data = gguf_blob(1)
    r = ref(server.add("/m.gguf", data), data)
    server.ctl.corrupt = True
    with pytest.raises(FetchError) as exc:
        store.fetch(r, retry=FAST_RETRY)
    err = exc.value
    assert err.details["reason"] == "checksum"
    assert "Checksum mismatch" in err.message and "partial file was deleted" in err.message
    assert err.details["expected_sha256"] == sha(data) and err.details["got_sha256"] != sha(data)
    target = store.store_path(r)
    assert not target.exists()
    assert list(target.parent.glob("*.part*")) == []
    assert store.list_models() == ()


def test_size_mismatch_without_checksum(server):
    data = gguf_blob(1)
    r = ref(server.add("/m.gguf", data), data, with_sha=False)
    r = type(r)(kind=r.kind, uri=r.uri, filename=r.filename, size_bytes=len(data) + 10)
    with pytest.raises(FetchError) as exc:
        store.fetch(r, retry=FAST_RETRY)
    assert exc.value.details["reason"] in ("checksum", "unreachable")


def test_not_a_gguf_is_refused_and_deleted(server):
    page = b"<html>login required</html>" * 100
    r = ref(server.add("/m.gguf", page), page, with_sha=False)
    with pytest.raises(FetchError) as exc:
        store.fetch(r, retry=FAST_RETRY)
    assert exc.value.details["reason"] == "invalid" and "not a GGUF" in exc.value.message
    assert not store.store_path(r).exists()
    assert list(store.store_path(r).parent.iterdir()) == []


def test_retry_after_5xx(server):
    data = gguf_blob(1)
    r = ref(server.add("/m.gguf", data), data)
    server.ctl.fail_times = 2
    path = store.fetch(r, retry=FAST_RETRY)
    assert path.read_bytes() == data
    assert [g.status for g in _gets(server)] == [500, 500, 200]


def test_5xx_forever_gives_up_with_reason_http(server):
    data = gguf_blob(1)
    r = ref(server.add("/m.gguf", data), data)
    server.ctl.fail_times = 100
    server.ctl.fail_status = 503
    with pytest.raises(FetchError) as exc:
        store.fetch(r, retry=FAST_RETRY)
    assert exc.value.details["reason"] == "http" and exc.value.details["tries"] == FAST_RETRY.attempts
    assert len(_gets(server)) == FAST_RETRY.attempts


def test_404_is_not_retried(server):
    r = ref(server.url + "/missing.gguf")
    with pytest.raises(FetchError) as exc:
        store.fetch(r, retry=FAST_RETRY)
    assert exc.value.details == {"reason": "http", "status": 404, "url": r.uri}
    assert len(_gets(server)) == 1


def test_connection_refused_is_unreachable(free_port):
    r = ref(f"http://127.0.0.1:{free_port}/m.gguf")
    with pytest.raises(FetchError) as exc:
        store.fetch(r, retry=FAST_RETRY)
    assert exc.value.details["reason"] == "unreachable"
    # a host that never answered gets fewer tries than one that answered and then failed
    assert exc.value.details["tries"] == FAST_RETRY.connect_attempts < FAST_RETRY.attempts
    assert "Could not reach" in exc.value.message
    # the same dead host is not waited for again within the process (up trying recipe after recipe)
    slow = RetryPolicy(attempts=5, first_delay_s=5)
    other = ref(f"http://127.0.0.1:{free_port}/other.gguf")
    with pytest.raises(FetchError) as exc:
        store.fetch(other, retry=slow)
    assert exc.value.details["reason"] == "unreachable" and exc.value.details["tries"] == 0
    with pytest.raises(FetchError) as exc:
        store.remote_header(other, retry=slow)
    assert exc.value.details["tries"] == 0


def test_a_host_that_answers_again_is_used_again(server, monkeypatch):
    from aistack.store import download

    data = gguf_blob(0.2)
    url = server.add("/m.gguf", data)
    download.mark_unreachable(url)
    with pytest.raises(FetchError):
        store.fetch(ref(url, data), retry=FAST_RETRY)
    monkeypatch.setattr(download, "UNREACHABLE_MEMO_S", 0.0)
    assert store.fetch(ref(url, data), retry=FAST_RETRY).read_bytes() == data
    assert not download.recently_unreachable(url)


def test_unknown_host_is_unreachable_without_retries():
    r = ref("http://no-such-host.invalid/m.gguf")
    with pytest.raises(FetchError) as exc:
        store.fetch(r, retry=RetryPolicy(attempts=5, first_delay_s=5))  # a retry would take 5 s
    assert exc.value.details["reason"] == "unreachable" and exc.value.details["tries"] == 1


def test_concurrent_fetches_download_once(server):
    data = gguf_blob(3)
    r = ref(server.add("/m.gguf", data), data)
    results, errors = [], []

    def go():
        try:
            results.append(store.fetch(r, retry=FAST_RETRY))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(results)) == 1 and results[0].read_bytes() == data
    assert len(_gets(server)) == 1


# --- disk space: a real 1 MiB tmpfs ------------------------------------------------


@pytest.fixture
def small_disk(tmp_path, monkeypatch):
    mnt = tmp_path / "small"
    mnt.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.strip()}")
    monkeypatch.setenv("AISTACK_MODELS_DIR", str(mnt))
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_out_of_disk_known_size_fails_before_any_request(server, small_disk):
    data = gguf_blob(2)
    r = ref(server.add("/m.gguf", data), data)
    with pytest.raises(FetchError) as exc:
        store.fetch(r, retry=FAST_RETRY)
    err = exc.value
    assert err.details["reason"] == "disk"
    assert err.details["needed_bytes"] > err.details["free_bytes"]
    assert str(err.details["needed_bytes"]) in err.message and str(err.details["free_bytes"]) in err.message
    assert _gets(server) == []


def test_out_of_disk_size_from_content_length(server, small_disk):
    data = gguf_blob(2)
    r = ref(server.add("/m.gguf", data), data, with_size=False)
    with pytest.raises(FetchError) as exc:
        store.fetch(r, retry=FAST_RETRY)
    assert exc.value.details["reason"] == "disk"
    assert len(_gets(server)) == 1
    part = store.store_path(r).with_name("m.gguf.part")
    assert not part.exists() or part.stat().st_size == 0


def test_disk_fills_up_mid_download(server, small_disk):
    data = gguf_blob(2)
    r = ref(server.add("/m.gguf", data), data, with_size=False)
    server.ctl.no_length = True  # the size is unknown until the end
    with pytest.raises(FetchError) as exc:
        store.fetch(r, retry=FAST_RETRY)
    assert exc.value.details["reason"] == "disk" and "resume" in exc.value.message
    assert store.locate(r) is None and not store.store_path(r).exists()


def test_small_file_fits_on_the_small_disk(server, small_disk):
    data = gguf_blob(0.5)
    r = ref(server.add("/m.gguf", data), data)
    path = store.fetch(r, retry=FAST_RETRY)
    assert Path(small_disk) in path.parents and path.read_bytes() == data


def test_files_the_index_does_not_know_are_listed_and_removable(server):
    data = gguf_blob(0.2)
    r = ref(server.add("/m.gguf", data), data)
    path = store.fetch(r, retry=FAST_RETRY)
    (dirs().models / "index.json").write_text("{not json")
    [row] = store.list_models()
    assert row.path == str(path) and row.location == "store" and row.uri == ""
    removed = store.remove_model("m.gguf")
    assert removed.deleted == (str(path),) and not path.exists()
    assert store.list_models() == ()


def test_model_in_use_is_not_removed_without_force(server):
    from aistack import state
    from aistack.errors import UsageError

    data = gguf_blob(0.2)
    path = store.fetch(ref(server.add("/m.gguf", data), data), retry=FAST_RETRY)
    state.write({**state.read(), "current": {"artifacts": {"model": str(path), "draft": None}}})
    with pytest.raises(UsageError, match="current deployment"):
        store.remove_model("m.gguf")
    assert path.exists()
    store.remove_model("m.gguf", force=True)
    assert not path.exists()
