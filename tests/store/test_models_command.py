"""``aistack models list / pull / rm`` through Click's CliRunner and the real exit-code mapping."""

from __future__ import annotations

import json

from click.testing import CliRunner

from aistack.cli import cli
from aistack.output import human_bytes, run_cli

from .helpers import gguf_blob, sha


def _run(*args: str):
    """Through run_cli, as the installed 'aistack' runs: returns (exit code, stdout, stderr)."""
    runner = CliRunner()
    with runner.isolation() as streams:
        code = run_cli(cli, list(args))
        out, err = streams[0].getvalue().decode(), streams[1].getvalue().decode()
    return code, out, err


def test_pull_list_rm_by_uri(server):
    data = gguf_blob(0.5)
    uri = server.add("/m/tiny.gguf", data)
    result = CliRunner().invoke(cli, ["models", "pull", uri, "--json"])
    assert result.exit_code == 0, result.output
    pulled = json.loads(result.output)["result"]
    assert pulled["sha256"] == sha(data) and pulled["size_bytes"] == len(data) and not pulled["already_present"]
    name = pulled["name"]

    result = CliRunner().invoke(cli, ["models", "pull", uri])
    assert result.exit_code == 0 and result.output.startswith("Already present: " + name)

    listed = json.loads(CliRunner().invoke(cli, ["models", "list", "--json"]).output)
    assert listed["ok"] and [m["name"] for m in listed["result"]] == [name]
    assert listed["result"][0]["uri"] == uri

    human = CliRunner().invoke(cli, ["models", "list"]).output
    assert name in human and human_bytes(len(data)) in human and uri in human

    result = CliRunner().invoke(cli, ["models", "rm", "tiny.gguf", "--yes"])
    assert result.exit_code == 0, result.output
    assert "Removed" in result.output and "deleted" in result.output
    assert "No models yet" in CliRunner().invoke(cli, ["models", "list"]).output


def test_rm_asks_before_deleting(server):
    data = gguf_blob(0.2)
    uri = server.add("/m/tiny.gguf", data)
    assert CliRunner().invoke(cli, ["models", "pull", uri]).exit_code == 0
    result = CliRunner().invoke(cli, ["models", "rm", "tiny.gguf"], input="n\n")
    assert result.exit_code != 0
    assert len(json.loads(CliRunner().invoke(cli, ["models", "list", "--json"]).output)["result"]) == 1


def test_pull_recipe_id_uses_the_installed_package(smollm2_gguf):
    result = CliRunner().invoke(cli, ["models", "pull", "smollm2", "--json"])
    assert result.exit_code == 0, result.output
    pulled = json.loads(result.output)["result"]
    assert pulled["recipe_id"] == "smollm2-135m-instruct" and pulled["quant"] == "Q4_1"
    assert pulled["path"] == str(smollm2_gguf) and pulled["location"] == "package"
    result = CliRunner().invoke(cli, ["models", "rm", "smollm2", "--yes"])
    assert result.exit_code == 0 and "kept" in result.output and smollm2_gguf.exists()


def test_errors_map_to_exit_codes(server, free_port, monkeypatch):
    monkeypatch.setenv("AISTACK_FETCH_RETRIES", "2")
    monkeypatch.setenv("AISTACK_FETCH_BACKOFF_S", "0.01")
    code, out, err = _run("models", "rm", "nothing-here", "--yes")
    assert code == 2 and "No model named 'nothing-here'" in err and "hint:" in err

    code, out, err = _run("models", "pull", f"http://127.0.0.1:{free_port}/x.gguf", "--json")
    # connection refused is retried (AISTACK_FETCH_RETRIES times) before giving up
    body = json.loads(out)
    assert code == 5 and body["ok"] is False and body["error"]["details"]["reason"] == "unreachable"
    assert body["error"]["details"]["tries"] == 2

    code, out, err = _run("models", "pull", "smollm2", "--quant", "Q8_0")
    assert code == 2 and "has no Q8_0 file" in err

    code, out, err = _run("models", "pull", "gopher://x/y.gguf")
    assert code == 3 and "unknown source" in err
