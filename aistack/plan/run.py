"""The edge around the pure planner: gather inputs (profile, catalog, config,
environment), then call ``make_plan``. Used by ``aistack plan``."""

from __future__ import annotations

import os
from typing import Any, Mapping

from aistack.errors import InvalidInputError
from aistack.plan.model import Plan


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
    except ModuleNotFoundError:  # pragma: no cover
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"Config file {path} is not valid TOML: {exc}", hint=f"Fix or remove {path}.") from None


def plan_here(flags: Mapping[str, object], hardware_file: str | None = None) -> Plan:
    from aistack.catalog import load_catalog
    from aistack.hardware.summary import get_profile
    from aistack.plan.choose import make_plan
    from aistack.plan.resolve import build_request

    request = build_request(flags, os.environ, load_config())
    catalog = load_catalog()
    profile = get_profile(hardware_file)
    return make_plan(profile, catalog, request)
