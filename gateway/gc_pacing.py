"""Garbage collection paced by how much the younger generations grew, not by allocation counts.

CPython 3.11 starts a collection of the youngest generation when tracked allocations
minus deallocations pass a threshold. A worker relaying long streams with churn (new
streams starting while as many end) allocates the objects of the new streams while the
ended ones are freed: the difference stays near zero, so no collection starts, and the
young generation grows until one does, over every object of every stream opened since
(175 ms at 1,000 streams in `bench/streams_scale.py --churn-s`), followed by the
middle generation's pass (70 ms). While streams open, the allocation count does
start young passes, and every tenth of them a middle-generation pass over everything
the nine before it promoted (60-90 ms at 1,000 streams opening over 10 s). `GcPacer`
looks at the length of the two younger generations every `check_every_s` and collects
them once they have grown by `young_growth` objects since the check that followed the
last pass over both (that first check counts the objects every open stream holds for
its next chunk, which a pass would only promote), so each pass visits a bounded number
of objects, and none runs while nothing accumulates. The whole heap is collected every
`full_every_s`, and only then (CPython's own full passes are switched off while the
pacer runs: each of its passes counts towards one, which would then visit the whole heap
at a moment nobody chose): the only pass that frees a reference cycle which reached the
oldest generation. Objects frozen at start-up (`freeze_start_up`) are never visited. Every
pass's pause, automatic ones included, is reported to `observe`.
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
#: A count of middle-generation passes that CPython never reaches: no automatic full pass.
_NEVER = 2**31 - 1
#: Pacers ticking in this process, and CPython's full-pass threshold before the first one.
_ticking_pacers = 0
_full_threshold_before = 0


def freeze_start_up() -> None:
    """Move every object alive after start-up out of the collector's reach, and raise the
    young threshold for the bursts of allocation the pacer does not wait for.

    At 700 net container allocations (the default), relaying thousands of streams starts
    a young pass every few chunks; at 50,000 a pass took 10-23 ms while 2,000 streams
    opened, against a steady p99.9 of 7-10 ms of added chunk delay at 10,000."""
    gc.freeze()
    gc.set_threshold(YOUNG_GC_THRESHOLD, *gc.get_threshold()[1:])


class GcPacer:
    """Collects the two younger generations when they grew by `young_growth` objects, the whole heap every `full_every_s`."""

    def __init__(self, check_every_s: float, young_growth: int, full_every_s: float,
                 observe: Callable[[int, float], None] | None = None):
        self.check_every_s = check_every_s
        self.young_growth = young_growth
        self.full_every_s = full_every_s
        self.observe = observe
        """Told (generation, pause in seconds) after every collection of the process."""
        self._handle: asyncio.TimerHandle | None = None
        self._full_due = 0.0
        self._young_base: int | None = None
        self._pass_started = 0.0
        self.checks = 0
        """Looks taken at the generations so far."""

    def start(self) -> None:
        """Start pacing on the running loop and timing every pass (no-op when started)."""
        if self._timed in gc.callbacks:
            return
        gc.callbacks.append(self._timed)
        self._full_due = time.monotonic() + self.full_every_s
        if self.check_every_s > 0:
            self._handle = asyncio.get_running_loop().call_later(self.check_every_s, self._tick)
            _full_passes_left_to_pacers(True)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
            _full_passes_left_to_pacers(False)
        if self._timed in gc.callbacks:
            gc.callbacks.remove(self._timed)

    def _tick(self) -> None:
        now = time.monotonic()
        self.checks += 1
        if now >= self._full_due:
            self._full_due = now + self.full_every_s
            found = gc.collect(2)
            if found:
                log.info("gc: the full pass found %d unreachable objects (reference cycles)", found)
        else:
            young = len(gc.get_objects(0)) + len(gc.get_objects(1))
            if self._young_base is None:
                self._young_base = young
            elif young - self._young_base >= self.young_growth:
                gc.collect(1)
        self._handle = asyncio.get_running_loop().call_later(self.check_every_s, self._tick)

    def _timed(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._pass_started = time.perf_counter()
            return
        if info["generation"] >= 1:
            self._young_base = None  # both younger generations are empty now
        if self.observe is not None:
            self.observe(info["generation"], time.perf_counter() - self._pass_started)


def _full_passes_left_to_pacers(one_more: bool) -> None:
    """Switch CPython's own full passes off while at least one pacer ticks, back on after the last."""
    global _ticking_pacers, _full_threshold_before
    young, middle, full = gc.get_threshold()
    if one_more and _ticking_pacers == 0:
        _full_threshold_before = full
        gc.set_threshold(young, middle, _NEVER)
    elif not one_more and _ticking_pacers == 1:
        gc.set_threshold(young, middle, _full_threshold_before)
    _ticking_pacers += 1 if one_more else -1
