"""Garbage collection paced by the clock rather than by allocation counts.

CPython 3.11 starts a collection of the youngest generation when tracked allocations
minus deallocations pass a threshold. A worker relaying long streams with churn (new
streams starting while as many end) allocates the objects of the new streams while the
ended ones are freed: the difference stays near zero, so no collection starts, and the
young generation grows until one does, over every object of every stream opened since
(175 ms at 1,000 streams in `bench/streams_scale.py --churn-s`), followed by the
middle generation's pass (70 ms). `GcPacer` collects the two younger generations every
`every_s` instead, so that each pass visits only what was allocated since the last one
and is still alive, and the whole heap every `full_every_s`: the only pass that frees a
reference cycle which reached the oldest generation. Objects frozen at start-up
(`freeze_start_up`) are never visited. Every pass's pause, automatic ones included, is
reported to `observe`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("sobria.gc")

#: Net container allocations between two automatic collections of the youngest generation.
YOUNG_GC_THRESHOLD = 10_000


def freeze_start_up() -> None:
    """Move every object alive after start-up out of the collector's reach, and raise the
    young threshold for the bursts of allocation the pacer does not wait for.

    At 700 net container allocations (the default), relaying thousands of streams starts
    a young pass every few chunks; at 50,000 a pass took 10-23 ms while 2,000 streams
    opened, against a steady p99.9 of 7-10 ms of added chunk delay at 10,000."""
    gc.freeze()
    gc.set_threshold(YOUNG_GC_THRESHOLD, *gc.get_threshold()[1:])


class GcPacer:
    """Collects the young generations every `every_s` and the whole heap every `full_every_s`."""

    def __init__(self, every_s: float, full_every_s: float,
                 observe: Callable[[int, float], None] | None = None):
        self.every_s = every_s
        self.full_every_s = full_every_s
        self.observe = observe
        """Told (generation, pause in seconds) after every collection of the process."""
        self._handle: asyncio.TimerHandle | None = None
        self._full_due = 0.0
        self._pass_started = 0.0

    def start(self) -> None:
        """Start pacing on the running loop and timing every pass (no-op when started)."""
        if self._handle is not None:
            return
        gc.callbacks.append(self._timed)
        self._full_due = time.monotonic() + self.full_every_s
        if self.every_s > 0:
            self._handle = asyncio.get_running_loop().call_later(self.every_s, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._timed in gc.callbacks:
            gc.callbacks.remove(self._timed)

    def _tick(self) -> None:
        now = time.monotonic()
        if now >= self._full_due:
            self._full_due = now + self.full_every_s
            found = gc.collect(2)
            if found:
                log.info("gc: the full pass found %d unreachable objects (reference cycles)", found)
        else:
            gc.collect(1)
        self._handle = asyncio.get_running_loop().call_later(self.every_s, self._tick)

    def _timed(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._pass_started = time.perf_counter()
        elif self.observe is not None:
            self.observe(info["generation"], time.perf_counter() - self._pass_started)
