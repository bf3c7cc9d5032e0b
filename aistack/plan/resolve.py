"""Build a ``Request`` from flags, environment and config, with provenance.

Precedence, highest first: a CLI flag, the environment (``AISTACK_MODEL``,
``AISTACK_QUANT``, ``AISTACK_BACKEND``, ``AISTACK_CTX``, ``AISTACK_RUNTIME``,
``AISTACK_HOST``, ``AISTACK_PORT``, ``AISTACK_PURPOSE``), the ``[plan]`` table
of config.toml (keys model, quant, backend, ctx, runtime, host, port, purpose,
parallel, draft), then the built-in default. Each value in the Request says
which of these it came from. Pure: the caller passes the mappings in.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from aistack.catalog.model import PURPOSES
from aistack.errors import UsageError
from aistack.plan.model import Request, Sourced

BACKENDS = ("llama.cpp", "mlx", "ternary")
RUNTIMES = ("embedded", "docker", "systemd", "launchd")

# request field -> (flag key, env var, config key)
_FIELDS: dict[str, tuple[str, str | None, str]] = {
    "model": ("model", "AISTACK_MODEL", "model"),
    "quant": ("quant", "AISTACK_QUANT", "quant"),
    "backend": ("backend", "AISTACK_BACKEND", "backend"),
    "ctx_tokens": ("ctx", "AISTACK_CTX", "ctx"),
    "runtime": ("runtime", "AISTACK_RUNTIME", "runtime"),
    "purpose": ("purpose", "AISTACK_PURPOSE", "purpose"),
    "host": ("host", "AISTACK_HOST", "host"),
    "port": ("port", "AISTACK_PORT", "port"),
    "parallel_slots": ("parallel", None, "parallel"),
    "draft": ("draft", None, "draft"),
}


def _int(name: str, where: str, lo: int, hi: int) -> Callable[[Any], int]:
    def conv(v: Any) -> int:
        try:
            n = int(v) if not isinstance(v, bool) else None
        except (TypeError, ValueError):
            n = None
        if n is None or not lo <= n <= hi:
            raise UsageError(f"{name} from {where} must be an integer {lo}..{hi}, got {v!r}. Nothing was changed.",
                             hint=f"Fix the {name} value in {where}.")
        return n
    return conv


def _choice(name: str, where: str, choices: tuple[str, ...]) -> Callable[[Any], str]:
    def conv(v: Any) -> str:
        if not isinstance(v, str) or v not in choices:
            raise UsageError(f"{name} from {where} must be one of {', '.join(choices)}, got {v!r}. Nothing was changed.",
                             hint=f"Fix the {name} value in {where}.")
        return v
    return conv


def _str(name: str, where: str) -> Callable[[Any], str]:
    def conv(v: Any) -> str:
        if not isinstance(v, str) or not v.strip():
            raise UsageError(f"{name} from {where} must be a non-empty string, got {v!r}.", hint=f"Fix it in {where}.")
        return v.strip()
    return conv


def _bool(name: str, where: str) -> Callable[[Any], bool]:
    def conv(v: Any) -> bool:
        if isinstance(v, bool):
            return v
        if isinstance(v, str) and v.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            return v.lower() in ("1", "true", "yes", "on")
        raise UsageError(f"{name} from {where} must be true or false, got {v!r}.", hint=f"Fix it in {where}.")
    return conv


def _converter(field: str, where: str) -> Callable[[Any], Any]:
    return {
        "model": _str("model", where),
        "quant": _str("quant", where),
        "backend": _choice("backend", where, BACKENDS),
        "ctx_tokens": _int("ctx", where, 256, 4_194_304),
        "runtime": _choice("runtime", where, RUNTIMES),
        "purpose": _choice("purpose", where, PURPOSES),
        "host": _str("host", where),
        "port": _int("port", where, 1, 65535),
        "parallel_slots": _int("parallel", where, 1, 256),
        "draft": _bool("draft", where),
    }[field]


def build_request(flags: Mapping[str, object], environ: Mapping[str, str], config: Mapping) -> Request:
    """Resolve every request field; ``None`` flags mean "not given"."""
    plan_cfg = config.get("plan", {}) if isinstance(config, Mapping) else {}
    if not isinstance(plan_cfg, Mapping):
        raise UsageError("config.toml: [plan] must be a table.", hint="Fix config.toml.")
    unknown = set(plan_cfg) - {cfg for _, _, cfg in _FIELDS.values()}
    if unknown:
        raise UsageError(f"config.toml [plan]: unknown key(s) {sorted(unknown)}. Nothing was changed.",
                         hint="Known keys: " + ", ".join(sorted(c for _, _, c in _FIELDS.values())))
    defaults = Request()
    out: dict[str, Sourced] = {}
    for field, (flag, env, cfg) in _FIELDS.items():
        if flags.get(flag) is not None:
            out[field] = Sourced(_converter(field, f"--{flag}")(flags[flag]), "flag")
        elif env and environ.get(env, "") != "":
            out[field] = Sourced(_converter(field, f"${env}")(environ[env]), "env")
        elif cfg in plan_cfg:
            out[field] = Sourced(_converter(field, f"config.toml [plan] {cfg}")(plan_cfg[cfg]), "config")
        else:
            out[field] = getattr(defaults, field)
    return Request(**out)
