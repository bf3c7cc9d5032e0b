"""The values the planner takes and returns: ``Request`` in, ``Plan`` out.

Both are frozen and JSON round-trippable. Every user-settable value carries
where it came from (``Source``): a CLI flag, the environment, the config or
state file, a built-in default, or the planner's own choice ("auto").
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from aistack import values

PLAN_SCHEMA_VERSION = 1

Source = Literal["flag", "env", "config", "state", "default", "auto"]
T = TypeVar("T")


@dataclass(frozen=True)
class Sourced(Generic[T]):
    """A setting together with where it came from."""

    value: T
    source: Source = "default"


@dataclass(frozen=True)
class Request:
    """What the user asked for. ``None`` in ``value`` means "choose for me"."""

    model: Sourced[str | None] = Sourced(None)
    quant: Sourced[str | None] = Sourced(None)
    backend: Sourced[str | None] = Sourced(None)  # "llama.cpp", "mlx", "ternary"
    ctx_tokens: Sourced[int | None] = Sourced(None)
    runtime: Sourced[str | None] = Sourced(None)  # "embedded", "docker", "systemd", "launchd"
    purpose: Sourced[str] = Sourced("chat")
    host: Sourced[str] = Sourced("127.0.0.1")
    port: Sourced[int] = Sourced(8080)
    parallel_slots: Sourced[int | None] = Sourced(None)
    draft: Sourced[bool] = Sourced(True)  # allow a draft model when the recipe pairs one


@dataclass(frozen=True)
class ArtifactRef:
    """A file (or repository) the plan needs on disk before it can serve."""

    kind: Literal["gguf", "mlx", "ternary-gguf"]
    uri: str  # hf://owner/repo@rev/file, https://..., file://..., pypi://dist==ver/path
    filename: str
    size_bytes: int | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class RuntimeParams:
    ctx_tokens: int
    n_gpu_layers: int  # 0 = CPU only; n_layers+1 (or 999) = everything
    threads: int
    threads_batch: int
    batch_tokens: int
    ubatch_tokens: int
    flash_attn: bool
    cache_type_k: str = "f16"
    cache_type_v: str = "f16"
    parallel_slots: int = 1
    tensor_split: tuple[float, ...] = ()  # multi-GPU proportions, empty = single device
    main_gpu: int = 0
    visible_devices: tuple[int, ...] = ()  # GPU indices the service may see
    mlock: bool = False
    draft_model_id: str | None = None
    draft_n_gpu_layers: int = 0
    draft_max_tokens: int = 16


@dataclass(frozen=True)
class DeviceMemory:
    """Predicted memory on one device ("cpu", "gpu0", "gpu1", "unified")."""

    device: str
    weights_bytes: int
    kv_cache_bytes: int
    compute_bytes: int
    overhead_bytes: int
    capacity_bytes: int  # what the planner allowed itself on this device (after margins)

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.kv_cache_bytes + self.compute_bytes + self.overhead_bytes


@dataclass(frozen=True)
class Alternative:
    """A candidate the planner considered and did not take, and why."""

    what: str  # "qwen2.5-14b-instruct Q6_K on llama.cpp-cuda"
    reason: str  # "needs 13.9 GiB on gpu0, 12.8 GiB usable"


@dataclass(frozen=True)
class Setting:
    """One line of provenance: a resolved value and where it came from."""

    name: str
    value: str
    source: Source
    note: str | None = None


@dataclass(frozen=True)
class Plan:
    backend: str  # "llama.cpp", "mlx", "ternary"
    build: str  # "cuda", "cpu", "metal", "vulkan", "rocm", "mlx", "bitnet-cpu"
    model_id: str
    quant: str  # "Q4_K_M", "4bit", "i2_s", ...
    artifact: ArtifactRef
    params: RuntimeParams
    supervisor: str  # "embedded", "docker", "systemd", "launchd"
    host: str
    port: int
    api_key_required: bool
    memory: tuple[DeviceMemory, ...]
    predicted_decode_tps: float | None
    speed_basis: str  # how the tokens/s figure was derived
    draft_artifact: ArtifactRef | None = None
    purpose: str = "chat"
    reasons: tuple[str, ...] = ()  # why this choice, in words
    rejected: tuple[Alternative, ...] = ()
    settings: tuple[Setting, ...] = ()
    warnings: tuple[str, ...] = ()
    schema_version: int = PLAN_SCHEMA_VERSION

    def to_dict(self) -> dict:
        return values.to_dict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Plan":
        return values.from_dict(cls, data)

    def fingerprint(self) -> str:
        """Hash of everything that changes what runs (not the explanations).

        Two plans with the same fingerprint need no restart.
        """
        d = self.to_dict()
        for k in ("reasons", "rejected", "settings", "warnings", "predicted_decode_tps", "speed_basis", "memory"):
            d.pop(k, None)
        blob = json.dumps(d, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]
