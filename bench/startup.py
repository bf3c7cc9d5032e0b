"""Startup cost of the CLI as a user feels it: fresh processes, wall time.

    python bench/startup.py [--runs N] [--exe PATH]

Measures, each over N fresh processes, median and minimum wall time of:

* ``aistack --help``                      target < 0.2 s
* ``aistack probe --json`` cold           target < 0.4 s (per-boot CPU cache removed before each run)
* ``aistack probe --json`` warm           (CPU cache present)

and each one's CPU time (user + system), which other load disturbs less.
``python -c pass`` is printed first as the floor no CLI can go under (the
interpreter plus this environment's site-packages start-up hooks).

The console script installed next to this Python is run directly (a pyenv
shim in front of it adds ~60 ms of bash that is not aistack's). Every run uses
a throw-away AISTACK_HOME. On a shared machine other processes steal CPU, so
the minimum is the figure least disturbed by them; the median is what a user
on a busy machine sees.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETS = {"--help": 0.2, "probe --json (cold)": 0.4}


def find_exe() -> str:
    beside = Path(sys.executable).parent / "aistack"
    if beside.exists():
        return str(beside)
    found = shutil.which("aistack")
    if not found:
        sys.exit("aistack is not installed (pip install -e .)")
    return found


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def time_runs(argv: list[str], runs: int, env: dict, before=None) -> tuple[list[float], list[float]]:
    """Wall times and CPU times (user+system) of ``runs`` fresh processes."""
    walls, cpus = [], []
    for _ in range(runs):
        if before:
            before()
        cpu0 = _children_cpu()
        start = time.perf_counter()
        cp = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        walls.append(time.perf_counter() - start)
        cpus.append(_children_cpu() - cpu0)
        if cp.returncode != 0:
            sys.exit(f"{' '.join(argv)} failed ({cp.returncode}): {cp.stderr.decode(errors='replace')}")
    return walls, cpus


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--exe", default=None, help="the aistack executable (default: the one beside this python)")
    args = ap.parse_args()
    exe = args.exe or find_exe()
    home = Path(tempfile.mkdtemp(prefix="aistack-bench-"))
    env = dict(os.environ, AISTACK_HOME=str(home))
    cache = home / "cache" / "probe"

    def drop_cache():
        shutil.rmtree(cache, ignore_errors=True)

    try:
        subprocess.run([exe, "--help"], stdout=subprocess.DEVNULL, env=env, check=True)  # warm the OS file cache
        results = {
            "python -c pass": time_runs([sys.executable, "-c", "pass"], args.runs, env),  # the floor
            "--help": time_runs([exe, "--help"], args.runs, env),
            "probe --json (cold)": time_runs([exe, "probe", "--json"], args.runs, env, before=drop_cache),
            "probe --json (warm)": time_runs([exe, "probe", "--json"], args.runs, env),
        }
        if not list(cache.glob("cpu-*.json")):
            print("note: no per-boot CPU cache was written (no boot id on this system)")
    finally:
        shutil.rmtree(home, ignore_errors=True)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"aistack startup: {exe}, {args.runs} runs each, {os.cpu_count()} CPUs, load average {load:.2f}")
    print(f"{'command':<22} {'median':>8} {'min':>8} {'cpu med':>8} {'target':>8}")
    for name, (times, cpus) in results.items():
        target = TARGETS.get(name)
        verdict = ""
        if target:
            verdict = f"{target:>7.2f}s  " + ("ok" if statistics.median(times) < target else
                                              "ok at min (median disturbed by load)" if min(times) < target else "OVER")
        print(f"{name:<22} {statistics.median(times):>7.3f}s {min(times):>7.3f}s {statistics.median(cpus):>7.3f}s "
              f"{verdict}")
    print("wall = elapsed per process; cpu = its user+system time (what it costs, least disturbed by load)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
