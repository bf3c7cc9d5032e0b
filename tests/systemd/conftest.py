"""Fixtures for the systemd tier: one freshly unpacked, booted container per module."""

from __future__ import annotations

import os
import shutil

import pytest

from nspawn_machine import Machine


def _host_can_boot() -> str | None:
    if os.geteuid() != 0:
        return "booting systemd-nspawn needs root"
    for tool in ("systemd-nspawn", "nsenter", "debootstrap", "zstd"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/test-setup.sh installs it)"
    return None


@pytest.fixture(scope="module")
def machine(tmp_path_factory, llama_server_bin, smollm2_gguf):
    problem = _host_can_boot()
    if problem:
        pytest.fail(problem)
    m = Machine.create(tmp_path_factory.mktemp("nspawn"), llama_server_bin, smollm2_gguf)
    try:
        m.boot()
        yield m
    finally:
        m.poweroff()
        m.destroy()
