"""Read ``recipes/*.toml`` into a validated ``Catalog``.

One file per model; adding a model is adding a file. The format::

    id = "qwen2.5-7b-instruct"          # unique; what --model takes
    name = "Qwen2.5 7B Instruct"
    family = "qwen2.5"
    tokenizer = "qwen2"                 # draft models must share it
    license = "apache-2.0"
    purposes = ["chat", "code"]         # chat | code | reasoning
    params_total = 7615616512
    params_active = ...                 # MoE only
    aliases = ["qwen2.5-7b"]            # optional
    draft = "qwen2.5-0.5b-instruct"     # optional, a recipe id
    offline = false                     # optional
    notes = "..."                       # optional

    [quality]                           # 0-100 per purpose, comparable across files
    chat = 70

    [arch]                              # see aistack.catalog.model.Arch
    type = "qwen2"
    n_layers = 28
    ...

    [[gguf]]                            # also [[mlx]] and [[ternary]]
    quant = "Q4_K_M"                    # must be a known quant of that kind
    uri = "hf://owner/repo@rev/file.gguf"
    size_bytes = 123                    # only when truly known
    sha256 = "..."                      # only when truly known

Every key is checked: a missing or unknown key, a wrong type, an unknown
quantisation, a bad URI or checksum fails with ``InvalidInputError`` naming
the file and the key. The shipped recipes come from the package; directories
in ``AISTACK_RECIPES_DIR`` (``os.pathsep``-separated) add recipes or replace
shipped ones with the same id.
"""

from __future__ import annotations

import os
import re
from dataclasses import fields
from pathlib import Path
from typing import Any, Mapping

from aistack.catalog.model import PURPOSES, Arch, Artifact, Catalog, Recipe
from aistack.catalog.quants import lookup, names
from aistack.errors import InvalidInputError

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - 3.10
    import tomli as tomllib  # type: ignore[no-redef]

SCHEMES = ("hf", "https", "http", "file", "pypi")
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_SHA = re.compile(r"^[0-9a-f]{64}$")

_TOP: dict[str, tuple[type | tuple[type, ...], bool]] = {
    # key: (type, required)
    "id": (str, True),
    "name": (str, True),
    "family": (str, True),
    "tokenizer": (str, True),
    "license": (str, True),
    "purposes": (list, True),
    "quality": (dict, True),
    "params_total": (int, True),
    "params_active": (int, False),
    "arch": (dict, True),
    "gguf": (list, False),
    "mlx": (list, False),
    "ternary": (list, False),
    "draft": (str, False),
    "aliases": (list, False),
    "offline": (bool, False),
    "notes": (str, False),
}
_ARTIFACT_KEYS: dict[str, tuple[type | tuple[type, ...], bool]] = {
    "quant": (str, True),
    "uri": (str, True),
    "size_bytes": (int, False),
    "sha256": (str, False),
    "bits_per_weight": ((int, float), False),
    "quality_penalty": ((int, float), False),
}
_KIND = {"gguf": "gguf", "mlx": "mlx", "ternary": "ternary-gguf"}


def _arch_schema() -> dict[str, tuple[type | tuple[type, ...], bool]]:
    import typing

    hints = typing.get_type_hints(Arch)
    out: dict[str, tuple[type | tuple[type, ...], bool]] = {}
    for f in fields(Arch):
        required = f.default is f.default_factory  # both MISSING
        tp = hints[f.name]
        base = int if int in typing.get_args(tp) or tp is int else bool if tp is bool else str
        out[f.name] = (base, required)
    return out


class _Checker:
    def __init__(self, file: Path):
        self.file = file

    def fail(self, key: str, problem: str) -> InvalidInputError:
        return InvalidInputError(
            f"Recipe {self.file}: key '{key}': {problem}. The catalog was not loaded.",
            hint="Fix or remove that file (recipes are described in aistack/catalog/loader.py).",
            details={"file": str(self.file), "key": key},
        )

    def table(self, data: Mapping[str, Any], schema: Mapping[str, tuple[Any, bool]], prefix: str) -> dict:
        for key in data:
            if key not in schema:
                raise self.fail(prefix + key, f"unknown key (known: {', '.join(sorted(schema))})")
        out = {}
        for key, (tp, required) in schema.items():
            if key not in data:
                if required:
                    raise self.fail(prefix + key, "missing")
                continue
            value = data[key]
            ok = isinstance(value, tp) and not (isinstance(value, bool) and tp in (int, (int, float)))
            if not ok:
                want = tp.__name__ if isinstance(tp, type) else " or ".join(t.__name__ for t in tp)
                raise self.fail(prefix + key, f"expected {want}, got {type(value).__name__} {value!r}")
            if isinstance(value, int) and not isinstance(value, bool) and value < 0:
                raise self.fail(prefix + key, f"must not be negative, got {value}")
            out[key] = value
        return out

    def strings(self, value: list, key: str) -> tuple[str, ...]:
        for i, v in enumerate(value):
            if not isinstance(v, str):
                raise self.fail(f"{key}[{i}]", f"expected str, got {type(v).__name__} {v!r}")
        return tuple(value)


def parse_recipe(data: Mapping[str, Any], file: Path) -> Recipe:
    """Validate one recipe table (a parsed TOML file)."""
    c = _Checker(file)
    top = c.table(data, _TOP, "")
    rid = top["id"]
    if not _ID.match(rid):
        raise c.fail("id", f"'{rid}' must be lower-case letters, digits, '.', '-' or '_'")
    purposes = c.strings(top["purposes"], "purposes")
    if not purposes:
        raise c.fail("purposes", "needs at least one of " + ", ".join(PURPOSES))
    for i, p in enumerate(purposes):
        if p not in PURPOSES:
            raise c.fail(f"purposes[{i}]", f"'{p}' is not one of {', '.join(PURPOSES)}")
    quality: dict[str, float] = {}
    for k, v in top["quality"].items():
        if k not in purposes:
            raise c.fail(f"quality.{k}", f"not one of this recipe's purposes {list(purposes)}")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 100:
            raise c.fail(f"quality.{k}", f"expected a number 0-100, got {v!r}")
        quality[k] = float(v)
    if "chat" in purposes and "chat" not in quality:
        raise c.fail("quality.chat", "missing")

    arch_fields = c.table(top["arch"], _arch_schema(), "arch.")
    arch = Arch(**arch_fields)
    for key in ("n_layers", "n_embd", "n_head", "n_head_kv", "head_dim_k", "head_dim_v", "vocab_size", "ctx_train"):
        if getattr(arch, key) <= 0:
            raise c.fail(f"arch.{key}", "must be positive")
    if arch.n_head % arch.n_head_kv:
        raise c.fail("arch.n_head_kv", f"{arch.n_head} heads are not a multiple of {arch.n_head_kv} KV heads")
    if (arch.sliding_window is None) != (arch.swa_period is None):
        raise c.fail("arch.swa_period", "sliding_window and swa_period go together")
    if (arch.kv_lora_rank is None) != (arch.rope_head_dim is None):
        raise c.fail("arch.rope_head_dim", "kv_lora_rank and rope_head_dim go together (MLA)")
    if arch.n_expert_used > arch.n_expert:
        raise c.fail("arch.n_expert_used", f"{arch.n_expert_used} > n_expert {arch.n_expert}")

    params_active = top.get("params_active")
    if params_active is not None and params_active > top["params_total"]:
        raise c.fail("params_active", "larger than params_total")

    artifacts: list[Artifact] = []
    for table, kind in _KIND.items():
        for i, raw in enumerate(top.get(table, [])):
            prefix = f"{table}[{i}]."
            if not isinstance(raw, dict):
                raise c.fail(f"{table}[{i}]", "expected a table ([[...]])")
            a = c.table(raw, _ARTIFACT_KEYS, prefix)
            if lookup(kind, a["quant"]) is None:
                raise c.fail(prefix + "quant", f"unknown {kind} quantisation '{a['quant']}' (known: {', '.join(names(kind))})")
            scheme = a["uri"].split("://", 1)[0] if "://" in a["uri"] else ""
            if scheme not in SCHEMES:
                raise c.fail(prefix + "uri", f"'{a['uri']}' must start with one of {', '.join(s + '://' for s in SCHEMES)}")
            if "sha256" in a and not _SHA.match(a["sha256"]):
                raise c.fail(prefix + "sha256", "expected 64 lower-case hex digits")
            if "size_bytes" in a and a["size_bytes"] == 0:
                raise c.fail(prefix + "size_bytes", "must be positive (leave it out when unknown)")
            artifacts.append(Artifact(kind=kind, **a))  # type: ignore[arg-type]
    if not artifacts:
        raise c.fail("gguf", "a recipe needs at least one [[gguf]], [[mlx]] or [[ternary]] artifact")
    seen: set[tuple[str, str]] = set()
    for a in artifacts:
        if (a.kind, a.quant) in seen:
            raise c.fail(a.kind, f"quant {a.quant} listed twice")
        seen.add((a.kind, a.quant))

    return Recipe(
        id=rid,
        name=top["name"],
        family=top["family"],
        tokenizer=top["tokenizer"],
        license=top["license"],
        purposes=purposes,
        quality=quality,
        params_total=top["params_total"],
        params_active=params_active,
        arch=arch,
        artifacts=tuple(artifacts),
        draft=top.get("draft"),
        aliases=c.strings(top.get("aliases", []), "aliases"),
        offline=top.get("offline", False),
        notes=top.get("notes"),
        source_file=str(file),
    )


def load_file(file: Path) -> Recipe:
    try:
        with open(file, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInputError(
            f"Recipe {file} is not valid TOML: {exc}. The catalog was not loaded.",
            hint="Fix or remove that file.",
            details={"file": str(file)},
        ) from None
    return parse_recipe(data, file)


def _dirs(path: str | os.PathLike | None, environ: Mapping[str, str]) -> list[Path]:
    if path is not None:
        return [Path(path)]
    from aistack.paths import package_data

    out = [package_data("recipes")]
    for extra in environ.get("AISTACK_RECIPES_DIR", "").split(os.pathsep):
        if extra:
            p = Path(extra).expanduser()
            if not p.is_dir():
                raise InvalidInputError(
                    f"AISTACK_RECIPES_DIR names {p}, which is not a directory. The catalog was not loaded.",
                    hint="Point AISTACK_RECIPES_DIR at a folder of *.toml recipes, or unset it.",
                )
            out.append(p)
    return out


def load_catalog(path: str | os.PathLike | None = None, environ: Mapping[str, str] | None = None) -> Catalog:
    """Load every recipe. ``path`` (a directory) replaces the default search.

    Default: the shipped recipes, then each directory in AISTACK_RECIPES_DIR,
    whose recipes add to or replace (same id) what came before.
    """
    env = os.environ if environ is None else environ
    dirs = _dirs(path, env)
    by_id: dict[str, Recipe] = {}
    for d in dirs:
        if not d.is_dir():
            raise InvalidInputError(f"Recipe directory {d} does not exist.", hint="Check the path.")
        in_dir: dict[str, Recipe] = {}
        for file in sorted(d.glob("*.toml")):
            r = load_file(file)
            if r.id in in_dir:
                raise _Checker(file).fail("id", f"'{r.id}' is also defined in {in_dir[r.id].source_file}")
            in_dir[r.id] = r
        by_id.update(in_dir)  # a later directory overrides an earlier one
    recipes = tuple(sorted(by_id.values(), key=lambda r: r.id))
    ids = set(by_id)
    for r in recipes:
        if r.draft is not None:
            if r.draft not in ids:
                raise _Checker(Path(r.source_file)).fail("draft", f"no recipe with id '{r.draft}'")
            if by_id[r.draft].tokenizer != r.tokenizer:
                raise _Checker(Path(r.source_file)).fail(
                    "draft", f"'{r.draft}' uses tokenizer '{by_id[r.draft].tokenizer}', this model '{r.tokenizer}'"
                )
    return Catalog(recipes=recipes, sources=tuple(str(d) for d in dirs))
