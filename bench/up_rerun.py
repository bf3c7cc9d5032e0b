"""``aistack up`` again with an unchanged plan: wall time and restarts.

Target: < 0.5 s and zero restarts (same server pid, same restart count).

    python bench/up_rerun.py [--runs N]
"""

from __future__ import annotations

import argparse

from up_common import Bench, summary


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--no-bytecode", action="store_true", help="run without cached bytecode")
    args = ap.parse_args()
    b = Bench()
    try:
        _, first = b.up()
        _, st0 = b.cli("status", "--json")
        walls = []
        for _ in range(args.runs):
            took, res = b.up()
            assert res["changed"] is False, res
            walls.append(took)
        _, st1 = b.cli("status", "--json")
        restarts = st1["restarts"] - st0["restarts"]
        same_pid = st1["pid"] == st0["pid"]
        print(summary("up, unchanged plan (wall)", walls))
        print(f"restarts during re-runs: {restarts}; server pid unchanged: {same_pid}")
        best = min(walls)
        ok = sorted(walls)[len(walls) // 2] < 0.5 and restarts == 0 and same_pid
        print(f"target < 0.5s and zero restarts: {'OK' if ok else 'MISSED'} (best {best:.3f}s)")
    finally:
        b.close()


if __name__ == "__main__":
    main()
