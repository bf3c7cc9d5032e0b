"""Where aistack keeps its files.

Defaults come from platformdirs; each directory can be overridden by an
environment variable (admins, tests, containers):

* ``AISTACK_CONFIG_DIR`` — config (``config.toml``)
* ``AISTACK_STATE_DIR``  — state file, lock, logs, API key
* ``AISTACK_CACHE_DIR``  — probe cache, backend builds, downloads in progress
* ``AISTACK_MODELS_DIR`` — model store (defaults to ``<data dir>/models``)
* ``AISTACK_DATA_DIR``   — data (installed backends, models)

``AISTACK_HOME`` sets all of them at once (``$AISTACK_HOME/{config,state,cache,data}``).
Nothing here creates a directory: callers that write call ``ensure_dir``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

APP = "aistack"


def _platform(kind: str) -> Path:
    import platformdirs

    fn = {
        "config": platformdirs.user_config_dir,
        "state": platformdirs.user_state_dir,
        "cache": platformdirs.user_cache_dir,
        "data": platformdirs.user_data_dir,
    }[kind]
    return Path(fn(APP, appauthor=False))


def _resolve(kind: str) -> Path:
    env = os.environ.get(f"AISTACK_{kind.upper()}_DIR")
    if env:
        return Path(env).expanduser()
    home = os.environ.get("AISTACK_HOME")
    if home:
        return Path(home).expanduser() / kind
    return _platform(kind)


@dataclass(frozen=True)
class Dirs:
    config: Path
    state: Path
    cache: Path
    data: Path
    models: Path

    @property
    def state_file(self) -> Path:
        return self.state / "state.json"

    @property
    def lock_file(self) -> Path:
        return self.state / "state.lock"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def gguf_layouts(self) -> Path:
        """Remembered GGUF tensor layouts (``aistack.gguf.read_layout``)."""
        return self.cache / "gguf-layouts"

    @property
    def config_file(self) -> Path:
        return self.config / "config.toml"


def dirs() -> Dirs:
    """Resolve every directory now (environment is read on each call)."""
    data = _resolve("data")
    models_env = os.environ.get("AISTACK_MODELS_DIR")
    models = Path(models_env).expanduser() if models_env else data / "models"
    return Dirs(
        config=_resolve("config"),
        state=_resolve("state"),
        cache=_resolve("cache"),
        data=data,
        models=models,
    )


def ensure_dir(path: Path, mode: int = 0o755) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=mode)
    return path


def package_data(name: str) -> Path:
    """Path of a data folder shipped with the package (``recipes``, ``systemd``)."""
    return Path(__file__).resolve().parent / "_data" / name
