from __future__ import annotations

import os
import struct

import pytest

from aistack import gguf
from aistack.errors import InvalidInputError
import gguf_writer as w


def test_smollm2_header_matches_the_file(smollm2_gguf):
    h = gguf.validate_file(smollm2_gguf)
    size = os.path.getsize(smollm2_gguf)
    assert h.version == 3
    assert h.architecture == "llama"
    assert h.arch_value("block_count") == 30
    assert h.arch_value("attention.head_count_kv") == 3
    assert h.arch_value("no.such.key", "dflt") == "dflt"
    assert len(h.tensors) == 272
    assert h.type_counts() == {"Q4_1": 210, "F32": 61, "Q8_0": 1}
    assert len(h.metadata["tokenizer.ggml.tokens"]) == h.arch_value("vocab_size") == 49152
    assert h.data_offset % h.alignment == 0
    # tensors are laid out back to back with alignment padding: the header accounts for every byte
    assert h.data_end == size
    assert 0 <= size - (h.data_offset + h.tensor_bytes) < h.alignment * len(h.tensors)
    emb = next(t for t in h.tensors if t.name == "token_embd.weight")
    assert emb.shape == (576, 49152) and emb.type_name == "Q8_0"
    assert emb.nbytes == 576 // 32 * 34 * 49152


def test_read_header_reads_only_a_prefix(smollm2_gguf, monkeypatch):
    seen = []
    real_open = open

    class Spy:
        def __init__(self, fh):
            self.fh = fh

        def read(self, n=-1):
            assert n >= 0, "read_header must never read the whole file"
            data = self.fh.read(n)
            seen.append(len(data))
            return data

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    monkeypatch.setattr("builtins.open", lambda *a, **k: Spy(real_open(*a, **k)))
    h = gguf.read_header(smollm2_gguf)
    assert sum(seen) < 4 << 20 < os.path.getsize(smollm2_gguf)
    assert sum(seen) >= h.data_offset - h.alignment


def test_parse_round_trip_of_hand_built_file():
    blob = w.small_model(vocab=50)
    h = gguf.parse_header(blob)
    assert h.version == 3 and h.alignment == 32
    assert h.metadata["general.name"] == "tiny test model"
    assert h.metadata["tokenizer.ggml.tokens"][49] == "tok49"
    assert h.metadata["tokenizer.ggml.scores"][:3] == [0.0, 1.0, 2.0]
    assert h.metadata["tokenizer.ggml.add_bos_token"] is True
    assert h.metadata["general.tags"] == [[1, 2], [3]]
    assert h.metadata["general.seed"] == -5 and h.metadata["general.ratio"] == 0.25
    assert h.arch_value("rope.freq_base") == 10000.0
    names = [t.name for t in h.tensors]
    assert names[0] == "token_embd.weight" and len(names) == 6
    by = {t.name: t for t in h.tensors}
    assert by["blk.0.attn_q.weight"].type_name == "Q4_K"
    assert by["blk.0.attn_q.weight"].nbytes == 256 * 256 // 256 * 144
    assert by["blk.0.ffn_down.weight"].nbytes == 64 * 210
    assert by["output_norm.weight"].nbytes == 512
    assert by["blk.1.attn_k.weight"].shape == (64, 3)
    assert by["blk.1.attn_k.weight"].nbytes == 2 * 20 * 3
    assert h.data_end == len(blob)
    assert h.tensor_bytes == sum(w.tensor_bytes(s, t) for _, s, t in [
        ("", (256, 50), 8), ("", (256, 256), 12), ("", (256, 64), 14), ("", (256,), 0), ("", (256,), 1), ("", (64, 3), 3)
    ])


def test_version_2_and_custom_alignment(tmp_path):
    blob = w.small_model(version=2, alignment=64)
    h = gguf.parse_header(blob)
    assert h.version == 2 and h.alignment == 64 and h.data_offset % 64 == 0
    assert all(t.offset % 64 == 0 for t in h.tensors)
    p = tmp_path / "m.gguf"
    p.write_bytes(blob)
    assert gguf.validate_file(p) == h


def test_no_tensors_means_no_padding():
    blob = w.build([("general.architecture", w.STRING, "llama")], [])
    h = gguf.parse_header(blob)
    assert h.tensors == () and h.data_offset == len(blob) and h.architecture == "llama"


def test_every_truncated_prefix_asks_for_more_bytes():
    blob = w.small_model(vocab=40)
    header_len = gguf.parse_header(blob).data_offset
    last_needed = 0
    for n in range(0, header_len - 31):  # the final padding is not needed to parse
        with pytest.raises(gguf.NeedMoreBytes) as exc:
            gguf.parse_header(blob[:n])
        assert n < exc.value.needed <= header_len
        last_needed = max(last_needed, exc.value.needed)
    assert last_needed > header_len - 64
    # growing the buffer to what was asked always converges
    n = 10
    while True:
        try:
            h = gguf.parse_header(blob[:n])
            break
        except gguf.NeedMoreBytes as more:
            n = more.needed
    assert h == gguf.parse_header(blob)


def test_need_more_bytes_lower_bound_covers_string_arrays():
    blob = w.small_model(vocab=1000)
    with pytest.raises(gguf.NeedMoreBytes) as exc:
        gguf.parse_header(blob[:400])
    # the vocabulary still to come needs at least 8 bytes per remaining token
    assert exc.value.needed > 400 + 8 * 900


@pytest.mark.parametrize(
    "blob, words",
    [
        (b"PK\x03\x04" + b"\0" * 40, "not a GGUF"),
        (b"GGUF" + struct.pack("<I", 1) + b"\0" * 40, "unsupported GGUF version 1"),
        (b"GGUF" + struct.pack("<I", 7) + b"\0" * 40, "unsupported GGUF version 7"),
        (b"GGUF" + struct.pack(">I", 3) + b"\0" * 40, "big-endian"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 2) + b"ab" + struct.pack("<I", 99), "unknown metadata value type 99"),
        (b"GGUF" + struct.pack("<IQQ", 3, 1 << 50, 0), "tensor count"),
    ],
)
def test_corrupt_headers(blob, words):
    with pytest.raises(gguf.GgufError, match=words):
        gguf.parse_header(blob)


def test_unknown_tensor_type_and_bad_alignment():
    with pytest.raises(gguf.GgufError, match="ggml type 37"):
        gguf.parse_header(w.build([], [("x", (32,), 37)]))
    with pytest.raises(gguf.GgufError, match="power of two"):
        gguf.parse_header(w.build([("general.alignment", w.U32, 48)], []))
    with pytest.raises(gguf.GgufError, match="not a multiple"):
        gguf.parse_header(w.build([], [("y", (33,), 2)]))


def test_validate_truncated_download_names_file_and_shortfall(tmp_path):
    blob = w.small_model()
    p = tmp_path / "cut.gguf"
    p.write_bytes(blob[:-100])
    with pytest.raises(gguf.GgufError) as exc:
        gguf.validate_file(p)
    assert isinstance(exc.value, InvalidInputError)
    assert str(p) in exc.value.message
    assert "past end of file (100 bytes short" in exc.value.message
    assert exc.value.details["short_bytes"] == 100


def test_validate_truncated_header_and_not_gguf(tmp_path):
    blob = w.small_model()
    p = tmp_path / "head.gguf"
    p.write_bytes(blob[:200])
    with pytest.raises(gguf.GgufError, match="truncated header"):
        gguf.validate_file(p)
    q = tmp_path / "page.gguf"
    q.write_bytes(b"<html>Not found</html>")
    with pytest.raises(gguf.GgufError, match="not a GGUF") as exc:
        gguf.validate_file(q)
    assert str(q) in exc.value.message
    with pytest.raises(gguf.GgufError, match="no such file"):
        gguf.validate_file(tmp_path / "absent.gguf")
    (tmp_path / "empty.gguf").write_bytes(b"")
    with pytest.raises(gguf.GgufError, match="truncated header"):
        gguf.validate_file(tmp_path / "empty.gguf")


def test_truncated_real_file(smollm2_gguf, tmp_path):
    p = tmp_path / "smol.gguf"
    with open(smollm2_gguf, "rb") as src, open(p, "wb") as dst:
        dst.write(src.read(5_000_000))
    h = gguf.read_header(p)  # the header is complete
    assert len(h.tensors) == 272
    with pytest.raises(gguf.GgufError, match=f"{98362432 - 5_000_000} bytes short"):
        gguf.validate_file(p)


def test_type_table():
    # spot values from ggml-common.h's static_asserts
    expect = {
        "F32": (1, 4), "F16": (1, 2), "BF16": (1, 2), "Q4_0": (32, 18), "Q4_1": (32, 20), "Q5_0": (32, 22),
        "Q5_1": (32, 24), "Q8_0": (32, 34), "Q8_1": (32, 36), "Q2_K": (256, 84), "Q3_K": (256, 110),
        "Q4_K": (256, 144), "Q5_K": (256, 176), "Q6_K": (256, 210), "Q8_K": (256, 292), "IQ2_XXS": (256, 66),
        "IQ2_XS": (256, 74), "IQ2_S": (256, 82), "IQ3_XXS": (256, 98), "IQ3_S": (256, 110), "IQ1_S": (256, 50),
        "IQ1_M": (256, 56), "IQ4_NL": (32, 18), "IQ4_XS": (256, 136), "TQ1_0": (256, 54), "TQ2_0": (256, 66),
        "MXFP4": (32, 17), "I8": (1, 1), "I16": (1, 2), "I32": (1, 4), "I64": (1, 8), "F64": (1, 8),
    }
    for name, (blk, size) in expect.items():
        t = gguf.ggml_type(name)
        assert (t.block_size, t.type_size) == (blk, size), name
    assert gguf.ggml_type("q4_k").id == 12 and gguf.ggml_type(30).name == "BF16"
    assert gguf.bytes_per_element("q8_0") == 34 / 32
    assert gguf.bytes_per_element("f16") == 2
    with pytest.raises(KeyError):
        gguf.ggml_type("Q9_9")


def test_read_layout_is_remembered_until_the_file_changes(tmp_path, smollm2_gguf, monkeypatch):
    import shutil

    model = tmp_path / "m.gguf"
    shutil.copyfile(smollm2_gguf, model)
    cache = tmp_path / "layouts"
    full = gguf.read_header(model)

    first = gguf.read_layout(model, cache)
    assert first.tensors == full.tensors and first.data_offset == full.data_offset
    assert first.architecture == "llama" and first.arch_value("block_count") == 30
    assert "tokenizer.ggml.tokens" in full.metadata and "tokenizer.ggml.tokens" not in first.metadata
    assert len(list(cache.iterdir())) == 1

    # Remembered: the file is not parsed again.
    def no_parse(*_a, **_k):
        raise AssertionError("parsed again")

    monkeypatch.setattr(gguf, "read_header", no_parse)
    assert gguf.read_layout(model, cache) == first

    # The file changes (a new download in its place): parsed again.
    monkeypatch.undo()
    with open(model, "ab") as fh:
        fh.write(b"\0" * 32)
    again = gguf.read_layout(model, cache)
    assert again.tensors == full.tensors
    assert len(list(cache.iterdir())) == 2
