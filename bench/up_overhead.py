"""``aistack up`` wall time minus the bare llama-server's own time-to-healthy.

Target: < 0.5 s of overhead. Both are measured on the same model with the very
same server argv (read from the deployment ``up`` made), polling /health every
5 ms. ``up`` also includes interpreter start-up, probe, plan, locate, the
supervisor spawn and the verifying chat completion.

    python bench/up_overhead.py [--runs N]

On a shared, busy machine the two medians drift apart with the load; the
per-run figure (wall minus the server's load time measured inside the same
run) is the steadier one.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time

from up_common import Bench, summary, wait_healthy


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-bytecode", action="store_true", help="run without cached bytecode")
    args = ap.parse_args()
    b = Bench()
    try:
        b.up()  # warm-up: the page cache holds the model for both sides alike
        argv = b.state()["current"]["spec"]
        argv = [argv["executable"], *argv["args"]]
        b.down()
        ups, bares, stages = [], [], []
        for _ in range(args.runs):
            took, res = b.up()
            ups.append(took)
            stages.append(res["timings_s"])
            b.down()
            t0 = time.perf_counter()
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_healthy(b.base())
                bares.append(time.perf_counter() - t0)
            finally:
                proc.terminate()
                proc.wait()
        print(summary("aistack up (wall)         ", ups))
        print(summary("bare llama-server healthy ", bares))
        overhead = statistics.median(ups) - statistics.median(bares)
        print(f"overhead (median up - median bare): {overhead:.3f}s   target < 0.5s   {'OK' if overhead < 0.5 else 'MISSED'}")
        # The same figure within each run, immune to how loaded the machine is
        # between runs: wall time minus the server's own load time inside that
        # run (from the server process being started to /health = 200).
        own = [u - (s["healthy"] - s["start"]) for u, s in zip(ups, stages)]
        print(summary("per-run overhead (wall - server load time in that run)", own))
        keys = stages[0].keys()
        print("up stages (median seconds since start, in-process): "
              + ", ".join(f"{k} {statistics.median(s[k] for s in stages):.3f}" for k in keys))
    finally:
        b.close()


if __name__ == "__main__":
    main()
