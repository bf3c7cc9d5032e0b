from __future__ import annotations

import hashlib

import gguf_writer as w

from aistack.plan.model import ArtifactRef


def gguf_blob(mib: float = 2.0, name: str = "tiny") -> bytes:
    """A valid GGUF file of about ``mib`` MiB (one big F32 tensor plus a small model)."""
    rows = max(1, int(mib * (1 << 20) / (256 * 4)))
    meta = [("general.architecture", w.STRING, "llama"), ("general.name", w.STRING, name)]
    return w.build(meta, [("big.weight", (256, rows), 0), ("norm.weight", (256,), 0)])


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def ref(uri: str, data: bytes | None = None, *, with_sha: bool = True, with_size: bool = True) -> ArtifactRef:
    return ArtifactRef(
        kind="gguf",
        uri=uri,
        filename=uri.rsplit("/", 1)[-1],
        size_bytes=len(data) if (data is not None and with_size) else None,
        sha256=sha(data) if (data is not None and with_sha) else None,
    )
