"""The memory model: how many bytes a model needs on each device.

Everything here is arithmetic on recipe numbers (or a parsed GGUF header);
no I/O. The planner calls it for every candidate; tests check it against hand
calculations, the exact tensor sizes of the real SmolLM2 file, and the buffer
sizes a real llama-server printed (``tests/memory/fixtures``).

Formulas
========

Weights
    From a GGUF header: the exact sum of tensor bytes (``GgufHeader.tensor_bytes``),
    split into ``token_embd`` (stays on the host: llama.cpp never offloads the
    input embedding), the repeating ``blk.N.*`` layers, and the rest (output
    head + final norm; offloaded together with the last layer).
    Without a header: ``params × bits_per_weight / 8`` (the recipe's exact
    ``size_bytes`` when it has one), with the embedding share
    ``vocab × n_embd`` (twice when the head is untied) taken out of it pro rata.

KV cache (llama.cpp)
    ``n_ctx`` is first rounded up to a multiple of 256 (llama.cpp pads it).
    Per layer ``l`` with ``cells(l)`` cached tokens::

        bytes = Σ_l cells(l) · n_head_kv · (d_k·B(type_k) + d_v·B(type_v)) · n_seq_streams

    ``B`` is bytes per element of the cache type (f16 = 2, q8_0 = 34/32, ...).
    GQA: ``n_head_kv`` (not ``n_head``). Sliding-window layers (Gemma 3: 5 of
    every 6) hold ``cells = pad256(min(n_ctx, window + n_ubatch))``; global
    layers hold ``n_ctx``. MLA (DeepSeek V2/V3): one latent per token and
    layer, ``kv_lora_rank + rope_head_dim`` elements of ``type_k``, and no
    separate V cache. With ``parallel_slots`` > 1 the total context is
    ``n_ctx`` shared by the slots (llama-server splits ``-c`` between them), so
    the figure does not grow with slots.

KV cache (MLX)
    mlx-lm keeps an fp16 cache of the same shape (rotating for SWA layers).

Compute buffers (calibrated on llama-server's CPU backend, SmolLM2, see
``tests/memory/fixtures``)::

    activations = n_ubatch · (4·n_embd + 3·n_ff_active) · 4 bytes
    kq_mask     = n_ctx · n_ubatch · 2 bytes          (f16 attention mask)
    kq_scores   = n_ctx · n_ubatch · n_head · 4 bytes  (only without flash attention)

    where ``n_ff_active = n_ff · n_expert_used`` for MoE models. A GPU
    additionally materialises the logits of one micro-batch when the output
    head lives there: ``n_ubatch · vocab · 4`` (not calibrated here: no GPU;
    kept as a deliberate over-estimate).

    Measured error of this model against the recorded llama-server figures is
    asserted in tests/memory/test_estimate.py (within 10 %).

Per-device overhead (constants, conservative): CPU 64 MiB (runtime, output
buffer, tokenizer tables), CUDA/ROCm context + cuBLAS workspace 450 MiB,
Vulkan/SYCL 350 MiB, Metal 256 MiB, MLX 512 MiB (Python + framework).

Partial offload is layer-granular: the GPU takes the last ``k`` repeating
layers with their KV cells (and the output head once all layers are on it),
the host keeps the rest and the input embedding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from aistack.catalog.model import Arch, Artifact, Recipe
from aistack.catalog.quants import CACHE_TYPE_BYTES

if TYPE_CHECKING:  # pragma: no cover
    from aistack.gguf import GgufHeader

MiB = 1024 * 1024
GiB = 1024 * MiB
CTX_PAD = 256

OVERHEAD_BYTES = {
    "cpu": 64 * MiB,
    "cuda": 450 * MiB,
    "rocm": 450 * MiB,
    "vulkan": 350 * MiB,
    "sycl": 350 * MiB,
    "metal": 256 * MiB,
    "mlx": 512 * MiB,
}


def pad(n: int, to: int = CTX_PAD) -> int:
    return -(-n // to) * to


# --- weights -------------------------------------------------------------------


@dataclass(frozen=True)
class Weights:
    total_bytes: int
    input_bytes: int  # token embedding (host)
    output_bytes: int  # output head + final norm
    layer_bytes: tuple[int, ...]  # one entry per repeating layer
    exact: bool  # True when read from a GGUF header or the recipe's exact file size

    def gpu_bytes(self, n_layers_on_gpu: int) -> int:
        """Weights on the GPU when the last ``n_layers_on_gpu`` layers are offloaded."""
        n = len(self.layer_bytes)
        k = max(0, min(n_layers_on_gpu, n))
        on = sum(self.layer_bytes[n - k :]) if k else 0
        if n_layers_on_gpu > n:
            on += self.output_bytes
        return on


_BLK = re.compile(r"^blk\.(\d+)\.")


def weights_from_header(header: "GgufHeader") -> Weights:
    layers: dict[int, int] = {}
    input_b = output_b = 0
    for t in header.tensors:
        m = _BLK.match(t.name)
        if m:
            layers[int(m.group(1))] = layers.get(int(m.group(1)), 0) + t.nbytes
        elif t.name.startswith("token_embd"):
            input_b += t.nbytes
        else:
            output_b += t.nbytes
    n = max(layers) + 1 if layers else 0
    layer_bytes = tuple(layers.get(i, 0) for i in range(n))
    return Weights(header.tensor_bytes, input_b, output_b, layer_bytes, exact=True)


def weights_from_recipe(recipe: Recipe, artifact: Artifact) -> Weights:
    a = recipe.arch
    bpw = artifact.effective_bpw
    estimated = int(recipe.params_total * bpw / 8)
    total = artifact.size_bytes or estimated
    scale = total / estimated if estimated else 1.0
    embed = int(a.vocab_size * a.n_embd * bpw / 8 * scale)
    output = 0 if a.tied_embeddings else embed
    rest = max(0, total - embed - output)
    per = rest // a.n_layers
    layers = tuple([per] * a.n_layers)
    # the remainder of the integer division goes to the output part
    output += rest - per * a.n_layers
    return Weights(total, embed, output, layers, exact=artifact.size_bytes is not None)


def weights(recipe: Recipe, artifact: Artifact, header: "GgufHeader | None" = None) -> Weights:
    if header is not None and artifact.kind != "mlx":
        return weights_from_header(header)
    return weights_from_recipe(recipe, artifact)


# --- KV cache ------------------------------------------------------------------


def _bytes_per(cache_type: str) -> float:
    try:
        return CACHE_TYPE_BYTES[cache_type]
    except KeyError:
        raise ValueError(f"unknown KV cache type {cache_type!r}; known: {', '.join(CACHE_TYPE_BYTES)}") from None


def kv_cells_per_layer(arch: Arch, n_ctx: int, ubatch: int = 512) -> tuple[int, ...]:
    """Cached tokens held by each layer (SWA layers hold only their window)."""
    ctx = pad(n_ctx)
    if not arch.sliding_window or not arch.swa_period:
        return tuple([ctx] * arch.n_layers)
    swa_cells = pad(min(ctx, arch.sliding_window + ubatch))
    return tuple(
        ctx if (i + 1) % arch.swa_period == 0 else swa_cells for i in range(arch.n_layers)
    )


def kv_bytes_per_cell(arch: Arch, type_k: str = "f16", type_v: str = "f16") -> float:
    """Bytes one cached token costs in one layer."""
    if arch.is_mla:
        return (arch.kv_lora_rank + arch.rope_head_dim) * _bytes_per(type_k)  # type: ignore[operator]
    return arch.n_head_kv * (arch.head_dim_k * _bytes_per(type_k) + arch.head_dim_v * _bytes_per(type_v))


@lru_cache(maxsize=4096)
def kv_layer_bytes(arch: Arch, n_ctx: int, type_k: str = "f16", type_v: str = "f16", ubatch: int = 512) -> tuple[int, ...]:
    per_cell = kv_bytes_per_cell(arch, type_k, type_v)
    return tuple(int(c * per_cell) for c in kv_cells_per_layer(arch, n_ctx, ubatch))


def kv_cache_bytes(arch: Arch, n_ctx: int, type_k: str = "f16", type_v: str = "f16", ubatch: int = 512) -> int:
    return sum(kv_layer_bytes(arch, n_ctx, type_k, type_v, ubatch))


def kv_read_bytes_per_token(arch: Arch, n_ctx: int, type_k: str = "f16", type_v: str = "f16", ubatch: int = 512) -> int:
    """KV bytes one decode step reads when the context is ``n_ctx`` tokens full."""
    per_cell = kv_bytes_per_cell(arch, type_k, type_v)
    cells = (min(c, n_ctx) for c in kv_cells_per_layer(arch, n_ctx, ubatch))
    return int(sum(cells) * per_cell)


# --- compute buffers and overhead ------------------------------------------------


def compute_bytes(arch: Arch, n_ctx: int, ubatch: int = 512, flash_attn: bool = True, *, gpu: bool = False,
                  output_on_device: bool = True) -> int:
    ctx = pad(n_ctx)
    n_ff = arch.n_ff or 4 * arch.n_embd
    if arch.n_expert_used:
        n_ff *= arch.n_expert_used
    activations = ubatch * (4 * arch.n_embd + 3 * n_ff) * 4
    mask = ctx * ubatch * 2
    scores = 0 if flash_attn else ctx * ubatch * arch.n_head * 4
    logits = ubatch * arch.vocab_size * 4 if gpu and output_on_device else 0
    return activations + mask + scores + logits


def overhead_bytes(device_kind: str) -> int:
    return OVERHEAD_BYTES.get(device_kind, OVERHEAD_BYTES["cpu"])


# --- a whole estimate --------------------------------------------------------------


@dataclass(frozen=True)
class DeviceBytes:
    device: str
    weights_bytes: int
    kv_cache_bytes: int
    compute_bytes: int
    overhead_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.kv_cache_bytes + self.compute_bytes + self.overhead_bytes


def split_llamacpp(
    w: Weights,
    arch: Arch,
    *,
    n_ctx: int,
    n_gpu_layers: int,
    gpu_kind: str | None,
    type_k: str = "f16",
    type_v: str = "f16",
    ubatch: int = 512,
    flash_attn: bool = True,
    gpu_shares: tuple[float, ...] = (1.0,),
) -> tuple[DeviceBytes, ...]:
    """Bytes per device for a llama.cpp deployment.

    ``n_gpu_layers`` is llama.cpp's ``-ngl``: the last that many layers go to
    the GPU(s); ``n_layers + 1`` or more also moves the output head.
    ``gpu_shares`` splits the GPU part across several GPUs (tensor_split).
    """
    n = arch.n_layers
    kv_layers = kv_layer_bytes(arch, n_ctx, type_k, type_v, ubatch)
    k = 0 if gpu_kind is None else max(0, min(n_gpu_layers, n + 1))
    k_layers = min(k, n)
    gpu_w = w.gpu_bytes(k)
    gpu_kv = sum(kv_layers[n - k_layers :]) if k_layers else 0
    out: list[DeviceBytes] = []
    host_compute = compute_bytes(arch, n_ctx, ubatch, flash_attn) if k_layers < n else compute_bytes(
        arch, 0, min(ubatch, 512), True) // 8
    host = DeviceBytes(
        "cpu",
        weights_bytes=w.total_bytes - gpu_w,
        kv_cache_bytes=sum(kv_layers) - gpu_kv,
        compute_bytes=host_compute,
        overhead_bytes=overhead_bytes("cpu"),
    )
    if k and gpu_kind is not None:
        total_share = sum(gpu_shares) or 1.0
        comp = compute_bytes(arch, n_ctx, ubatch, flash_attn, gpu=True, output_on_device=k > n)
        for i, share in enumerate(gpu_shares):
            f = share / total_share
            out.append(
                DeviceBytes(
                    f"gpu{i}",
                    weights_bytes=int(gpu_w * f),
                    kv_cache_bytes=int(gpu_kv * f),
                    compute_bytes=comp,  # each GPU reserves its own compute buffer
                    overhead_bytes=overhead_bytes(gpu_kind),
                )
            )
    return (host, *out)


def unified_mlx(w: Weights, arch: Arch, *, n_ctx: int) -> DeviceBytes:
    """Bytes on an Apple unified-memory device for an MLX deployment."""
    kv = kv_cache_bytes(arch, n_ctx, "f16", "f16", ubatch=512)
    comp = compute_bytes(arch, n_ctx, 512, True, gpu=True)
    return DeviceBytes("unified", w.total_bytes, kv, comp, overhead_bytes("mlx"))
