"""Fixtures for the installer tier: clean containers, a snapshot of the checkout, a wheelhouse.

The containers come from scripts/test-images.sh (no registry here):
``aistack-test/debian:bookworm`` (no Python) and
``aistack-test/debian-python:bookworm`` (python3, venv, pip). Online tests
share the host's network so the container reaches the package index exactly as
this machine does; the index settings of this machine's pip are passed in as
``PIP_*`` variables (read from ``pip config list`` at run time, never written here).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BARE_IMAGE = "aistack-test/debian:bookworm"
PYTHON_IMAGE = "aistack-test/debian-python:bookworm"
SETUP_HINT = "run scripts/test-setup.sh (it starts dockerd and builds the test images)"

# Everything install.sh needs from a checkout (it builds the wheel from these).
SOURCE_ITEMS = ("install.sh", "pyproject.toml", "README.md", "requirements.lock", "aistack", "recipes", "systemd")

# Every path of the container's own filesystem, to prove --uninstall leaves nothing behind.
SNAPSHOT = (
    "find / -xdev \\( -path /proc -o -path /sys -o -path /dev \\) -prune -o -print"
    " | grep -v '/__pycache__' | LC_ALL=C sort"
)


def docker(*args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


CONTAINER_CERT = "/run/aistack-test-pip-ca.pem"


def host_pip_cert() -> Path | None:
    """The CA bundle this machine's pip trusts (pip config 'cert' or PIP_CERT), if any.

    A machine behind a TLS-inspecting proxy needs it; the container gets it mounted.
    """
    value = os.environ.get("PIP_CERT")
    if not value:
        out = subprocess.run(["python3", "-m", "pip", "config", "list"], capture_output=True, text=True, timeout=60).stdout
        for line in out.splitlines():
            key, _, v = line.partition("=")
            if key.split(".", 1)[-1] == "cert":
                value = v.strip("'\"")
    return Path(value) if value and Path(value).is_file() else None


def host_pip_env() -> dict[str, str]:
    """This machine's pip index settings as PIP_* variables a container can use.

    Local ``file://`` indexes and find-links do not exist inside the container,
    so only network locations are passed on; proxies are passed as they are.
    """
    env: dict[str, str] = {}
    out = subprocess.run(
        ["python3", "-m", "pip", "config", "list"], capture_output=True, text=True, timeout=60
    ).stdout
    wanted = {"index-url": "PIP_INDEX_URL", "extra-index-url": "PIP_EXTRA_INDEX_URL", "trusted-host": "PIP_TRUSTED_HOST"}
    if host_pip_cert() is not None:
        env["PIP_CERT"] = CONTAINER_CERT
    for line in out.splitlines():
        key, _, value = line.partition("=")
        name = key.split(".", 1)[-1]
        if name in wanted:
            urls = [u for u in value.strip("'\"").split() if not u.startswith("file:") and not u.startswith("/")]
            if urls:
                env[wanted[name]] = " ".join(urls)
    for var in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
                "http_proxy", "https_proxy", "no_proxy"):
        if os.environ.get(var) and not os.environ[var].startswith("file:"):
            env[var] = os.environ[var]
    return env


@pytest.fixture(scope="session")
def pip_env() -> dict[str, str]:
    return host_pip_env()


@dataclass
class Container:
    name: str

    def sh(self, script: str, *, user: str = "root", timeout: float = 900, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        args = ["exec", "-u", user, "-w", "/"]
        for k, v in (env or {}).items():
            args += ["-e", f"{k}={v}"]
        if user != "root":
            args += ["-e", f"HOME=/home/{user}", "-e", "PATH=/usr/local/bin:/usr/bin:/bin"]
        return docker(*args, self.name, "sh", "-c", script, timeout=timeout, check=False)

    def ok(self, script: str, **kw) -> str:
        proc = self.sh(script, **kw)
        assert proc.returncode == 0, f"{script!r} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout

    def snapshot(self) -> list[str]:
        return self.ok(SNAPSHOT).splitlines()


@pytest.fixture(scope="session")
def docker_images() -> None:
    if shutil.which("docker") is None:
        pytest.fail(f"no docker CLI: {SETUP_HINT}")
    if docker("version", "--format", "{{.Server.Version}}", check=False, timeout=30).returncode != 0:
        pytest.fail(f"no Docker engine answers: {SETUP_HINT}")
    for image in (BARE_IMAGE, PYTHON_IMAGE):
        if docker("image", "inspect", image, check=False, timeout=30).returncode != 0:
            pytest.fail(f"image {image} is missing: {SETUP_HINT}")


@pytest.fixture(scope="session")
def source_copy(tmp_path_factory) -> Path:
    """A frozen copy of the checkout (others may edit the real one while tests run)."""
    dest = tmp_path_factory.mktemp("src")
    for item in SOURCE_ITEMS:
        src = ROOT / item
        if src.is_dir():
            shutil.copytree(src, dest / item, symlinks=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif src.exists():
            shutil.copy2(src, dest / item)
    os.chmod(dest, 0o755)
    return dest


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory, source_copy) -> Path:
    """Every wheel an offline install needs, made by the project's own scripts/wheelhouse.sh."""
    dest = tmp_path_factory.mktemp("wheels")
    proc = subprocess.run(["sh", str(ROOT / "scripts" / "wheelhouse.sh"), str(dest)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return dest


@pytest.fixture
def container_factory(docker_images):
    started: list[str] = []

    def start(image: str = PYTHON_IMAGE, *, network: str = "host", mounts: dict[Path, str] | None = None) -> Container:
        name = f"aistack-installer-test-{uuid.uuid4().hex[:10]}"
        args = ["run", "-d", "--name", name, "--network", network]
        cert = host_pip_cert()
        if cert is not None:
            args += ["-v", f"{cert}:{CONTAINER_CERT}:ro"]
        for host, inside in (mounts or {}).items():
            args += ["-v", f"{host}:{inside}:ro"]
        docker(*args, image, "sleep", "infinity", timeout=120)
        started.append(name)
        return Container(name)

    yield start
    for name in started:
        docker("rm", "-f", name, check=False, timeout=120)

