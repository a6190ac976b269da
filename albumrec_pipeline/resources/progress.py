"""Progress lines for long loops: done/total, rate and time left, at a steady pace."""

from __future__ import annotations

import time
from collections.abc import Callable


class ProgressReporter:
    def __init__(self, what: str, total: int, log: Callable[[str], None], every_seconds: float = 5.0):
        self.what, self.total, self.log, self.every_seconds = what, total, log, every_seconds
        self.started = self.last = time.perf_counter()
        self.done = 0

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = time.perf_counter()
        if now - self.last >= self.every_seconds or self.done == self.total:
            self.last = now
            self.log(self.line(now))

    def line(self, now: float | None = None) -> str:
        elapsed = max((now or time.perf_counter()) - self.started, 1e-9)
        rate = self.done / elapsed
        remaining = (self.total - self.done) / rate if rate > 0 else float("inf")
        return f"{self.what}: {self.done}/{self.total} ({rate:,.0f}/s, about {remaining:,.0f}s left)"
