"""The memory model against hand calculations, the real SmolLM2 file, and what
a real llama-server printed (fixtures recorded by record_llama_buffers.py)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from aistack.catalog import load_catalog
from aistack.catalog.model import Arch
from aistack.memory import estimate as est

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MiB = 1024 * 1024
CAT = load_catalog()
SMOL = CAT.get("smollm2-135m-instruct")

# Tolerances, stated: KV and weights are exact arithmetic (0.01 MiB of rounding
# in the printed figures); the compute-buffer model is calibrated, within 10 %.
KV_TOL_MIB = 0.01
COMPUTE_REL_TOL = 0.10


# --- hand calculations -------------------------------------------------------------


def test_kv_gqa_by_hand():
    # Llama 3.1 8B: 32 layers x 8 KV heads x (128 + 128) x 2 bytes = 131072 B per token
    a = CAT.get("llama-3.1-8b-instruct").arch
    assert est.kv_bytes_per_cell(a) == 32 * 0 + 8 * (128 * 2 + 128 * 2) == 4096
    assert est.kv_cache_bytes(a, 8192) == 8192 * 32 * 4096 == 1 * 1024**3  # exactly 1 GiB
    # q8_0 cache: 34 bytes per 32 elements
    assert est.kv_cache_bytes(a, 8192, "q8_0", "q8_0") == int(8192 * 8 * 256 * 34 / 32) * 32


def test_kv_context_is_padded_to_256():
    a = SMOL.arch
    assert est.kv_cache_bytes(a, 1000) == est.kv_cache_bytes(a, 1024)
    assert est.kv_cache_bytes(a, 1025) == est.kv_cache_bytes(a, 1280)


def test_kv_sliding_window_gemma3_by_hand():
    # Gemma 3 27B: 62 layers, window 1024, every 6th layer global -> 10 global, 52 local.
    a = CAT.get("gemma-3-27b-it").arch
    assert a.n_swa_layers == 52
    per_cell = 16 * (128 * 2 + 128 * 2)  # 16 KV heads, head dim 128, f16 K and V
    n_ctx, ub = 32768, 512
    local_cells = 1536  # pad256(min(32768, 1024 + 512))
    expected = 10 * n_ctx * per_cell + 52 * local_cells * per_cell
    assert est.kv_cache_bytes(a, n_ctx, ubatch=ub) == expected
    # without SWA it would be 62 full layers: more than 4x as much
    full = est.kv_cache_bytes(replace(a, sliding_window=None, swa_period=None), n_ctx)
    assert full == 62 * n_ctx * per_cell
    assert full > 4 * expected
    # at a context inside the window every layer holds n_ctx cells
    assert est.kv_cache_bytes(a, 1024) == 62 * 1024 * per_cell


def test_kv_mla_by_hand():
    # DeepSeek-Coder-V2-Lite: 27 layers x (512 + 64) x 2 bytes per token, no V cache
    a = CAT.get("deepseek-coder-v2-lite-instruct").arch
    assert est.kv_cache_bytes(a, 4096) == 4096 * 27 * 576 * 2
    plain = replace(a, kv_lora_rank=None, rope_head_dim=None)  # per-head K 192, V 128, 16 heads
    assert est.kv_cache_bytes(plain, 4096) == 4096 * 27 * 16 * (192 + 128) * 2


def test_weights_from_recipe_by_hand():
    r = CAT.get("qwen2.5-7b-instruct")
    a = next(x for x in r.artifacts if x.quant == "Q4_K_M")
    w = est.weights(r, a)
    assert w.total_bytes == int(7615616512 * 4.90 / 8)
    assert not w.exact
    assert w.input_bytes == int(152064 * 3584 * 4.90 / 8)
    assert w.output_bytes >= w.input_bytes  # untied head
    assert len(w.layer_bytes) == 28
    assert w.input_bytes + w.output_bytes + sum(w.layer_bytes) == w.total_bytes


def test_partial_offload_split_conserves_bytes():
    r = CAT.get("qwen2.5-7b-instruct")
    a = next(x for x in r.artifacts if x.quant == "Q4_K_M")
    w = est.weights(r, a)
    full_kv = est.kv_cache_bytes(r.arch, 8192)
    for ngl in (0, 10, 28, 29):
        parts = est.split_llamacpp(w, r.arch, n_ctx=8192, n_gpu_layers=ngl, gpu_kind="cuda")
        assert sum(p.weights_bytes for p in parts) == w.total_bytes
        assert sum(p.kv_cache_bytes for p in parts) == full_kv
        if ngl:
            gpu = parts[1]
            assert gpu.kv_cache_bytes == full_kv * min(ngl, 28) // 28
            assert gpu.overhead_bytes == est.OVERHEAD_BYTES["cuda"]
    # ngl = 29 (n_layers + 1) also moves the output head; the input embedding never moves
    host = est.split_llamacpp(w, r.arch, n_ctx=8192, n_gpu_layers=29, gpu_kind="cuda")[0]
    assert host.weights_bytes == w.input_bytes


def test_compute_model_by_hand():
    a = Arch(type="llama", n_layers=2, n_embd=1000, n_head=10, n_head_kv=2, head_dim_k=100, head_dim_v=100,
             vocab_size=5000, ctx_train=4096, n_ff=3000)
    act = 512 * (4 * 1000 + 3 * 3000) * 4
    mask = 2048 * 512 * 2
    assert est.compute_bytes(a, 2048, 512, True) == act + mask
    assert est.compute_bytes(a, 2048, 512, False) == act + mask + 2048 * 512 * 10 * 4
    assert est.compute_bytes(a, 2048, 512, True, gpu=True) == act + mask + 512 * 5000 * 4


# --- the real SmolLM2 file ----------------------------------------------------------


def test_weights_from_the_real_header_are_its_tensor_bytes(smollm2_gguf):
    from aistack.gguf import read_header

    h = read_header(smollm2_gguf)
    art = SMOL.artifacts[0]
    w = est.weights(SMOL, art, h)
    assert w.exact
    assert w.total_bytes == sum(t.nbytes for t in h.tensors) == h.tensor_bytes
    assert len(w.layer_bytes) == SMOL.arch.n_layers == h.arch_value("block_count")
    assert w.input_bytes == next(t.nbytes for t in h.tensors if t.name == "token_embd.weight")
    # the recipe's architecture numbers are the header's
    a = SMOL.arch
    assert (a.n_embd, a.n_head, a.n_head_kv, a.ctx_train, a.n_ff) == (
        h.arch_value("embedding_length"), h.arch_value("attention.head_count"),
        h.arch_value("attention.head_count_kv"), h.arch_value("context_length"), h.arch_value("feed_forward_length"))
    # and the file is the tensor data plus its header
    assert h.data_offset + h.tensor_bytes == art.size_bytes == smollm2_gguf.stat().st_size
    # the estimate without the header (exact file size from the recipe) is within 2 %
    w2 = est.weights(SMOL, art)
    assert abs(w2.total_bytes - w.total_bytes) / w.total_bytes < 0.02


# --- what llama-server printed --------------------------------------------------------

_CFG = re.compile(r"-c (\d+) -ctk (\S+) -ctv (\S+) -fa (\S+) -ub (\d+)")


def _last(text: str, pattern: str) -> float:
    vals = re.findall(pattern, text)
    assert vals, pattern
    return float(vals[-1])


def recorded():
    out = []
    for f in sorted(FIXTURES.glob("smollm2_*.txt")):
        text = f.read_text()
        ctx, ctk, ctv, fa, ub = _CFG.search(text).groups()
        out.append(pytest.param(text, int(ctx), ctk, ctv, fa == "on", int(ub), id=f.stem))
    return out


def _check_against(text, ctx, ctk, ctv, fa, ub, header=None):
    model_mib = _last(text, r"CPU(?:_Mapped)? model buffer size =\s+([\d.]+) MiB")
    kv_mib = _last(text, r"CPU KV buffer size =\s+([\d.]+) MiB")
    compute_mib = _last(text, r"CPU compute buffer size =\s+([\d.]+) MiB")
    kv = est.kv_cache_bytes(SMOL.arch, ctx, ctk, ctv, ubatch=ub) / MiB
    comp = est.compute_bytes(SMOL.arch, ctx, ub, fa) / MiB
    assert abs(kv - kv_mib) <= KV_TOL_MIB, (kv, kv_mib)
    assert abs(comp - compute_mib) / compute_mib <= COMPUTE_REL_TOL, (comp, compute_mib)
    if header is not None:
        assert abs(header.tensor_bytes / MiB - model_mib) <= 0.01
    return kv - kv_mib, (comp - compute_mib) / compute_mib


@pytest.mark.parametrize("text, ctx, ctk, ctv, fa, ub", recorded())
def test_against_recorded_llama_server(text, ctx, ctk, ctv, fa, ub, smollm2_gguf):
    from aistack.gguf import read_header

    _check_against(text, ctx, ctk, ctv, fa, ub, read_header(smollm2_gguf))


def test_fixtures_cover_cache_types_and_flash_attention():
    ids = {p.id for p in recorded()}
    assert {"smollm2_c8192_f16_nofa", "smollm2_c8192_q8_fa", "smollm2_c2048_f16_fa"} <= ids


@pytest.mark.integration
def test_live_llama_server_matches_the_estimate(llama_server_bin, smollm2_gguf, free_port, tmp_path):
    """Start the real server once with a configuration not in the fixtures."""
    import subprocess
    import time

    from aistack.gguf import read_header

    argv = [str(llama_server_bin), "-m", str(smollm2_gguf), "-c", "6144", "-ctk", "q8_0", "-ctv", "f16", "-fa", "on",
            "-ub", "384", "-np", "1", "-t", "2", "-v", "--host", "127.0.0.1", "--port", str(free_port)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    deadline = time.monotonic() + 120
    try:
        for line in proc.stdout:
            lines.append(line)
            if "listening" in line or time.monotonic() > deadline:
                break
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = "".join(lines)
    kv_err, comp_err = _check_against(text, 6144, "q8_0", "f16", True, 384, read_header(smollm2_gguf))
    print(f"live: kv error {kv_err:+.3f} MiB, compute error {comp_err:+.1%}")
