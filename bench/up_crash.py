"""Crash-to-healthy: kill -9 the deployed llama-server, time until /health is 200 again.

Target: < 3 s. Kills are spaced by more than the supervisor's stable period
(10 s) so each one is a first crash, not a crash loop (which backs off on
purpose); ``--gap`` changes the spacing to show the backoff.

    python bench/up_crash.py [--runs N] [--gap SECONDS]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import time

from up_common import Bench, healthy, summary


def child_pid(b: Bench) -> int:
    rd = b.state()["current"]["handle"]["data"]["status_file"]
    return json.loads(open(rd).read())["child_pid"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--gap", type=float, default=11.0)
    ap.add_argument("--no-bytecode", action="store_true", help="run without cached bytecode")
    args = ap.parse_args()
    b = Bench()
    try:
        b.up()
        times = []
        for i in range(args.runs):
            if i:
                time.sleep(args.gap)
            pid = child_pid(b)
            t0 = time.perf_counter()
            os.kill(pid, signal.SIGKILL)
            while healthy(b.base()):  # until the old process's socket is really gone
                time.sleep(0.001)
            while not healthy(b.base()):
                time.sleep(0.005)
            times.append(time.perf_counter() - t0)
            assert child_pid(b) != pid
        _, log = b.cli("logs", "-n", "1000")
        delays = [line.split("restarting in ")[1] for line in str(log).splitlines() if "restarting in" in line]
        print(f"supervisor restart delays: {', '.join(delays)}")
        print(summary("crash-to-healthy", times))
        print(f"target < 3s: {'OK' if max(times) < 3 else 'MISSED'}")
    finally:
        b.close()


if __name__ == "__main__":
    main()
