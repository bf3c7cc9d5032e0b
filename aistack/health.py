"""Does a service answer? Health polling and the real-completion check.

``wait_healthy`` polls ``/health`` (llama-server answers 503 while loading,
200 when ready) and asks the supervisor whether the service stopped or keeps
crashing; ``chat_check`` asks for a few tokens through the OpenAI route;
``verify`` is both. Used by ``aistack.deploy`` and by supervisors that must
prove a new service before they swap it in. Standard library only.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from aistack.service import ServiceSpec
from aistack.supervisors.base import Handle, Supervisor

Progress = Callable[[str], None]

HEALTH_POLL_S = 0.02
# Time allowed to become healthy: a base plus the model read at a slow disk's
# pace (a cold 40 GB file at 100 MB/s takes ~7 minutes).
HEALTH_BASE_S = 30.0
HEALTH_BYTES_PER_S = 100e6
# A server that crashed this many times without ever answering is given up on.
CRASHES_BEFORE_GIVING_UP = 3


def _quiet(_msg: str) -> None:
    pass


def health_timeout_s(model_bytes: int | None) -> float:
    """Seconds a server loading ``model_bytes`` may take to answer (``AISTACK_HEALTH_TIMEOUT`` overrides)."""
    import os

    env = os.environ.get("AISTACK_HEALTH_TIMEOUT")
    if env:
        return float(env)
    return HEALTH_BASE_S + (model_bytes or 0) / HEALTH_BYTES_PER_S


def read_key(path: str | None) -> str | None:
    if not path:
        return None
    try:
        return Path(path).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def http_get(url: str, *, timeout: float = 2.0, api_key: str | None = None) -> tuple[int, bytes]:
    """``(status, body)``; status 0 when nothing answered."""
    req = urllib.request.Request(url)
    if api_key:
        req.add_header("Authorization", f"Bearer {api_key}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read() if exc.fp else b""
    except (urllib.error.URLError, OSError, ValueError):
        return 0, b""


def health(spec: ServiceSpec, timeout: float = 2.0) -> str:
    code, _ = http_get(spec.health_url, timeout=timeout)
    if code == 200:
        return "ok"
    if code == 503:
        return "loading"
    if code == 0:
        return "unreachable"
    return f"error {code}"


def chat_check(spec: ServiceSpec, api_key: str | None, timeout: float = 60.0, *, base_url: str | None = None) -> str | None:
    """Ask for a few tokens through the OpenAI route; None when it worked, else why not.

    ``base_url`` targets another address than the spec's own (a container
    proven on a temporary port before it is swapped in)."""
    body = json.dumps(
        {
            "model": spec.model_id or "default",
            "messages": [{"role": "user", "content": "Hi"}],
            "max_tokens": 2,
            "temperature": 0,
        }
    ).encode()
    req = urllib.request.Request((base_url or spec.base_url) + "/v1/chat/completions", data=body, method="POST")
    req.add_header("Content-Type", "application/json")
    if api_key:
        req.add_header("Authorization", f"Bearer {api_key}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            data = json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return f"chat completion returned HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"chat completion failed: {exc}"
    if not data.get("choices"):
        return "chat completion returned no choices"
    return None


def wait_healthy(
    spec: ServiceSpec,
    sup: Supervisor,
    handle: Handle,
    timeout_s: float,
    progress: Progress = _quiet,
) -> str | None:
    """Poll ``/health`` until 200. None when healthy, else the reason it never was.

    Gives up early when the supervisor reports that it stopped, or that the
    server keeps crashing before it ever answered.
    """
    deadline = time.monotonic() + timeout_s
    next_state_check = 0.0
    announced = False
    base_restarts: int | None = None
    while True:
        status = health(spec, timeout=min(2.0, max(0.1, deadline - time.monotonic())))
        if status == "ok":
            return None
        now = time.monotonic()
        if now >= deadline:
            return f"no healthy answer from {spec.health_url} within {timeout_s:.0f}s (last: {status})"
        if status == "loading" and not announced:
            progress("loading the model...")
            announced = True
        if now >= next_state_check:
            next_state_check = now + 0.25
            st = sup.state(handle)
            if base_restarts is None:
                base_restarts = st.restarts
            crashes = st.restarts - base_restarts
            if st.detail == "supervisor is not running" or st.detail in ("exited", "dead", "stopped", "failed"):
                return f"the service stopped ({st.detail})"
            if crashes >= CRASHES_BEFORE_GIVING_UP:
                return f"the server exited {crashes} times before it ever answered"
        time.sleep(HEALTH_POLL_S)


def verify(spec: ServiceSpec, sup: Supervisor, handle: Handle, timeout_s: float, progress: Progress = _quiet) -> str | None:
    """Healthy and a real chat completion comes back; None when so, else why not."""
    why = wait_healthy(spec, sup, handle, timeout_s, progress)
    if why is None:
        why = chat_check(spec, read_key(spec.api_key_file), timeout=max(30.0, timeout_s / 4))
    return why


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text -> {name: value} for llama-server's ``llamacpp:*`` gauges."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) >= 2:
            try:
                out[parts[0]] = float(parts[1])
            except ValueError:
                continue
    return out
