"""config.toml: the admin's settings file (``aistack.paths.dirs().config_file``).

Tables read today: ``[plan]`` (defaults for the plan flags), ``[llama_cpp]``
(``server`` = a llama-server to use), ``[images]`` (container image per build).
A missing file is an empty config; a malformed one is an ``InvalidInputError``
naming the file.
"""

from __future__ import annotations

from typing import Any

from aistack.errors import InvalidInputError


def load_config() -> dict[str, Any]:
    """config.toml as a dict ({} when absent); errors name the file."""
    from aistack.paths import dirs

    path = dirs().config_file
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"Config file {path} is not valid TOML: {exc}", hint=f"Fix or remove {path}.") from None


def section(name: str) -> dict[str, Any]:
    """One table of config.toml, or {} when the file or the table is absent."""
    table = load_config().get(name, {})
    if not isinstance(table, dict):
        from aistack.paths import dirs

        path = dirs().config_file
        raise InvalidInputError(f"{path}: [{name}] must be a table.", hint=f"Fix or remove {path}.")
    return table
