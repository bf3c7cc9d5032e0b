"""A tiny GGUF writer for tests: builds real GGUF bytes from Python values.

Written from the format description (little-endian; magic, version, counts,
typed key/values, tensor infos, padding to the alignment, tensor data), so the
reader is checked against an independent encoder, not against itself.
"""

from __future__ import annotations

import struct
from typing import Any

# value type ids of the GGUF format
U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
_FMT = {U8: "B", I8: "b", U16: "H", I16: "h", U32: "I", I32: "i", F32: "f", BOOL: "?", U64: "Q", I64: "q", F64: "d"}

# (elements per block, bytes per block) for the types the tests use
BLOCKS = {0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 8: (32, 34), 12: (256, 144), 14: (256, 210), 30: (1, 2)}


def _str(s: str) -> bytes:
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def _value(vtype: int, value: Any) -> bytes:
    if vtype == STRING:
        return _str(value)
    if vtype == ARRAY:
        etype, items = value
        out = struct.pack("<IQ", etype, len(items))
        return out + b"".join(_value(etype, v) for v in items)
    return struct.pack("<" + _FMT[vtype], value)


def tensor_bytes(shape: tuple[int, ...], type_id: int) -> int:
    blk, size = BLOCKS.get(type_id, (1, 1))  # unknown ids: any size, for corrupt-file tests
    n = 1
    for d in shape[1:]:
        n *= d
    return shape[0] // blk * size * n


def build(
    metadata: list[tuple[str, int, Any]] = (),
    tensors: list[tuple[str, tuple[int, ...], int]] = (),
    *,
    version: int = 3,
    alignment: int = 32,
    with_data: bool = True,
    magic: bytes = b"GGUF",
) -> bytes:
    meta = list(metadata)
    if alignment != 32:
        meta.append(("general.alignment", U32, alignment))
    head = bytearray(magic + struct.pack("<IQQ", version, len(tensors), len(meta)))
    for key, vtype, value in meta:
        head += _str(key) + struct.pack("<I", vtype) + _value(vtype, value)
    offset = 0
    blobs = []
    for name, shape, type_id in tensors:
        head += _str(name) + struct.pack("<I", len(shape)) + struct.pack(f"<{len(shape)}q", *shape)
        head += struct.pack("<IQ", type_id, offset)
        n = tensor_bytes(shape, type_id)
        pattern = bytes((i * 7 + len(name)) % 251 for i in range(251))
        blobs.append((pattern * (n // 251 + 1))[:n])
        offset += n + (-n % alignment)
    if tensors:
        head += b"\0" * (-len(head) % alignment)
    if not with_data:
        return bytes(head)
    data = bytearray()
    for blob in blobs:
        data += blob + b"\0" * (-len(blob) % alignment)
    # the last tensor needs no trailing padding
    if blobs:
        data = data[: len(data) - (-len(blobs[-1]) % alignment)]
    return bytes(head + data)


def small_model(arch: str = "llama", *, vocab: int = 64, version: int = 3, alignment: int = 32) -> bytes:
    """A plausible little model: llama metadata, a vocabulary, a few quantised tensors."""
    meta = [
        ("general.architecture", STRING, arch),
        ("general.name", STRING, "tiny test model"),
        (f"{arch}.block_count", U32, 2),
        (f"{arch}.context_length", U32, 2048),
        (f"{arch}.embedding_length", U32, 256),
        (f"{arch}.attention.head_count", U32, 4),
        (f"{arch}.attention.head_count_kv", U32, 2),
        (f"{arch}.rope.freq_base", F32, 10000.0),
        ("tokenizer.ggml.tokens", ARRAY, (STRING, [f"tok{i}" for i in range(vocab)])),
        ("tokenizer.ggml.scores", ARRAY, (F32, [float(i) for i in range(vocab)])),
        ("tokenizer.ggml.add_bos_token", BOOL, True),
        ("general.tags", ARRAY, (ARRAY, [(U8, [1, 2]), (U8, [3])])),
        ("general.seed", I64, -5),
        ("general.ratio", F64, 0.25),
    ]
    tensors = [
        ("token_embd.weight", (256, vocab), 8),  # Q8_0
        ("blk.0.attn_q.weight", (256, 256), 12),  # Q4_K
        ("blk.0.ffn_down.weight", (256, 64), 14),  # Q6_K
        ("blk.0.attn_norm.weight", (256,), 0),  # F32
        ("output_norm.weight", (256,), 1),  # F16
        ("blk.1.attn_k.weight", (64, 3), 3),  # Q4_1, 1-block rows
    ]
    return build(meta, tensors, version=version, alignment=alignment)
