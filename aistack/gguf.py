"""Reading GGUF headers: metadata, tensor table, and a whole-file sanity check.

A GGUF file is a little-endian header (magic ``GGUF``, version, tensor count,
key/value count, the key/value pairs, one info record per tensor) followed by
the tensor data, which starts at the header's end rounded up to
``general.alignment`` (32 by default). Each tensor's info gives its shape, its
ggml type and its offset inside the data section.

Three entry points:

* ``parse_header(buf)`` parses a byte prefix. When the prefix ends before the
  header does it raises ``NeedMoreBytes(needed)`` so a caller holding only the
  first bytes of a remote file can fetch more (HTTP Range) and try again.
* ``read_header(path)`` reads a local file incrementally, never the whole file.
* ``validate_file(path)`` additionally checks that every tensor's data lies
  inside the file: the check that catches a truncated download.

The ggml type table (block size and bytes per block) follows
``ggml/src/ggml-common.h`` of the llama.cpp tree pinned by the project.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aistack.errors import InvalidInputError

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4

# ---------------------------------------------------------------------------
# ggml tensor types


@dataclass(frozen=True)
class GgmlType:
    id: int
    name: str  # upper case, as quantisations are usually written: "Q4_K", "F16"
    block_size: int  # elements per block
    type_size: int  # bytes per block

    @property
    def bytes_per_element(self) -> float:
        return self.type_size / self.block_size


_QK_K = 256

# id: (name, elements per block, bytes per block)
_TYPE_TABLE: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 2 + 16),
    3: ("Q4_1", 32, 2 * 2 + 16),
    6: ("Q5_0", 32, 2 + 4 + 16),
    7: ("Q5_1", 32, 2 * 2 + 4 + 16),
    8: ("Q8_0", 32, 2 + 32),
    9: ("Q8_1", 32, 2 * 2 + 32),
    10: ("Q2_K", _QK_K, 2 * 2 + _QK_K // 16 + _QK_K // 4),
    11: ("Q3_K", _QK_K, 2 + _QK_K // 4 + _QK_K // 8 + 12),
    12: ("Q4_K", _QK_K, 2 * 2 + 12 + _QK_K // 2),
    13: ("Q5_K", _QK_K, 2 * 2 + 12 + _QK_K // 2 + _QK_K // 8),
    14: ("Q6_K", _QK_K, 2 + _QK_K // 16 + 3 * _QK_K // 4),
    15: ("Q8_K", _QK_K, 4 + _QK_K + (_QK_K // 16) * 2),
    16: ("IQ2_XXS", _QK_K, 2 + (_QK_K // 8) * 2),
    17: ("IQ2_XS", _QK_K, 2 + (_QK_K // 8) * 2 + _QK_K // 32),
    18: ("IQ3_XXS", _QK_K, 2 + 3 * (_QK_K // 8)),
    19: ("IQ1_S", _QK_K, 2 + _QK_K // 8 + _QK_K // 16),
    20: ("IQ4_NL", 32, 2 + 16),
    21: ("IQ3_S", _QK_K, 2 + 13 * (_QK_K // 32) + _QK_K // 64),
    22: ("IQ2_S", _QK_K, 2 + _QK_K // 4 + _QK_K // 16),
    23: ("IQ4_XS", _QK_K, 2 + 2 + _QK_K // 64 + _QK_K // 2),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", _QK_K, _QK_K // 8 + _QK_K // 16 + _QK_K // 32),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", _QK_K, 2 + _QK_K // 64 + (_QK_K - 4 * (_QK_K // 64)) // 5),
    35: ("TQ2_0", _QK_K, 2 + _QK_K // 4),
    39: ("MXFP4", 32, 1 + 16),
    40: ("NVFP4", 64, 4 + 32),
    41: ("Q1_0", 128, 2 + 128 // 8),
    42: ("Q2_0", 64, 2 + 64 // 4),
}

GGML_TYPES: dict[int, GgmlType] = {i: GgmlType(i, n, b, s) for i, (n, b, s) in _TYPE_TABLE.items()}
_BY_NAME: dict[str, GgmlType] = {t.name: t for t in GGML_TYPES.values()}


def ggml_type(name_or_id: str | int) -> GgmlType:
    """Look a ggml type up by id (``12``) or name (``"q4_k"``, ``"Q4_K"``, ``"f16"``)."""
    if isinstance(name_or_id, int):
        t = GGML_TYPES.get(name_or_id)
    else:
        t = _BY_NAME.get(name_or_id.upper())
    if t is None:
        raise KeyError(f"unknown ggml type {name_or_id!r}")
    return t


def bytes_per_element(name_or_id: str | int) -> float:
    """Average bytes per element of a ggml type (``"q8_0"`` -> 1.0625); for KV-cache sizing."""
    return ggml_type(name_or_id).bytes_per_element


def tensor_nbytes(shape: tuple[int, ...], t: GgmlType) -> int:
    """Bytes of a tensor of ``shape`` (ne0 first, as GGUF stores it) in type ``t``."""
    n = 1
    for d in shape[1:]:
        n *= d
    ne0 = shape[0] if shape else 1
    return (ne0 // t.block_size) * t.type_size * n


# ---------------------------------------------------------------------------
# values


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]  # ne0 first (the fastest-varying dimension), as stored
    ggml_type: int
    type_name: str
    offset: int  # relative to the start of the data section
    nbytes: int


@dataclass(frozen=True)
class GgufHeader:
    version: int
    metadata: dict[str, Any]
    tensors: tuple[TensorInfo, ...]
    alignment: int
    data_offset: int  # absolute file offset where tensor data starts

    @property
    def tensor_bytes(self) -> int:
        return sum(t.nbytes for t in self.tensors)

    @property
    def architecture(self) -> str | None:
        return self.metadata.get("general.architecture")

    def arch_value(self, key: str, default: Any = None) -> Any:
        """``metadata["<architecture>.<key>"]``, e.g. ``arch_value("block_count")``."""
        arch = self.architecture
        if arch is None:
            return default
        return self.metadata.get(f"{arch}.{key}", default)

    @property
    def data_end(self) -> int:
        """Absolute offset of the end of the last tensor's data (what the file must hold)."""
        end = max((t.offset + t.nbytes for t in self.tensors), default=0)
        return self.data_offset + end

    def type_counts(self) -> dict[str, int]:
        """How many tensors of each ggml type (``{"Q4_1": 210, "F32": 61}``)."""
        out: dict[str, int] = {}
        for t in self.tensors:
            out[t.type_name] = out.get(t.type_name, 0) + 1
        return out


# ---------------------------------------------------------------------------
# errors


class NeedMoreBytes(Exception):
    """The buffer ends inside the header; ``needed`` is a lower bound of the prefix length required."""

    def __init__(self, needed: int):
        super().__init__(f"GGUF header needs at least {needed} bytes")
        self.needed = needed


class GgufError(InvalidInputError):
    """A file that is not a usable GGUF file; the message names the file and the fault."""


# ---------------------------------------------------------------------------
# parser

# GGUF value type id -> struct format (scalars)
_SCALARS: dict[int, str] = {
    0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d",
}
_T_STRING = 8
_U64 = struct.Struct("<Q")
_T_ARRAY = 9
_MAX_ARRAY_DEPTH = 4
_MAX_COUNT = 1 << 40  # anything above is a corrupt length, not a real header


class _Reader:
    __slots__ = ("buf", "pos", "source")

    def __init__(self, buf: bytes | bytearray | memoryview, source: str):
        self.buf = buf
        self.pos = 0
        self.source = source

    def need(self, n: int) -> None:
        if self.pos + n > len(self.buf):
            raise NeedMoreBytes(self.pos + n)

    def unpack(self, fmt: str) -> Any:
        s = struct.Struct("<" + fmt)
        self.need(s.size)
        (v,) = s.unpack_from(self.buf, self.pos)
        self.pos += s.size
        return v

    def u32(self) -> int:
        return self.unpack("I")

    def u64(self) -> int:
        return self.unpack("Q")

    def count(self, what: str) -> int:
        n = self.u64()
        if n > _MAX_COUNT:
            raise GgufError(f"{self.source}: corrupt header: {what} is {n}, far beyond any real file.")
        return n

    def string(self) -> str:
        n = self.count("a string length")
        self.need(n)
        out = str(self.buf[self.pos : self.pos + n], "utf-8", "replace")
        self.pos += n
        return out

    def string_array(self, n: int) -> list[str]:
        # The hot loop of every header (vocabularies have 30k-250k tokens): kept flat.
        buf, pos, end = self.buf, self.pos, len(self.buf)
        unpack = _U64.unpack_from
        out: list[str] = []
        append = out.append
        for i in range(n):
            if pos + 8 > end:
                raise NeedMoreBytes(pos + 8 * (n - i))
            (ln,) = unpack(buf, pos)
            pos += 8
            if ln > _MAX_COUNT:
                raise GgufError(f"{self.source}: corrupt header: a string length is {ln}.")
            if pos + ln > end:
                raise NeedMoreBytes(pos + ln + 8 * (n - i - 1))
            append(str(buf[pos : pos + ln], "utf-8", "replace"))
            pos += ln
        self.pos = pos
        return out

    def value(self, vtype: int, depth: int = 0) -> Any:
        fmt = _SCALARS.get(vtype)
        if fmt is not None:
            return self.unpack(fmt)
        if vtype == _T_STRING:
            return self.string()
        if vtype == _T_ARRAY:
            if depth >= _MAX_ARRAY_DEPTH:
                raise GgufError(f"{self.source}: corrupt header: arrays nested deeper than {_MAX_ARRAY_DEPTH}.")
            etype = self.u32()
            n = self.count("an array length")
            efmt = _SCALARS.get(etype)
            if efmt is not None:  # numeric arrays in one unpack
                s = struct.Struct(f"<{n}{efmt}")
                self.need(s.size)
                out = list(s.unpack_from(self.buf, self.pos))
                self.pos += s.size
                return out
            if etype == _T_STRING:
                return self.string_array(n)
            return [self.value(etype, depth + 1) for _ in range(n)]
        raise GgufError(f"{self.source}: corrupt header: unknown metadata value type {vtype} at byte {self.pos - 4}.")


def _check_magic_version(buf: bytes | bytearray | memoryview, source: str) -> int:
    if len(buf) < 4:
        raise NeedMoreBytes(8)
    magic = bytes(buf[:4])
    if magic != MAGIC:
        raise GgufError(f"{source}: not a GGUF file (starts with {magic!r}, expected {MAGIC!r}).")
    if len(buf) < 8:
        raise NeedMoreBytes(8)
    (version,) = struct.unpack_from("<I", buf, 4)
    if version not in SUPPORTED_VERSIONS:
        (big,) = struct.unpack_from(">I", buf, 4)
        if big in SUPPORTED_VERSIONS:
            raise GgufError(f"{source}: big-endian GGUF (version {big}) is not supported; use a little-endian file.")
        raise GgufError(
            f"{source}: unsupported GGUF version {version} (aistack reads versions "
            f"{', '.join(map(str, SUPPORTED_VERSIONS))})."
        )
    return version


def parse_header(buf: bytes | bytearray | memoryview, *, source: str = "GGUF data") -> GgufHeader:
    """Parse the header in ``buf`` (the whole file or any prefix of it).

    Raises ``NeedMoreBytes`` when ``buf`` ends before the header does, and
    ``GgufError`` when the bytes are not a valid GGUF header. ``source`` names
    the data in error messages.
    """
    version = _check_magic_version(buf, source)
    if isinstance(buf, memoryview):
        buf = buf.tobytes()
    r = _Reader(buf, source)
    r.pos = 8
    n_tensors = r.count("the tensor count")
    n_kv = r.count("the metadata count")

    metadata: dict[str, Any] = {}
    for _ in range(n_kv):
        key = r.string()
        vtype = r.u32()
        metadata[key] = r.value(vtype)

    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or isinstance(alignment, bool) or alignment <= 0 or alignment & (alignment - 1):
        raise GgufError(f"{source}: general.alignment is {alignment!r}, not a power of two.")

    tensors: list[TensorInfo] = []
    for _ in range(n_tensors):
        name = r.string()
        n_dims = r.u32()
        if n_dims > MAX_DIMS:
            raise GgufError(f"{source}: tensor '{name}' has {n_dims} dimensions (at most {MAX_DIMS}).")
        r.need(8 * n_dims)
        shape = struct.unpack_from(f"<{n_dims}q", r.buf, r.pos)
        r.pos += 8 * n_dims
        if any(d < 0 for d in shape):
            raise GgufError(f"{source}: tensor '{name}' has a negative dimension {shape}.")
        type_id = r.u32()
        offset = r.u64()
        t = GGML_TYPES.get(type_id)
        if t is None:
            raise GgufError(
                f"{source}: tensor '{name}' has ggml type {type_id}, which this aistack does not know "
                f"(a newer quantisation?)."
            )
        if shape and shape[0] % t.block_size:
            raise GgufError(
                f"{source}: tensor '{name}' row length {shape[0]} is not a multiple of the "
                f"{t.name} block size {t.block_size}."
            )
        if offset % alignment:
            raise GgufError(f"{source}: tensor '{name}' data offset {offset} is not aligned to {alignment}.")
        tensors.append(TensorInfo(name, tuple(shape), type_id, t.name, offset, tensor_nbytes(tuple(shape), t)))

    header_end = r.pos
    data_offset = header_end + (-header_end % alignment) if n_tensors else header_end
    return GgufHeader(
        version=version,
        metadata=metadata,
        tensors=tuple(tensors),
        alignment=alignment,
        data_offset=data_offset,
    )


_FIRST_READ = 1 << 20  # 1 MiB covers most headers; vocabularies of 150k+ tokens need a few more


def _read_prefix(fh, path: Path, size: int) -> GgufHeader:
    buf = bytearray()
    want = min(_FIRST_READ, size)
    while True:
        if want > len(buf):
            fh.seek(len(buf))
            buf += fh.read(want - len(buf))
        try:
            return parse_header(buf, source=str(path))
        except NeedMoreBytes as more:
            if len(buf) >= size:
                raise GgufError(
                    f"{path}: truncated header: the file is {size} bytes but its header needs at least "
                    f"{more.needed} (an interrupted download?)."
                ) from None
            want = min(size, max(more.needed, 2 * len(buf)))


def read_header(path: str | os.PathLike) -> GgufHeader:
    """Parse the header of a local GGUF file, reading only as much as the header needs."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            return _read_prefix(fh, path, size)
    except FileNotFoundError:
        raise GgufError(f"{path}: no such file.") from None
    except IsADirectoryError:
        raise GgufError(f"{path}: is a directory, not a GGUF file.") from None


def validate_file(path: str | os.PathLike, *, layout_cache: str | os.PathLike | None = None) -> GgufHeader:
    """Check ``path`` is a complete GGUF file: header parses and all tensor data is present.

    Raises ``GgufError`` naming the file and the fault (not a GGUF, unsupported
    version, truncated header, tensor data past the end of the file). With
    ``layout_cache`` the header comes from ``read_layout`` (parsed once per
    file identity; array metadata left out) and the size checks run as usual.
    """
    path = Path(path)
    header = read_layout(path, layout_cache) if layout_cache is not None else read_header(path)
    size = path.stat().st_size
    if header.data_offset > size:
        raise GgufError(f"{path}: truncated: the header ends at byte {header.data_offset}, the file has {size}.")
    end = header.data_end
    if end > size:
        short = end - size
        raise GgufError(
            f"{path}: tensor data past end of file ({short} bytes short: the tensors need "
            f"{end} bytes, the file has {size}). The file is truncated (an interrupted download?).",
            details={"path": str(path), "file_bytes": size, "needed_bytes": end, "short_bytes": short},
        )
    return header


# ---------------------------------------------------------------------------
# a remembered layout, for planning

def read_layout(path: str | os.PathLike, cache_dir: str | os.PathLike | None) -> GgufHeader:
    """The header of a local file without its array metadata (vocabularies,
    merges), remembered under ``cache_dir`` while the file's path, size, mtime
    and inode stay the same.

    Parsing a header means walking its vocabulary (tens of ms for 50k tokens);
    planning needs only the tensor table and scalar metadata, so a re-run of
    ``up`` reads a small JSON file instead. A missing or damaged cache entry
    just parses the file again.
    """
    import hashlib
    import json

    path = Path(path).resolve()
    try:
        st = path.stat()
    except FileNotFoundError:
        raise GgufError(f"{path}: no such file.") from None
    key = f"{path}:{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"
    entry = Path(cache_dir) / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".json") if cache_dir else None
    if entry is not None:
        try:
            d = json.loads(entry.read_text(encoding="utf-8"))
            if d.get("key") == key:
                return GgufHeader(
                    version=d["version"],
                    metadata=d["metadata"],
                    tensors=tuple(TensorInfo(t[0], tuple(t[1]), t[2], t[3], t[4], t[5]) for t in d["tensors"]),
                    alignment=d["alignment"],
                    data_offset=d["data_offset"],
                )
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            pass
    full = read_header(path)
    light = GgufHeader(
        version=full.version,
        metadata={k: v for k, v in full.metadata.items() if not isinstance(v, list)},
        tensors=full.tensors,
        alignment=full.alignment,
        data_offset=full.data_offset,
    )
    if entry is not None:
        blob = {
            "key": key,
            "version": light.version,
            "metadata": light.metadata,
            "tensors": [[t.name, list(t.shape), t.ggml_type, t.type_name, t.offset, t.nbytes] for t in light.tensors],
            "alignment": light.alignment,
            "data_offset": light.data_offset,
        }
        from aistack import atomicfile

        try:
            atomicfile.write_json(entry, blob, indent=None)
        except OSError:
            pass  # not remembered: the next call parses again
    return light
