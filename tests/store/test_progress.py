from __future__ import annotations

import io

from aistack.store import progress
from aistack.store.progress import Meter, ProgressEvent, TerminalBar, render_line


def test_meter_reports_rate_eta_and_done(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    events: list[ProgressEvent] = []
    m = Meter(events.append, "x.gguf", "download", total_bytes=10_000_000)
    for _ in range(10):
        clock[0] += 0.5
        m.advance(500_000)  # 1 MB/s
    m.finish()
    assert events[0].done_bytes == 0 and events[0].phase == "download"
    mid = events[-2]
    assert mid.done_bytes == 5_000_000 and abs(mid.rate_bps - 1_000_000) < 1
    assert abs(mid.eta_s - 5.0) < 0.01
    assert events[-1].phase == "done" and events[-1].done_bytes == 5_000_000


def test_meter_throttles(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    events = []
    m = Meter(events.append, "x", "download", 1000)
    for _ in range(100):
        clock[0] += 0.001
        m.advance(1)
    assert len(events) <= 2  # the first event and at most one more in 0.1 s


def test_render_and_bar():
    line = render_line(ProgressEvent("m.gguf", "download", 512 << 20, 1 << 30, 50 << 20, 10.4))
    assert "m.gguf" in line and " 50.0%" in line and "512.0 MiB / 1.0 GiB" in line
    assert "50.0 MiB/s" in line and "ETA 10s" in line
    assert "ETA 1m05s" in render_line(ProgressEvent("m", "download", 1, 100, 1.0, 65))
    assert "%" not in render_line(ProgressEvent("m", "download", 1234, None))
    out = io.StringIO()
    bar = TerminalBar(out)
    bar(ProgressEvent("m", "download", 10, 100, None, None))
    bar(ProgressEvent("m", "done", 100, 100, None, 0.0))
    text = out.getvalue()
    assert text.startswith("\r") and text.endswith("\n") and text.count("\r") == 2


def test_quiet_when_stderr_is_not_a_tty(monkeypatch):
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert progress.default_progress() is None
