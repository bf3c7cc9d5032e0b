"""The edge around the pure planner: gather inputs (profile, catalog, config,
environment), then call ``make_plan``. Used by ``aistack plan``."""

from __future__ import annotations

import os
from typing import Mapping

from aistack.config import load_config
from aistack.plan.model import Plan


def plan_here(flags: Mapping[str, object], hardware_file: str | None = None) -> Plan:
    from aistack.catalog import load_catalog
    from aistack.hardware.summary import get_profile
    from aistack.plan.resolve import build_request

    request = build_request(flags, os.environ, load_config())
    catalog = load_catalog()
    profile = get_profile(hardware_file)
    return plan_exact(profile, catalog, request)


# How many times the chosen file may change while exact headers come in.
HEADER_ROUNDS = 3


def plan_exact(profile, catalog, request, unavailable: frozenset[str] = frozenset(), *, network: bool = True) -> Plan:
    """``make_plan``, then again on the exact tensor sizes of the chosen file.

    The planner is pure; this edge reads the GGUF header of the artifact it
    chose — from the local copy when there is one, otherwise with HTTP Range
    requests for the first MiBs (``store.remote_header``) — and plans again
    with it. If the exact sizes change the choice, the new choice's header is
    read too (at most ``HEADER_ROUNDS`` times). A header that cannot be read
    (offline, a source without Range) leaves the recipe estimate in place and
    says so in the plan's warnings.
    """
    from dataclasses import replace

    from aistack.plan.choose import make_plan

    headers: dict = {}
    notes: list[str] = []
    plan = make_plan(profile, catalog, request, unavailable=unavailable)
    for _ in range(HEADER_ROUNDS):
        ref = plan.artifact
        if ref.kind == "mlx" or ref.uri in headers:
            break
        header, why = _header_for(ref, network)
        if header is None:
            notes.append(f"weights of {ref.filename} are estimated from the recipe ({why})")
            break
        headers[ref.uri] = header
        plan = make_plan(profile, catalog, request, unavailable=unavailable, gguf_headers=headers)
    if headers and plan.artifact.uri in headers:
        plan = replace(plan, reasons=plan.reasons + (f"Weights of {plan.artifact.filename} are exact, from its GGUF header.",))
    return replace(plan, warnings=plan.warnings + tuple(notes)) if notes else plan


def _header_for(ref, network: bool):
    """(header, None) or (None, why not). Never raises for an expected failure."""
    from aistack import store
    from aistack.errors import AistackError
    from aistack.gguf import read_layout

    try:
        local = store.locate(ref)
    except AistackError:
        local = None  # a damaged local copy: the remote header still tells the truth
    if local is not None:
        from aistack.paths import dirs

        try:
            return read_layout(local, dirs().gguf_layouts), None
        except AistackError as exc:
            return None, exc.message
    if not network:
        return None, "not downloaded yet"
    if not ref.uri.startswith(("hf://", "http://", "https://")):
        return None, "its source cannot be read in part"
    from aistack.store.download import RetryPolicy

    quick = RetryPolicy(attempts=2, connect_attempts=1, first_delay_s=0.2, connect_timeout_s=5.0, read_timeout_s=15.0)
    try:
        return store.remote_header(ref, retry=quick), None
    except AistackError as exc:
        if exc.details.get("reason") == "unreachable":
            return None, "its host could not be reached"
        return None, f"its header could not be read: {exc.message}"
