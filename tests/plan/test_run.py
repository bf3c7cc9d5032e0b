"""plan_exact: the planner re-run on the exact tensor sizes of the chosen file's header."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from aistack import gguf
from aistack.catalog import load_catalog
from aistack.hardware.profile import load_profile
from aistack.plan.model import Request, Sourced
from aistack.plan.run import plan_exact

from store.server import FileServer

PROFILES = Path(__file__).resolve().parents[1] / "fixtures" / "profiles"
SMOL = (PROFILES.parent.parent.parent / "recipes" / "smollm2-135m-instruct.toml").read_text()


def _mirror_recipe(tmp_path: Path, uri: str) -> dict[str, str]:
    """A recipe whose one file lives at ``uri`` with no size or checksum given."""
    text = SMOL.replace('id = "smollm2-135m-instruct"', 'id = "smollm2-mirror"')
    text = text.replace('aliases = ["smollm2", "smollm2-135m"]', "aliases = []")
    head, _, _ = text.partition("[[gguf]]")
    text = head + f'[[gguf]]\nquant = "Q4_1"\nuri = "{uri}"\n'
    d = tmp_path / "recipes"
    d.mkdir()
    (d / "smollm2-mirror.toml").write_text(text)
    return {"AISTACK_RECIPES_DIR": str(d)}


def _request() -> Request:
    return Request(model=Sourced("smollm2-mirror", "flag"))


@pytest.fixture
def server():
    srv = FileServer().start()
    yield srv
    srv.stop()


def test_plan_uses_the_exact_header_read_over_range(tmp_path, server, smollm2_gguf, monkeypatch):
    uri = server.add("/mirror/SmolLM2.gguf", smollm2_gguf)
    env = _mirror_recipe(tmp_path, uri)
    monkeypatch.setenv("AISTACK_RECIPES_DIR", env["AISTACK_RECIPES_DIR"])
    catalog = load_catalog()
    profile = load_profile(str(PROFILES / "office-desktop-6core-16gb.json"))

    estimated = plan_exact(profile, catalog, _request(), network=False)
    assert any("estimated from the recipe" in w for w in estimated.warnings)
    assert server.log == []  # network=False reads nothing

    plan = plan_exact(profile, catalog, _request())
    header = gguf.read_header(smollm2_gguf)
    cpu = next(m for m in plan.memory if m.device == "cpu")
    assert cpu.weights_bytes == header.tensor_bytes
    assert cpu.weights_bytes != next(m for m in estimated.memory if m.device == "cpu").weights_bytes
    assert any("exact, from its GGUF header" in r for r in plan.reasons)
    gets = [r for r in server.log if r.method == "GET"]
    assert gets and all(r.status == 206 for r in gets)
    assert sum(r.sent for r in gets) < smollm2_gguf.stat().st_size / 4  # a prefix, not the file


def test_unreachable_host_keeps_the_estimate_and_says_so(tmp_path, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: connections are refused
    env = _mirror_recipe(tmp_path, f"http://127.0.0.1:{port}/SmolLM2.gguf")
    monkeypatch.setenv("AISTACK_RECIPES_DIR", env["AISTACK_RECIPES_DIR"])
    from aistack.store import download

    download.forget_unreachable()
    profile = load_profile(str(PROFILES / "office-desktop-6core-16gb.json"))
    plan = plan_exact(profile, load_catalog(), _request())
    assert plan.model_id == "smollm2-mirror"
    assert any("could not be reached" in w for w in plan.warnings), plan.warnings
    download.forget_unreachable()
