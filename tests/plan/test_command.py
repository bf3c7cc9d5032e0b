"""``aistack plan`` through Click's runner, on recorded profiles."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from aistack.cli import cli
from aistack.output import run_cli

PROFILES = Path(__file__).resolve().parents[1] / "fixtures" / "profiles"


def test_plan_json_for_a_saved_profile(monkeypatch):
    monkeypatch.setenv("AISTACK_PORT", "9123")
    res = CliRunner().invoke(cli, ["plan", "--json", "--hardware", str(PROFILES / "desktop-rtx4080.json"),
                                   "--purpose", "code"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["ok"] and out["command"] == "plan"
    plan = out["result"]
    assert plan["backend"] == "llama.cpp" and plan["build"] == "cuda"
    assert plan["port"] == 9123
    settings = {s["name"]: s for s in plan["settings"]}
    assert settings["port"]["source"] == "env"
    assert settings["purpose"]["source"] == "flag"


def test_plan_human_output_explains(monkeypatch):
    res = CliRunner().invoke(cli, ["plan", "--hardware", str(PROFILES / "office-laptop-8gb.json")])
    assert res.exit_code == 0, res.output
    for part in ("backend", "memory (predicted)", "tok/s", "why:", "rejected:", "settings:", "(auto"):
        assert part in res.output


def test_unsatisfiable_request_exits_4_with_numbers(capsys):
    code = run_cli(cli, ["plan", "--json", "--hardware", str(PROFILES / "laptop-rtx4060-8gb.json"),
                         "--model", "llama-3.3-70b-instruct"])
    assert code == 4
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is False and "GiB" in out["error"]["message"]


def test_config_plan_table_is_read(tmp_path, monkeypatch):
    from aistack.paths import dirs

    cfg = dirs().config_file
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text('[plan]\nmodel = "smollm2"\n')
    res = CliRunner().invoke(cli, ["plan", "--json", "--hardware", str(PROFILES / "this-machine.json")])
    assert res.exit_code == 0, res.output
    plan = json.loads(res.output)["result"]
    assert plan["model_id"] == "smollm2-135m-instruct"
    assert {s["name"]: s["source"] for s in plan["settings"]}["model"] == "config"
