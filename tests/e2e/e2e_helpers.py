"""Helpers for the end-to-end tests (imported by conftest.py and the tests)."""

from __future__ import annotations

import json
from pathlib import Path


SMOLLM2 = "smollm2-135m-instruct"

# Architecture numbers shared by the test recipes below (SmolLM2-135M's).
ARCH = """
[arch]
type = "llama"
n_layers = 30
n_embd = 576
n_ff = 1536
n_head = 9
n_head_kv = 3
head_dim_k = 64
head_dim_v = 64
vocab_size = 49152
ctx_train = 8192
tied_embeddings = true
"""


def recipe(rid: str, uri: str, *, quality: int = 10, size_bytes: int | None = None, params: int = 134515008) -> str:
    size = f"size_bytes = {size_bytes}\n" if size_bytes else ""
    return (
        f'id = "{rid}"\nname = "{rid}"\nfamily = "test"\ntokenizer = "smollm2"\nlicense = "apache-2.0"\n'
        f'purposes = ["chat"]\nparams_total = {params}\n\n[quality]\nchat = {quality}\n{ARCH}\n'
        f'[[gguf]]\nquant = "Q4_1"\nuri = "{uri}"\n{size}'
    )


def state(home: Path) -> dict:
    path = home / "state" / "state.json"
    return json.loads(path.read_text()) if path.exists() else {}
