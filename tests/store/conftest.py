from __future__ import annotations

import pytest

from aistack.store.download import RetryPolicy

from .server import FileServer

FAST_RETRY = RetryPolicy(attempts=4, first_delay_s=0.01, max_delay_s=0.05, connect_timeout_s=2, read_timeout_s=5)


@pytest.fixture
def server():
    srv = FileServer().start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(autouse=True)
def _fresh_unreachable_memo():
    from aistack.store import download

    download.forget_unreachable()
    yield
    download.forget_unreachable()


@pytest.fixture(autouse=True)
def _hf_env(tmp_path, monkeypatch):
    """No test may see the developer's Hugging Face cache, token or endpoint."""
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE", "HF_ENDPOINT",
                "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-home" / "hub"))
    # the downloads talk to 127.0.0.1 only; a proxy from the environment must not intercept them
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
