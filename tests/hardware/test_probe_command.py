"""``aistack probe`` through Click's runner and once as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from click.testing import CliRunner

from aistack.cli import cli
from aistack.hardware.probe import probe
from aistack.hardware.profile import HardwareProfile

from .conftest import FIXTURES, linux_ctx, mac_ctx, nvml


def _invoke(args):
    from aistack.output import run_cli

    runner = CliRunner()
    with runner.isolation() as streams:  # (stdout, stderr, ...) across Click versions
        code = run_cli(cli, args)
        return code, streams[0].getvalue().decode(), streams[1].getvalue().decode()


def test_probe_json_through_click_invoke():
    result = CliRunner().invoke(cli, ["probe", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["result"]["cpu"]["logical_cores"] == os.cpu_count()


def test_probe_json_is_the_envelope_around_the_profile():
    code, out, _ = _invoke(["probe", "--json"])
    assert code == 0
    env = json.loads(out)
    assert env["ok"] is True and env["command"] == "probe"
    p = HardwareProfile.from_dict(env["result"])
    assert p.cpu.logical_cores == os.cpu_count()
    assert env["result"] == p.to_dict()


def test_probe_human_summary():
    code, out, _ = _invoke(["probe"])
    assert code == 0
    lines = out.splitlines()
    assert [line.split()[0] for line in lines[:3]] == ["OS", "CPU", "RAM"]
    assert any(line.startswith("Host") for line in lines)


def test_hardware_file_bare_and_enveloped(tmp_path):
    recorded = probe(ctx=linux_ctx(FIXTURES / "linux" / "wsl2_i7_13700k", nvml=nvml("rtx4090")))
    bare = tmp_path / "bare.json"
    bare.write_text(recorded.to_json())
    code, out, _ = _invoke(["probe", "--json", "--hardware", str(bare)])
    assert code == 0
    enveloped = tmp_path / "env.json"
    enveloped.write_text(out)
    code, out2, _ = _invoke(["probe", "--json", "--hardware", str(enveloped)])
    assert code == 0
    assert HardwareProfile.from_dict(json.loads(out2)["result"]) == recorded

    code, text, _ = _invoke(["probe", "--hardware", str(enveloped)])
    assert code == 0
    assert "NVIDIA GeForce RTX 4090" in text and "1008.1 GB/s" in text and "WSL2" in text


def test_human_summary_of_recorded_machines(tmp_path):
    from aistack.hardware.summary import render

    mac = render(probe(ctx=mac_ctx("m3ultra_512gb", ioreg=False)))
    assert "Apple M3 Ultra · 24P+8E CPU, 80-core GPU · 512.0 GiB unified, 480.0 GiB for the GPU" in mac
    assert "launchd" in mac
    apu = render(probe(ctx=linux_ctx(FIXTURES / "amd" / "strix_halo")))
    assert "integrated (shares RAM)" in apu and "gfx1151" in apu
    mig = render(probe(ctx=linux_ctx(FIXTURES / "linux" / "wsl2_i7_13700k", nvml=nvml("a100_mig"))))
    assert "MIG on" in mig and "Warnings (1):" in mig


def test_bad_hardware_file_is_an_input_error_without_traceback(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"os": {"system": "Linux", "arch": "x86_64"}, "cpu": {}, "memory": {"ram_total_bytes": 1},
                               "gpus": [{"vendor": "nvidia", "index": 0, "name": "x", "vram_gb": 3}]}))
    code, _, err = _invoke(["probe", "--hardware", str(bad)])
    assert code == 3
    assert "gpus[0]" in err and "vram_gb" in err and "Traceback" not in err
    code, out, _ = _invoke(["probe", "--json", "--hardware", str(tmp_path / "missing.json")])
    assert code == 3 and json.loads(out)["error"]["type"] == "InvalidInputError"


def test_probe_json_as_a_real_process(tmp_path):
    env = dict(os.environ, AISTACK_HOME=str(tmp_path))
    cp = subprocess.run([sys.executable, "-m", "aistack", "probe", "--json"], capture_output=True, text=True,
                        timeout=60, env=env)
    assert cp.returncode == 0, cp.stderr
    assert cp.stderr == ""
    p = HardwareProfile.from_dict(json.loads(cp.stdout)["result"])
    assert p.cpu.logical_cores == os.cpu_count()
    assert list((tmp_path / "cache" / "probe").glob("cpu-*.json"))  # the per-boot cache went to AISTACK_HOME
