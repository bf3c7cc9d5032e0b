"""What each quantisation name means: bits per weight and a quality rank.

``bits_per_weight`` is the *effective* size of a whole model file divided by
its parameter count, as llama.cpp's own quantize tool reports it for an 8B
Llama-3 (file GiB x 8 / params; K-quant "mixes" keep some tensors at higher
precision, which is why Q4_K_M is 4.9 and not 4.5). It is used only when a
recipe gives no exact ``size_bytes`` and no GGUF header is at hand.

``penalty`` is the quality the quantisation costs, on the same 0-100 scale as a
recipe's model-level ``quality`` score (F16 = 0). It follows the published
perplexity/KL-divergence ordering: Q8_0 ~ lossless, Q6_K/Q5_K barely
measurable, Q4_K_M the usual sweet spot, Q3 and below clearly degraded. The
``quality_rank`` of a quant is derived from it (higher is better).

MLX bit widths: weights at ``b`` bits plus an fp16 scale and bias per group of
64 -> ``b + 0.5`` bits per weight. Ternary ``i2_s`` (bitnet.cpp) packs the
linear layers at 2 bits; its embeddings stay at f16, so recipes of ternary
models give their own effective ``bits_per_weight``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ArtifactKind = Literal["gguf", "mlx", "ternary-gguf"]


@dataclass(frozen=True)
class Quant:
    name: str
    kind: ArtifactKind
    bits_per_weight: float
    penalty: float

    @property
    def quality_rank(self) -> int:
        """Higher is better; 100 = unquantised."""
        return int(round(100 - self.penalty * 3))


_GGUF = {
    # name: (bits per weight, quality penalty)
    "F32": (32.0, 0.0),
    "BF16": (16.0, 0.0),
    "F16": (16.0, 0.0),
    "Q8_0": (8.51, 0.3),
    "Q6_K": (6.57, 0.8),
    "Q5_K_M": (5.70, 1.5),
    "Q5_K_S": (5.57, 1.8),
    "Q5_1": (6.04, 2.0),
    "Q5_0": (5.57, 2.3),
    "Q4_K_M": (4.90, 3.0),
    "Q4_K_S": (4.67, 3.8),
    "Q4_1": (5.11, 4.5),
    "IQ4_XS": (4.46, 4.0),
    "IQ4_NL": (4.68, 4.0),
    "Q4_0": (4.64, 5.5),
    "Q3_K_L": (4.31, 7.0),
    "Q3_K_M": (4.00, 8.0),
    "IQ3_M": (3.76, 8.5),
    "Q3_K_S": (3.65, 11.0),
    "IQ3_XXS": (3.25, 13.0),
    "Q2_K": (3.17, 16.0),
    "IQ2_M": (2.93, 18.0),
    "IQ2_XXS": (2.38, 25.0),
    "TQ1_0": (1.69, 0.0),  # ternary models trained as ternary lose nothing to it
    "TQ2_0": (2.06, 0.0),
}

_MLX = {
    "bf16": (16.0, 0.0),
    "8bit": (8.5, 0.4),
    "6bit": (6.5, 1.0),
    "5bit": (5.5, 1.8),
    "4bit": (4.5, 3.5),
    "3bit": (3.5, 9.0),
}

_TERNARY = {
    # bitnet.cpp kernels; trained-ternary weights, so no quantisation loss
    "i2_s": (2.0, 0.0),
    "tl1": (2.0, 0.0),
    "tl2": (1.67, 0.0),
}

QUANTS: dict[tuple[str, str], Quant] = {}
for _kind, _table in (("gguf", _GGUF), ("mlx", _MLX), ("ternary-gguf", _TERNARY)):
    for _name, (_bpw, _pen) in _table.items():
        QUANTS[(_kind, _name)] = Quant(_name, _kind, _bpw, _pen)  # type: ignore[arg-type]


def lookup(kind: str, name: str) -> Quant | None:
    return QUANTS.get((kind, name))


def names(kind: str) -> list[str]:
    return [n for (k, n) in QUANTS if k == kind]


# KV-cache element sizes in bytes (ggml block size / bytes per block).
CACHE_TYPE_BYTES: dict[str, float] = {
    "f32": 4.0,
    "f16": 2.0,
    "bf16": 2.0,
    "q8_0": 34 / 32,
    "q5_1": 24 / 32,
    "q5_0": 22 / 32,
    "q4_1": 20 / 32,
    "q4_0": 18 / 32,
    "iq4_nl": 18 / 32,
}
