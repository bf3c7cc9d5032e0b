"""Fixtures for the end-to-end tests: run the real CLI as a subprocess.

Every test gets its own AISTACK_HOME (the autouse fixture in tests/conftest.py)
and the real llama-server through AISTACK_LLAMA_SERVER. The ``aistack`` fixture
runs ``python -m aistack ...``; on teardown it runs ``aistack down`` so no
server outlives its test.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_runner import Cli


@pytest.fixture
def aistack(llama_server_bin, smollm2_gguf, _guard_home):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AISTACK_")}
    env["AISTACK_HOME"] = str(_guard_home)
    env["AISTACK_LLAMA_SERVER"] = str(llama_server_bin)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    cli = Cli(env)
    yield cli
    cli("down", "--wait", "30", timeout=60)


@pytest.fixture
def recipes_dir(tmp_path) -> Path:
    d = tmp_path / "recipes"
    d.mkdir()
    return d
