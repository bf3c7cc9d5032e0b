"""Progress of a long transfer: one event type, a meter, and a terminal bar.

The store reports progress through a plain callable (``ProgressFn``) so that
``aistack up`` or ``aistack models pull`` decide how to show it. With no
callable given, a bar is drawn on stderr when stderr is a terminal, and
nothing is printed otherwise (logs, CI, pipes).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Callable, Literal, TextIO

Phase = Literal["download", "hash", "extract", "done"]


@dataclass(frozen=True)
class ProgressEvent:
    name: str  # what is being transferred ("SmolLM2-135M-Instruct.Q4_1.gguf")
    phase: Phase
    done_bytes: int
    total_bytes: int | None
    rate_bps: float | None = None  # bytes per second over the recent window
    eta_s: float | None = None


ProgressFn = Callable[[ProgressEvent], None]


class Meter:
    """Turns byte counts into throttled ``ProgressEvent``s with a rate and an ETA."""

    def __init__(self, fn: ProgressFn | None, name: str, phase: Phase, total_bytes: int | None,
                 done_bytes: int = 0, interval_s: float = 0.1):
        self.fn = fn
        self.name = name
        self.phase: Phase = phase
        self.total = total_bytes
        self.done = done_bytes
        self.interval = interval_s
        now = time.monotonic()
        self._last_emit = 0.0
        self._window: list[tuple[float, int]] = [(now, done_bytes)]
        self._emit(force=True)

    def advance(self, n: int) -> None:
        self.done += n
        self._emit()

    def set(self, done_bytes: int, total_bytes: int | None = None, phase: Phase | None = None) -> None:
        self.done = done_bytes
        if total_bytes is not None:
            self.total = total_bytes
        if phase is not None and phase != self.phase:
            self.phase = phase
            self._window = [(time.monotonic(), done_bytes)]
        self._emit(force=True)

    def finish(self) -> None:
        if self.fn is not None:
            self.fn(ProgressEvent(self.name, "done", self.done, self.total or self.done, None, 0.0))

    def _emit(self, force: bool = False) -> None:
        if self.fn is None:
            return
        now = time.monotonic()
        if not force and now - self._last_emit < self.interval:
            return
        self._last_emit = now
        self._window.append((now, self.done))
        while len(self._window) > 2 and now - self._window[0][0] > 5.0:
            self._window.pop(0)
        t0, b0 = self._window[0]
        rate = (self.done - b0) / (now - t0) if now - t0 > 0.2 else None
        eta = None
        if rate and self.total is not None and rate > 0:
            eta = max(0.0, (self.total - self.done) / rate)
        self.fn(ProgressEvent(self.name, self.phase, self.done, self.total, rate, eta))


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _duration(s: float) -> str:
    s = int(s + 0.5)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def render_line(ev: ProgressEvent, width: int = 24) -> str:
    """One status line: name, percentage and bar, bytes, rate, ETA."""
    parts = [f"{ev.phase:<8} {ev.name}"]
    if ev.total_bytes:
        frac = min(1.0, ev.done_bytes / ev.total_bytes)
        filled = int(frac * width)
        parts.append(f"{frac * 100:5.1f}% [{'#' * filled}{'.' * (width - filled)}]")
        parts.append(f"{_bytes(ev.done_bytes)} / {_bytes(ev.total_bytes)}")
    else:
        parts.append(_bytes(ev.done_bytes))
    if ev.rate_bps:
        parts.append(f"{_bytes(ev.rate_bps)}/s")
    if ev.eta_s is not None and ev.phase != "done":
        parts.append(f"ETA {_duration(ev.eta_s)}")
    return "  ".join(parts)


class TerminalBar:
    """Redraws one line on a terminal; ends it with a newline when done."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self._last_len = 0

    def __call__(self, ev: ProgressEvent) -> None:
        line = render_line(ev)
        pad = " " * max(0, self._last_len - len(line))
        self._last_len = len(line)
        end = "\n" if ev.phase == "done" else ""
        self.stream.write("\r" + line + pad + end)
        self.stream.flush()
        if end:
            self._last_len = 0


def default_progress() -> ProgressFn | None:
    """A terminal bar when stderr is a TTY, else ``None`` (quiet)."""
    try:
        return TerminalBar() if sys.stderr.isatty() else None
    except (AttributeError, ValueError):
        return None
