"""install.sh in clean containers: root and user, online and offline, twice, uninstall, no Python.

Marker ``installer``: needs dockerd and the images from scripts/test-images.sh.
Each container is fresh; a snapshot of its whole filesystem (``find / -xdev``)
before the first install and after ``--uninstall`` proves nothing is left behind.
"""

from __future__ import annotations

import http.server
import threading
from functools import partial
from pathlib import Path

import pytest

pytestmark = pytest.mark.installer

ROOT = Path(__file__).resolve().parents[2]
BARE_IMAGE = "aistack-test/debian:bookworm"  # no Python
PYTHON_IMAGE = "aistack-test/debian-python:bookworm"


def _user_files(c, home: str, user: str = "root") -> None:
    """Config, state, models and a systemd drop-in the user owns: never to be touched."""
    c.ok(
        f"mkdir -p {home}/.config/aistack {home}/.local/state/aistack {home}/.local/share/aistack/models "
        f"{home}/.config/systemd/user/aistack.service.d && "
        f"echo 'port = 9999' > {home}/.config/aistack/config.toml && "
        f"echo '{{\"v\": 1}}' > {home}/.local/state/aistack/state.json && "
        f"echo weights > {home}/.local/share/aistack/models/m.gguf && "
        f"echo '[Service]' > {home}/.config/systemd/user/aistack.service.d/override.conf",
        user=user,
    )


USER_FILES = (
    ".config/aistack/config.toml",
    ".local/state/aistack/state.json",
    ".local/share/aistack/models/m.gguf",
    ".config/systemd/user/aistack.service.d/override.conf",
)


def _digest(c, home: str, user: str = "root") -> str:
    return c.ok("sha256sum " + " ".join(f"{home}/{p}" for p in USER_FILES), user=user)


def test_root_online_twice_keeps_user_files_and_uninstall_leaves_nothing(container_factory, source_copy, pip_env):
    c = container_factory(PYTHON_IMAGE, mounts={source_copy: "/src"})
    env = pip_env
    before = c.snapshot()

    first = c.sh("dash /src/install.sh", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "did       installed aistack 0.1.0" in first.stdout
    assert "every hash verified" in first.stdout
    assert "linked /usr/local/bin/aistack -> /opt/aistack/venv/bin/aistack" in first.stdout
    assert "next      aistack up" in first.stdout
    # The image has no compiler: the installer names what a source build of llama-server needs.
    assert "missing build tools: cmake c++ make" in first.stderr
    assert "apt-get install -y cmake g++ make" in first.stderr
    assert c.ok("aistack --version").strip() == "aistack, version 0.1.0"
    # Isolated: the system Python gained no aistack, no click.
    assert c.sh("python3 -c 'import aistack'").returncode != 0
    assert c.sh("python3 -c 'import click'").returncode != 0

    _user_files(c, "/root")
    digest = _digest(c, "/root")
    second = c.sh("dash /src/install.sh", env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "did       nothing: aistack 0.1.0 is already installed in /opt/aistack/venv" in second.stdout
    assert "created the virtual environment" not in second.stdout
    assert _digest(c, "/root") == digest

    # An upgrade (the source changed) reuses the venv and still keeps the user's files.
    c.ok("cp -r /src /tmp/src2 && echo '# changed' >> /tmp/src2/aistack/__init__.py")
    third = c.sh("dash /tmp/src2/install.sh", env=env)
    assert third.returncode == 0, third.stdout + third.stderr
    assert "did       upgraded aistack 0.1.0" in third.stdout
    assert _digest(c, "/root") == digest
    c.ok("rm -rf /tmp/src2")

    out = c.ok("dash /src/install.sh --uninstall")
    assert "removed /opt/aistack/venv" in out
    assert "removed /usr/local/bin/aistack" in out
    assert "kept      config: /root/.config/aistack" in out
    assert _digest(c, "/root") == digest  # models stay without --purge-models

    c.ok("rm -rf /root/.config /root/.local")  # the files this test made, nothing of install.sh's
    after = c.snapshot()
    assert after == before, sorted(set(after) ^ set(before))

    again = c.ok("dash /src/install.sh --uninstall")
    assert "nothing: aistack is not installed" in again


def test_user_online_install_path_hint_and_purge(container_factory, source_copy, pip_env):
    c = container_factory(PYTHON_IMAGE, mounts={source_copy: "/src"})
    c.ok("useradd -m -s /bin/sh alice")
    env = pip_env
    before = c.snapshot()

    first = c.sh("sh /src/install.sh", user="alice", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "running as user alice" in first.stdout
    assert "linked /home/alice/.local/bin/aistack -> /home/alice/.local/share/aistack/venv/bin/aistack" in first.stdout
    assert "/home/alice/.local/bin is not on your PATH" in first.stdout
    assert c.ok("/home/alice/.local/bin/aistack --version", user="alice").strip() == "aistack, version 0.1.0"
    assert c.sh("test -e /opt/aistack || test -e /usr/local/bin/aistack").returncode != 0

    second = c.sh("sh /src/install.sh", user="alice", env=env)
    assert "did       nothing:" in second.stdout, second.stdout + second.stderr

    _user_files(c, "/home/alice", user="alice")
    out = c.ok("sh /src/install.sh --uninstall --purge-models", user="alice")
    assert "deleted the models in /home/alice/.local/share/aistack/models" in out
    assert c.sh("test -e /home/alice/.local/share/aistack/models").returncode != 0
    assert c.ok("cat /home/alice/.config/aistack/config.toml", user="alice").strip() == "port = 9999"

    # The files this test made. ~/.local stays after --uninstall because the user's
    # state was inside it then; once that is gone, it is the empty dir the installer made.
    c.ok("rm -rf /home/alice/.config /home/alice/.local/state && rmdir /home/alice/.local", user="alice")
    after = c.snapshot()
    assert after == before, sorted(set(after) ^ set(before))


def test_offline_from_wheels_under_busybox_sh(container_factory, source_copy, wheelhouse):
    c = container_factory(
        PYTHON_IMAGE, network="none", mounts={source_copy: "/src", wheelhouse: "/wheels", Path("/bin/busybox"): "/busybox"}
    )
    before = c.snapshot()
    first = c.sh("/busybox sh /src/install.sh --wheels /wheels")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "from wheel /wheels/aistack-0.1.0-py3-none-any.whl (offline)" in first.stdout
    assert c.ok("aistack --version").strip() == "aistack, version 0.1.0"
    assert c.ok("/opt/aistack/venv/bin/python -c 'import click, docker, requests, pynvml, cpuinfo, platformdirs; print(1)'").strip() == "1"

    second = c.sh("/busybox sh /src/install.sh --wheels /wheels")
    assert "did       nothing:" in second.stdout, second.stdout + second.stderr

    c.ok("/busybox sh /src/install.sh --uninstall")
    after = c.snapshot()
    assert after == before, sorted(set(after) ^ set(before))


def test_offline_without_a_needed_wheel_fails_cleanly(container_factory, source_copy, wheelhouse, tmp_path):
    partial_dir = tmp_path / "partial"
    partial_dir.mkdir()
    for f in wheelhouse.iterdir():
        if not f.name.startswith("requests-"):
            (partial_dir / f.name).write_bytes(f.read_bytes())
    c = container_factory(PYTHON_IMAGE, network="none", mounts={source_copy: "/src", partial_dir: "/wheels"})
    proc = c.sh("sh /src/install.sh --wheels /wheels")
    assert proc.returncode == 23, proc.stdout + proc.stderr
    assert "pip could not install the locked dependencies" in proc.stderr
    assert c.sh("test -e /usr/local/bin/aistack").returncode != 0


def test_no_python_gets_the_precise_message(container_factory, source_copy):
    c = container_factory(BARE_IMAGE, network="none", mounts={source_copy: "/src"})
    before = c.snapshot()
    proc = c.sh("sh /src/install.sh")
    assert proc.returncode == 21, proc.stdout + proc.stderr
    assert "no Python >= 3.10 with the venv module found" in proc.stderr
    assert "Nothing was installed. On Debian GNU/Linux 12 (bookworm), get one with:" in proc.stderr
    assert "apt-get update && apt-get install -y python3 python3-venv" in proc.stderr
    assert c.snapshot() == before


def test_python_without_venv_module_is_named(container_factory, source_copy):
    c = container_factory(PYTHON_IMAGE, network="none", mounts={source_copy: "/src"})
    # Debian splits ensurepip into python3.X-venv: remove it to get that machine.
    c.ok("dpkg -r --force-depends python3-venv python3.11-venv >/dev/null 2>&1")
    proc = c.sh("sh /src/install.sh")
    assert proc.returncode == 21, proc.stdout + proc.stderr
    assert "has no venv/ensurepip module" in proc.stderr
    assert "apt-get install -y python3-venv python3.11-venv" in proc.stderr


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep pytest output clean
        pass


@pytest.fixture
def release(tmp_path):
    """A release made by scripts/release.sh, served by a real HTTP server on 127.0.0.1."""
    import socket
    import subprocess

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dist = tmp_path / "dist"
    proc = subprocess.run(
        ["sh", str(ROOT / "scripts" / "release.sh"), str(dist), f"http://127.0.0.1:{port}"],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), partial(_QuietHandler, directory=str(dist)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield dist
    server.shutdown()
    server.server_close()


def test_piped_release_install_verifies_pins(container_factory, release, pip_env):
    c = container_factory(PYTHON_IMAGE, mounts={release: "/dist"})
    env = pip_env
    # The curl one-liner's shape: the script arrives on stdin, $0 is "sh", no checkout.
    proc = c.sh("cat /dist/install.sh | sh -s --", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "from release 0.1.0 from http://127.0.0.1:" in proc.stdout
    assert c.ok("aistack --version").strip() == "aistack, version 0.1.0"
    assert "did       nothing:" in c.ok("cat /dist/install.sh | sh", env=env)
    c.ok("cat /dist/install.sh | sh -s -- --uninstall")

    # A wheel that is not the pinned one is refused before anything is created.
    (release / "aistack-0.1.0-py3-none-any.whl").write_bytes(b"not the release")
    bad = c.sh("cat /dist/install.sh | sh", env=env)
    assert bad.returncode == 22, bad.stdout + bad.stderr
    assert "does not match the pinned" in bad.stderr
    assert c.sh("test -e /opt/aistack").returncode != 0


def test_unpinned_copy_outside_a_checkout_refuses(container_factory, source_copy):
    c = container_factory(PYTHON_IMAGE, network="none", mounts={source_copy: "/src"})
    proc = c.sh("cat /src/install.sh | sh")
    assert proc.returncode == 22, proc.stdout + proc.stderr
    assert "neither in a checkout nor a release build" in proc.stderr
