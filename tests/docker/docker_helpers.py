"""Helpers for the docker tier: image names, and a client that polls an
endpoint every few milliseconds and records what came back (to measure the
window with no answer while a deployment is swapped).
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

SERVER_IMAGE = "aistack-test/llama-server:cpu"
BASE_IMAGE = "aistack-test/debian:bookworm"
SMOLLM2 = "smollm2-135m-instruct"


@dataclass
class PollResult:
    samples: list[tuple[float, str]] = field(default_factory=list)  # (monotonic time, "ok" | reason)

    @property
    def total(self) -> int:
        return len(self.samples)

    @property
    def failures(self) -> list[str]:
        return [r for _, r in self.samples if r != "ok"]

    @property
    def longest_gap_ms(self) -> float:
        """Longest stretch between two successful answers (or from the start to the first)."""
        if not self.samples:
            return 0.0
        last = self.samples[0][0]
        worst = 0.0
        for t, r in self.samples:
            if r == "ok":
                worst = max(worst, t - last)
                last = t
        worst = max(worst, self.samples[-1][0] - last)
        return worst * 1000.0


class Poller:
    def __init__(self, url: str, interval_s: float = 0.015, headers: dict | None = None, timeout_s: float = 2.0):
        self.url = url
        self.interval_s = interval_s
        self.headers = headers or {}
        self.timeout_s = timeout_s
        self.result = PollResult()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _once(self) -> str:
        req = urllib.request.Request(self.url, headers=self.headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                resp.read()
                return "ok" if resp.status == 200 else f"http {resp.status}"
        except urllib.error.HTTPError as exc:
            return f"http {exc.code}"
        except ConnectionRefusedError:
            return "refused"
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, ConnectionRefusedError):
                return "refused"
            return type(reason).__name__

    def _loop(self) -> None:
        deadline = time.monotonic() + 600  # bounded, whatever happens
        while not self._stop.is_set() and time.monotonic() < deadline:
            t = time.monotonic()
            self.result.samples.append((t, self._once()))
            time.sleep(self.interval_s)

    def __enter__(self) -> "Poller":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
