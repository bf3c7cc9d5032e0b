"""remote_header: the GGUF header over HTTP Range, read from the real SmolLM2 file served locally."""

from __future__ import annotations

import pytest

from aistack import gguf, store
from aistack.errors import FetchError

from .conftest import FAST_RETRY
from .helpers import gguf_blob, ref


def test_real_smollm2_header_over_range(server, smollm2_gguf):
    uri = server.add("/smol/SmolLM2.gguf", smollm2_gguf)
    h = store.remote_header(ref(uri), retry=FAST_RETRY)
    assert h == gguf.read_header(smollm2_gguf)
    gets = [r for r in server.log if r.method == "GET"]
    assert all(r.headers.get("Range", "").startswith("bytes=") and r.status == 206 for r in gets)
    sent = sum(r.sent for r in gets)
    assert h.data_offset <= sent < 8 << 20 < smollm2_gguf.stat().st_size
    assert len(gets) >= 1
    # nothing was stored
    assert store.list_models() == ()


def test_header_grows_from_a_small_first_range(server, monkeypatch, smollm2_gguf):
    monkeypatch.setattr(store, "FIRST_RANGE", 64 << 10)
    uri = server.add("/smol.gguf", smollm2_gguf)
    h = store.remote_header(ref(uri), retry=FAST_RETRY)
    assert len(h.tensors) == 272
    gets = [r for r in server.log if r.method == "GET"]
    assert len(gets) > 1
    # each range continues where the previous one stopped: no byte is read twice
    starts = [int(r.headers["Range"][6:].split("-")[0]) for r in gets]
    assert starts == sorted(starts) and starts[0] == 0
    assert sum(r.sent for r in gets) < 4 << 20


def test_server_ignoring_range_still_works(server):
    data = gguf_blob(2)
    server.ctl.ignore_range = True
    h = store.remote_header(ref(server.add("/m.gguf", data)), retry=FAST_RETRY)
    assert h == gguf.parse_header(data)


def test_local_copy_is_read_without_network(server, smollm2_gguf):
    r = ref(smollm2_gguf.as_uri())
    assert store.remote_header(r) == gguf.read_header(smollm2_gguf)
    assert server.log == []


def test_not_a_gguf_and_truncated(server):
    with pytest.raises(gguf.GgufError, match="not a GGUF"):
        store.remote_header(ref(server.add("/page.gguf", b"<html>" * 100)), retry=FAST_RETRY)
    data = gguf_blob(0.1)
    cut = data[: gguf.parse_header(data).data_offset - 100]
    with pytest.raises(gguf.GgufError, match="truncated header"):
        store.remote_header(ref(server.add("/cut.gguf", cut)), retry=FAST_RETRY)


def test_unreachable_and_unsupported(free_port):
    with pytest.raises(FetchError) as exc:
        store.remote_header(ref(f"http://127.0.0.1:{free_port}/x.gguf"), retry=FAST_RETRY)
    assert exc.value.details["reason"] == "unreachable"
    with pytest.raises(FetchError) as exc:
        store.remote_header(ref("pypi://no-such-dist-aistack==1.0/x.gguf"))
    assert exc.value.details["reason"] == "unsupported"
