"""Helpers for feeding recorded hardware through the real probe readers."""

from __future__ import annotations

import importlib.util
import socket
import threading
from pathlib import Path
from typing import Callable

import pytest

from aistack.hardware.sources.base import ProbeContext, parse_sysctl
from aistack.proc import Result

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "hardware"


def _load_fake_pynvml():
    spec = importlib.util.spec_from_file_location("fake_pynvml", FIXTURES / "fake_pynvml.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fake_pynvml = _load_fake_pynvml()


def nvml(name: str):
    """A fresh FakeNvml fed with ``nvidia/<name>.json``."""
    return fake_pynvml.FakeNvml.load(FIXTURES / "nvidia" / f"{name}.json")


def fake_run(outputs: dict[str, str]) -> Callable[..., Result]:
    """A ``ctx.run`` answering recorded stdout by program name; unknown ones fail like a missing tool."""
    calls: list[list[str]] = []

    def run(argv, timeout=None):
        calls.append(list(argv))
        if argv[0] in outputs:
            return Result(0, outputs[argv[0]], "")
        return Result(1, "", f"{argv[0]}: no recorded output")

    run.calls = calls  # type: ignore[attr-defined]
    return run


def linux_ctx(root: Path, machine: str = "x86_64", **kw) -> ProbeContext:
    """A Linux context over a fixture tree; NVML answers 'no library' unless given."""
    kw.setdefault("nvml", nvml("no_library"))
    kw.setdefault("env", {})
    kw.setdefault("euid", 1000)
    return ProbeContext(root=Path(root), system="Linux", machine=machine, release="fixture", **kw)


def mac_ctx(name: str, ioreg: bool = True, root: Path | None = None, **kw) -> ProbeContext:
    """A macOS context: sysctl/ioreg/vm_stat/system_profiler from ``apple/<name>.*``."""
    chip = name.split("_")[0]
    table = parse_sysctl((FIXTURES / "apple" / f"{name}.sysctl.txt").read_text())
    outputs = {}
    for prog, suffix in (("ioreg", "ioreg.txt"), ("vm_stat", "vm_stat.txt"), ("system_profiler", "system_profiler.json")):
        f = FIXTURES / "apple" / f"{chip}.{suffix}"
        if f.exists() and (ioreg or prog != "ioreg"):
            outputs[prog] = f.read_text()
    kw.setdefault("env", {})
    kw.setdefault("euid", 501)
    return ProbeContext(root=root or FIXTURES / "apple", system="Darwin", machine="arm64", release="24.1.0",
                        sysctl=lambda: table, run=fake_run(outputs), **kw)


class UnixHttpServer:
    """A real HTTP server on a unix socket answering every GET with one JSON body."""

    def __init__(self, path: Path, body: bytes, status: str = "200 OK"):
        self.path = path
        self.body = body
        self.status = status
        self.requests: list[bytes] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                try:
                    conn.settimeout(2)
                    data = b""
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    if not data:
                        continue  # a bare connect (the probe's reachability check)
                    self.requests.append(data)
                    head = (f"HTTP/1.0 {self.status}\r\nContent-Type: application/json\r\n"
                            f"Content-Length: {len(self.body)}\r\n\r\n").encode()
                    conn.sendall(head + self.body)
                except OSError:
                    continue

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def short_tmp():
    """A temp dir with a short path (unix socket paths are limited to ~107 bytes)."""
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="aip-", dir="/tmp"))
    yield d
    import shutil

    shutil.rmtree(d, ignore_errors=True)
