"""Request resolution: flag > env > config [plan] > default, with provenance."""

from __future__ import annotations

import pytest

from aistack.errors import UsageError
from aistack.plan.resolve import build_request


def test_precedence_and_provenance():
    req = build_request(
        {"model": "qwen3-8b", "ctx": None, "port": None},
        {"AISTACK_CTX": "4096", "AISTACK_PORT": "9000", "AISTACK_MODEL": "ignored-because-flag"},
        {"plan": {"port": 7000, "purpose": "code", "runtime": "embedded"}},
    )
    assert (req.model.value, req.model.source) == ("qwen3-8b", "flag")
    assert (req.ctx_tokens.value, req.ctx_tokens.source) == (4096, "env")
    assert (req.port.value, req.port.source) == (9000, "env")
    assert (req.purpose.value, req.purpose.source) == ("code", "config")
    assert (req.runtime.value, req.runtime.source) == ("embedded", "config")
    assert (req.host.value, req.host.source) == ("127.0.0.1", "default")
    assert (req.quant.value, req.quant.source) == (None, "default")


def test_empty_env_is_not_set():
    req = build_request({}, {"AISTACK_MODEL": ""}, {})
    assert req.model.source == "default"


@pytest.mark.parametrize(
    "flags, env, config, where",
    [
        ({"port": 0}, {}, {}, "--port"),
        ({}, {"AISTACK_CTX": "lots"}, {}, "$AISTACK_CTX"),
        ({}, {"AISTACK_BACKEND": "vllm"}, {}, "$AISTACK_BACKEND"),
        ({}, {}, {"plan": {"purpose": "poetry"}}, "config.toml [plan] purpose"),
        ({}, {}, {"plan": {"colour": "red"}}, "colour"),
    ],
)
def test_bad_values_name_their_source(flags, env, config, where):
    with pytest.raises(UsageError) as exc:
        build_request(flags, env, config)
    assert where in exc.value.message
