"""How late the event loop has been running what was due: a timeout's second opinion.

A call with a socket timeout can time out because the far end is slow, or because the
loop itself was too busy to read a reply already waiting in the socket (a worker
admitting hundreds of requests a second while it relays thousands of streams). The two
call for different answers: the first is an outage, the second is not. `LoopLag` runs a
tick every `every_s` and keeps how late each tick ran; `late_s(window)` sums those delays
over the last `window` seconds, the tick overdue right now included.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque


class LoopLag:
    """Lateness of the running loop, sampled by a self-rescheduling timer."""

    def __init__(self, every_s: float = 0.05, keep_s: float = 10.0):
        self.every_s = every_s
        self._seen: deque[tuple[float, float]] = deque(maxlen=max(1, int(keep_s / every_s)))
        self._due = 0.0
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Start sampling on the running loop (no-op when started or outside a loop)."""
        if self._handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._due = time.monotonic() + self.every_s
        self._handle = loop.call_later(self.every_s, self._tick)

    def _tick(self) -> None:
        now = time.monotonic()
        self._seen.append((now, max(0.0, now - self._due)))
        self._due = now + self.every_s
        self._handle = asyncio.get_running_loop().call_later(self.every_s, self._tick)

    def late_s(self, window_s: float) -> float:
        """Seconds the loop ran behind over the last `window_s` seconds."""
        now = time.monotonic()
        since = now - window_s
        late = sum(lateness for at, lateness in self._seen if at >= since)
        if self._handle is not None and now > self._due:
            late += now - self._due
        return late

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
