"""Shared pieces of the ``bench/up_*.py`` scripts (not a test; prints figures).

Each script runs the real CLI (``python -m aistack``) against the real
llama-server and the real SmolLM2 model, in a throw-away AISTACK_HOME.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

MODEL = "smollm2-135m-instruct"
LLAMA_SERVER = os.environ.get(
    "AISTACK_LLAMA_SERVER", str(Path.home() / ".cache" / "aistack-test" / "bin" / "llama-server")
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Bench:
    def __init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="aistack-bench-"))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AISTACK_")}
        self.env.update(AISTACK_HOME=str(self.home), AISTACK_LLAMA_SERVER=LLAMA_SERVER)
        # An installed aistack has its bytecode compiled (pip does it); this
        # checkout may run with PYTHONDONTWRITEBYTECODE, which would make every
        # run recompile ~50 modules. Cache bytecode in the bench's own folder
        # (--no-bytecode measures the uncached case).
        if "--no-bytecode" not in sys.argv:
            self.env.pop("PYTHONDONTWRITEBYTECODE", None)
            self.env["PYTHONPYCACHEPREFIX"] = str(self.home / "pycache")
        self.port = free_port()

    def cli(self, *args: str, check: bool = True) -> tuple[float, dict | str]:
        t0 = time.perf_counter()
        cp = subprocess.run([sys.executable, "-m", "aistack", *args], env=self.env, capture_output=True, text=True)
        took = time.perf_counter() - t0
        if check and cp.returncode != 0:
            raise SystemExit(f"aistack {' '.join(args)} failed ({cp.returncode}):\n{cp.stdout}\n{cp.stderr}")
        try:
            return took, json.loads(cp.stdout)["result"]
        except (ValueError, KeyError):
            return took, cp.stdout

    def up(self) -> tuple[float, dict]:
        return self.cli("up", "--runtime", "embedded", "--model", MODEL, "--port", str(self.port), "--json")  # type: ignore[return-value]

    def down(self) -> None:
        self.cli("down", "--wait", "30", check=False)

    def state(self) -> dict:
        return json.loads((self.home / "state" / "state.json").read_text())

    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.down()
        import shutil

        shutil.rmtree(self.home, ignore_errors=True)


def healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "/health", timeout=1) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def wait_healthy(base: str, timeout: float = 60.0, poll: float = 0.005) -> float:
    t0 = time.perf_counter()
    while not healthy(base):
        if time.perf_counter() - t0 > timeout:
            raise SystemExit(f"{base} did not become healthy within {timeout}s")
        time.sleep(poll)
    return time.perf_counter() - t0


def summary(name: str, xs: list[float]) -> str:
    return (
        f"{name}: median {statistics.median(xs):.3f}s  min {min(xs):.3f}s  max {max(xs):.3f}s  (n={len(xs)})"
    )
