"""Fast tests of the deploy pipeline's pieces, with real sockets and processes.

The verify loop is exercised against a small real HTTP server process run by
the real embedded supervisor (the end-to-end tests use the real llama-server).
"""

from __future__ import annotations

import socket
import stat
import sys
import time

import pytest

from aistack import deploy
from aistack.service import ServiceSpec
from aistack.supervisors.embedded import EmbeddedSupervisor

# A stand-in server: /health answers 503 for LOAD seconds, then 200;
# /v1/chat/completions answers like an OpenAI server; EXIT=1 exits at once.
SERVER = r"""
import json, os, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer
if os.environ.get("EXIT"):
    print("failing on purpose: unknown model architecture", flush=True)
    sys.exit(3)
t0 = time.monotonic()
LOAD = float(os.environ.get("LOAD", "0"))
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data))); self.end_headers(); self.wfile.write(data)
    def do_GET(self):
        if self.path == "/health":
            ready = time.monotonic() - t0 >= LOAD
            self._send(200 if ready else 503, {"status": "ok" if ready else "loading"})
        else:
            self._send(404, {})
    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0)); self.rfile.read(n)
        key = os.environ.get("KEY")
        if key and self.headers.get("Authorization") != "Bearer " + key:
            return self._send(401, {"error": "bad key"})
        self._send(200, {"choices": [{"message": {"role": "assistant", "content": "OK"}}]})
HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def _spec(port: int, **env: str) -> ServiceSpec:
    return ServiceSpec(
        name="t",
        executable=sys.executable,
        args=("-c", SERVER, str(port)),
        host="127.0.0.1",
        port=port,
        env=tuple(env.items()),
    )


def test_port_in_use_detects_a_listener(free_port):
    assert not deploy.port_in_use("127.0.0.1", free_port)
    with socket.socket() as s:
        s.bind(("127.0.0.1", free_port))
        s.listen(1)
        assert deploy.port_in_use("127.0.0.1", free_port)
        assert deploy.port_in_use("0.0.0.0", free_port)


def test_api_key_file_is_private_and_reused():
    path = deploy.ensure_api_key()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_text().strip()
    assert key.startswith("sk-aistack-") and len(key) > 40
    assert deploy.ensure_api_key() == path
    assert path.read_text().strip() == key
    path.unlink()
    assert deploy.ensure_api_key().read_text().strip() != key


def test_health_timeout_scales_with_model_size(monkeypatch):
    monkeypatch.delenv("AISTACK_HEALTH_TIMEOUT", raising=False)
    small, big = deploy.health_timeout_s(100_000_000), deploy.health_timeout_s(40_000_000_000)
    assert small < 60 < 300 < big
    monkeypatch.setenv("AISTACK_HEALTH_TIMEOUT", "7")
    assert deploy.health_timeout_s(40_000_000_000) == 7.0


def test_parse_metrics_reads_llama_server_gauges():
    text = (
        "# HELP llamacpp:prompt_tokens_seconds Average prompt throughput in tokens/s.\n"
        "# TYPE llamacpp:prompt_tokens_seconds gauge\n"
        "llamacpp:prompt_tokens_seconds 512.25\n"
        "llamacpp:predicted_tokens_seconds 88.5\n"
        "llamacpp:requests_processing 1\n"
    )
    m = deploy.parse_metrics(text)
    assert m["llamacpp:predicted_tokens_seconds"] == 88.5
    assert m["llamacpp:prompt_tokens_seconds"] == 512.25
    assert m["llamacpp:requests_processing"] == 1


def test_curl_line_reads_the_key_from_its_file_not_inline():
    spec = _spec(8080)
    assert "Authorization" not in deploy.curl_line(spec, None)
    line = deploy.curl_line(spec, "/s/api_key")
    assert "$(cat /s/api_key)" in line and "http://127.0.0.1:8080/v1/chat/completions" in line


def test_verify_waits_through_loading_then_checks_a_completion(free_port):
    sup = EmbeddedSupervisor()
    spec = _spec(free_port, LOAD="0.4")
    handle = sup.start(spec, "d-verify-ok")
    try:
        messages: list[str] = []
        t0 = time.monotonic()
        assert deploy.verify(spec, sup, handle, timeout_s=20, progress=messages.append) is None
        assert time.monotonic() - t0 >= 0.3
        assert "loading the model..." in messages
        assert deploy.health(spec) == "ok"
    finally:
        sup.stop(handle)
    assert deploy.health(spec) == "unreachable"


def test_verify_sends_the_api_key(free_port, tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("sk-test-123\n")
    sup = EmbeddedSupervisor()
    spec = _spec(free_port, KEY="sk-test-123")
    handle = sup.start(spec, "d-verify-key")
    try:
        assert deploy.verify(spec, sup, handle, timeout_s=20) == "chat completion returned HTTP 401"
        keyed = ServiceSpec(**{**spec.__dict__, "api_key_file": str(key_file)})
        assert deploy.verify(keyed, sup, handle, timeout_s=20) is None
    finally:
        sup.stop(handle)


@pytest.mark.integration  # ~2 s: three real crashes with backoff
def test_verify_gives_up_early_on_a_crash_loop(free_port):
    sup = EmbeddedSupervisor()
    spec = _spec(free_port, EXIT="1")
    handle = sup.start(spec, "d-verify-crash")
    try:
        t0 = time.monotonic()
        why = deploy.verify(spec, sup, handle, timeout_s=60)
        took = time.monotonic() - t0
    finally:
        sup.stop(handle)
    assert why is not None and "exited" in why
    assert took < 10, "a crash loop is noticed long before the health timeout"
    assert any("unknown model architecture" in line for line in sup.logs(handle, 50, False))


def test_verify_times_out_when_health_never_comes(free_port):
    sup = EmbeddedSupervisor()
    spec = _spec(free_port, LOAD="999")
    handle = sup.start(spec, "d-verify-slow")
    try:
        why = deploy.verify(spec, sup, handle, timeout_s=0.3)
    finally:
        sup.stop(handle)
    assert why is not None and "within" in why and "loading" in why


def test_status_logs_and_down_without_a_deployment():
    from aistack.errors import NotDeployedError

    with pytest.raises(NotDeployedError):
        deploy.status()
    with pytest.raises(NotDeployedError):
        deploy.logs(5)
    res = deploy.down()
    assert res.stopped is False and res.deployment_id is None
