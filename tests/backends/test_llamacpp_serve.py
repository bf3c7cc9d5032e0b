"""The real llama-server accepts the argv render produces, and serves with it."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from aistack.backends.base import InstalledBackend, RenderInputs
from aistack.backends.llamacpp import LlamaCppBackend

from backend_plans import cpu_plan, with_params

pytestmark = pytest.mark.integration


def _get(url: str, headers: dict | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def _chat(base: str, model: str, headers: dict | None = None) -> tuple[int, dict]:
    body = json.dumps(
        {"model": model, "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 8, "temperature": 0}
    ).encode()
    req = urllib.request.Request(
        base + "/v1/chat/completions", data=body, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, {}


class Server:
    def __init__(self, argv: tuple[str, ...], log: Path):
        self.log = log
        self.fh = open(log, "wb")
        self.proc = subprocess.Popen(list(argv), stdout=self.fh, stderr=subprocess.STDOUT)

    def wait_healthy(self, url: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"llama-server exited {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if _get(url)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        pytest.fail(f"llama-server not healthy after {timeout}s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.fh.close()


def _serve(spec, tmp_path):
    srv = Server(spec.argv, tmp_path / "server.log")
    try:
        srv.wait_healthy(spec.health_url)
    except BaseException:
        srv.stop()
        raise
    return srv


def test_rendered_argv_serves_smollm2(tmp_path, llama_server_bin, smollm2_gguf, free_port):
    plan = with_params(cpu_plan(port=free_port), ctx_tokens=1024, parallel_slots=2, threads=2, threads_batch=2)
    installed = InstalledBackend("llama.cpp", "cpu", str(llama_server_bin), None, "user")
    spec = LlamaCppBackend().render(plan, installed, RenderInputs(model_path=str(smollm2_gguf)))
    srv = _serve(spec, tmp_path)
    try:
        status, models = _get(spec.base_url + "/v1/models")
        assert status == 200
        assert any(m.get("id") == "smollm2-135m-instruct" for m in json.loads(models)["data"])
        status, resp = _chat(spec.base_url, plan.model_id)
        assert status == 200
        assert resp["choices"][0]["message"]["content"]
        assert resp["model"] == "smollm2-135m-instruct"
        status, props = _get(spec.base_url + "/props")
        assert status == 200
        n_ctx = json.loads(props)["default_generation_settings"]["n_ctx"]
        assert n_ctx == 1024  # per slot: -c was rendered as 1024 x 2 slots
        assert _get(spec.base_url + "/metrics")[0] == 200
    finally:
        srv.stop()


def test_rendered_argv_with_every_optional_flag(tmp_path, llama_server_bin, smollm2_gguf, free_port):
    """Flash attention, quantised KV, mlock, a draft model and an API key file:
    each is a flag the server must accept (a rejected flag exits at start)."""
    key = tmp_path / "api-key"
    key.write_text("sk-test-0123456789\n")
    key.chmod(0o600)
    plan = with_params(
        cpu_plan(port=free_port, api_key_required=True),
        ctx_tokens=1024,
        flash_attn=True,
        cache_type_k="q8_0",
        cache_type_v="q8_0",
        mlock=True,
        draft_model_id="smollm2-135m-instruct",
        draft_max_tokens=4,
    )
    installed = InstalledBackend("llama.cpp", "cpu", str(llama_server_bin), None, "user")
    inputs = RenderInputs(model_path=str(smollm2_gguf), draft_model_path=str(smollm2_gguf), api_key_file=str(key))
    spec = LlamaCppBackend().render(plan, installed, inputs)
    assert "sk-test" not in " ".join(spec.argv)
    srv = _serve(spec, tmp_path)
    try:
        assert _chat(spec.base_url, plan.model_id)[0] == 401  # the key file is in force
        status, resp = _chat(spec.base_url, plan.model_id, {"Authorization": "Bearer sk-test-0123456789"})
        assert status == 200 and resp["choices"][0]["message"]["content"]
    finally:
        srv.stop()
    log = (tmp_path / "server.log").read_text()
    assert "loading draft model" in log  # the draft model was loaded
