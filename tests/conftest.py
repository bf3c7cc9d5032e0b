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
