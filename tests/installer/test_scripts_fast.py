"""Fast tier: the shell scripts are shellcheck-clean, and install.sh's early exits.

No containers: install.sh runs on this host under dash with a PATH that holds
only what the check needs, and with its install paths pointed into tmp_path,
so nothing outside tmp_path can change.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted([ROOT / "install.sh", ROOT / ".ci" / "run", *(ROOT / "scripts").glob("*.sh"), *(ROOT / "scripts" / "lib").glob("*.sh")])


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_shellcheck_clean(script):
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.fail("shellcheck is not installed: run scripts/test-setup.sh (apt-get install shellcheck)")
    proc = subprocess.run([shellcheck, "-x", str(script)], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_install_sh_is_posix_sh_with_one_call_at_the_end():
    text = (ROOT / "install.sh").read_text()
    assert text.startswith("#!/bin/sh\n")
    code = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    # A half-downloaded script must do nothing: the only top-level statement is the last line.
    assert code[-1] == 'ai_main "$@"'
    assert "set -eu" in text


def _tool_dir(tmp_path: Path, *, with_python: bool) -> Path:
    """A bin dir with the coreutils install.sh uses, and python3 only when asked."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("sh", "dash", "uname", "id", "sed", "grep", "head", "tr", "cat", "mktemp", "rm", "dirname",
                 "mkdir", "ln", "readlink", "cp", "ls", "rmdir", "tail"):
        found = shutil.which(tool)
        if found:
            (bindir / tool).symlink_to(found)
    if with_python:
        # The real interpreter binary, not a shim (pyenv's shims need bash and pyenv on PATH).
        (bindir / "python3").symlink_to(os.path.realpath(sys.executable))
    return bindir


def _run(tmp_path: Path, *args: str, with_python: bool = False, extra_env: dict | None = None):
    env = {
        "PATH": str(_tool_dir(tmp_path, with_python=with_python)),
        "HOME": str(tmp_path / "home"),
        "AISTACK_INSTALL_VENV": str(tmp_path / "venv"),
        "AISTACK_INSTALL_BIN_DIR": str(tmp_path / "linkdir"),
        **(extra_env or {}),
    }
    return subprocess.run(["dash", str(ROOT / "install.sh"), *args], capture_output=True, text=True, env=env, timeout=60)


def test_help_lists_options_and_exit_codes(tmp_path):
    proc = _run(tmp_path, "--help")
    assert proc.returncode == 0
    for word in ("--up", "--wheels DIR", "--uninstall", "--purge-models", "Exit codes:", "21  no Python"):
        assert word in proc.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--frobnicate"], "unknown option '--frobnicate'"),
        (["--purge-models"], "--purge-models only goes with --uninstall"),
        (["--wheels"], "--wheels needs a directory"),
        (["--wheels", "/nonexistent/wheels"], "no such directory"),
        (["--uninstall", "--up"], "does not combine"),
    ],
)
def test_usage_errors_exit_2(tmp_path, args, message):
    proc = _run(tmp_path, *args)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr


@pytest.mark.skipif(not Path("/etc/os-release").exists(), reason="needs a Linux distribution's os-release")
def test_no_python_exits_21_with_the_distribution_command(tmp_path):
    proc = _run(tmp_path)
    assert proc.returncode == 21, proc.stdout + proc.stderr
    assert "no Python >= 3.10 with the venv module found" in proc.stderr
    assert "Nothing was installed." in proc.stderr
    os_id = dict(
        line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line
    ).get("ID", "").strip('"')
    if os_id in ("debian", "ubuntu"):
        assert "apt-get install -y python3 python3-venv" in proc.stderr
    assert not (tmp_path / "venv").exists()


def test_too_old_python_is_named(tmp_path):
    fake = tmp_path / "oldpy"
    fake.mkdir()
    script = fake / "python3"
    # An interpreter that answers install.sh's version query with 3.9 (no 3.9 on this machine).
    script.write_text('#!/bin/sh\ncase "$2" in *"%d.%d"*) echo 3.9 ;; *) exit 1 ;; esac\n')
    script.chmod(0o755)
    proc = _run(tmp_path, "--python", str(script))
    assert proc.returncode == 21
    assert f"--python {script} is not a Python >= 3.10" in proc.stderr
    assert "(too old)" in proc.stderr


def test_a_foreign_command_link_is_never_replaced(tmp_path):
    linkdir = tmp_path / "linkdir"
    linkdir.mkdir()
    (linkdir / "aistack").write_text("#!/bin/sh\necho someone else's\n")
    proc = _run(tmp_path, with_python=True, extra_env={"AISTACK_PYTHON": "python3"})
    assert proc.returncode == 24, proc.stdout + proc.stderr
    assert "was not made by this installer" in proc.stderr
    assert (linkdir / "aistack").read_text() == "#!/bin/sh\necho someone else's\n"
    assert not (tmp_path / "venv").exists()


def test_uninstall_when_nothing_is_installed_is_a_no_op(tmp_path):
    proc = _run(tmp_path, "--uninstall")
    assert proc.returncode == 0, proc.stderr
    assert "nothing: aistack is not installed" in proc.stdout
    assert sorted(os.listdir(tmp_path)) == ["bin"]
