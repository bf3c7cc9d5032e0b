"""The catalog's value types: a ``Recipe`` per model, held in a ``Catalog``.

All frozen. A recipe is what ``recipes/<id>.toml`` says, validated; see
``aistack.catalog.loader`` for the file format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from aistack.catalog.quants import ArtifactKind, Quant, lookup

PURPOSES = ("chat", "code", "reasoning")


@dataclass(frozen=True)
class Arch:
    """The architecture numbers the memory model needs (from the model's config)."""

    type: str  # GGUF general.architecture: "llama", "qwen2", "qwen3moe", "gemma3", "deepseek2", "bitnet-b1.58"
    n_layers: int
    n_embd: int
    n_head: int
    n_head_kv: int
    head_dim_k: int  # per-head K width as cached (MLA: kv_lora_rank + rope dim, see below)
    head_dim_v: int
    vocab_size: int
    ctx_train: int
    n_ff: int | None = None
    tied_embeddings: bool = False
    # Sliding-window attention: window in tokens, and the layout. With
    # swa_period = P, every P-th layer (1-based) is global and the other P-1
    # are sliding (Gemma 3: window 1024, period 6 -> 5 local : 1 global).
    sliding_window: int | None = None
    swa_period: int | None = None
    # Multi-head latent attention (DeepSeek V2/V3): the cache holds one
    # compressed latent of kv_lora_rank plus the shared rope key per token.
    kv_lora_rank: int | None = None
    rope_head_dim: int | None = None
    # Mixture of experts
    n_expert: int = 0
    n_expert_used: int = 0

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank is not None

    @property
    def n_swa_layers(self) -> int:
        if not self.sliding_window or not self.swa_period:
            return 0
        return self.n_layers - self.n_layers // self.swa_period


@dataclass(frozen=True)
class Artifact:
    """One downloadable form of a model: a GGUF file, an MLX repo, a ternary GGUF."""

    kind: ArtifactKind
    quant: str
    uri: str
    size_bytes: int | None = None
    sha256: str | None = None
    bits_per_weight: float | None = None  # overrides the quant table's figure
    quality_penalty: float | None = None  # overrides the quant table's figure

    @property
    def filename(self) -> str:
        return self.uri.rstrip("/").rsplit("/", 1)[-1].split("@", 1)[0]

    @property
    def quant_info(self) -> Quant:
        q = lookup(self.kind, self.quant)
        assert q is not None, (self.kind, self.quant)  # the loader validated it
        return q

    @property
    def effective_bpw(self) -> float:
        return self.bits_per_weight if self.bits_per_weight is not None else self.quant_info.bits_per_weight

    @property
    def penalty(self) -> float:
        return self.quality_penalty if self.quality_penalty is not None else self.quant_info.penalty

    @property
    def quality_rank(self) -> int:
        return int(round(100 - self.penalty * 3))


@dataclass(frozen=True)
class Recipe:
    id: str
    name: str
    family: str
    tokenizer: str  # draft pairing needs the same tokenizer family
    license: str
    purposes: tuple[str, ...]
    quality: Mapping[str, float]  # model-level score per purpose, 0-100, comparable across recipes
    params_total: int
    arch: Arch
    params_active: int | None = None  # MoE: parameters read per token
    artifacts: tuple[Artifact, ...] = ()
    draft: str | None = None  # recipe id of a speculative-decoding draft model
    aliases: tuple[str, ...] = ()
    offline: bool = False  # its artifact ships in a package available without the model hubs
    notes: str | None = None
    source_file: str = ""

    @property
    def active_params(self) -> int:
        return self.params_active or self.params_total

    def artifacts_of(self, kind: str) -> tuple[Artifact, ...]:
        return tuple(a for a in self.artifacts if a.kind == kind)

    def score(self, purpose: str) -> float | None:
        """Model-level quality for a purpose, or None when it does not serve it."""
        if purpose not in self.purposes:
            return None
        return float(self.quality.get(purpose, self.quality.get("chat", 0.0)))


@dataclass(frozen=True)
class Catalog:
    recipes: tuple[Recipe, ...]
    sources: tuple[str, ...] = field(default=())  # directories read, in order

    def find(self, name: str) -> Recipe | None:
        key = name.lower()
        for r in self.recipes:
            if r.id.lower() == key or key in (a.lower() for a in r.aliases):
                return r
        return None

    def get(self, name: str) -> Recipe:
        r = self.find(name)
        if r is None:
            from aistack.errors import UnsatisfiableError

            near = [x.id for x in self.recipes if name.lower() in x.id.lower()][:8]
            raise UnsatisfiableError(
                f"No model called '{name}' in the catalog ({len(self.recipes)} recipes).",
                hint=("Did you mean: " + ", ".join(near)) if near else "List them with: aistack models list",
            )
        return r

    def ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.recipes)

    def for_purpose(self, purpose: str) -> tuple[Recipe, ...]:
        return tuple(r for r in self.recipes if purpose in r.purposes)

    def artifact(self, uri: str) -> tuple[Recipe, Artifact] | None:
        for r in self.recipes:
            for a in r.artifacts:
                if a.uri == uri:
                    return r, a
        return None
