"""The garbage collector paced by the clock: what each pass frees, and what it reports."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from gateway.gc_pacing import GcPacer


class Cycle:
    """An object that only the cyclic collector can free."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def automatic_collection_off() -> Iterator[None]:
    """Only the pacer's own passes run (and nothing collected before the test lingers)."""
    gc.collect()
    gc.disable()
    yield
    gc.enable()


async def passes_until(pacer_seen: list, done, most: int = 200) -> None:
    while not done() and len(pacer_seen) < most:
        await asyncio.sleep(0.005)


async def test_a_young_cycle_is_freed_by_the_pacer_with_automatic_collection_off(automatic_collection_off):
    seen: list[int] = []
    pacer = GcPacer(every_s=0.01, full_every_s=3600, observe=lambda generation, _pause: seen.append(generation))
    pacer.start()
    try:
        gone = weakref.ref(Cycle())
        await passes_until(seen, lambda: gone() is None)
    finally:
        pacer.stop()

    assert gone() is None
    assert set(seen) == {1}  # younger generations only, well before the full pass is due


async def test_a_cycle_that_reached_the_oldest_generation_waits_for_the_full_pass(automatic_collection_off):
    survivor = Cycle()
    gone = weakref.ref(survivor)
    gc.collect(1)  # it survives: now in the oldest generation
    assert any(obj is survivor for obj in gc.get_objects(2))
    del survivor
    seen: list[tuple[int, bool]] = []
    pacer = GcPacer(every_s=0.01, full_every_s=0.1,
                    observe=lambda generation, _pause: seen.append((generation, gone() is not None)))
    pacer.start()
    try:
        await passes_until(seen, lambda: gone() is None)
    finally:
        pacer.stop()

    first_full = next(i for i, (generation, _) in enumerate(seen) if generation == 2)
    assert first_full > 0 and all(alive for _, alive in seen[:first_full])
    assert seen[first_full] == (2, False)


async def test_every_pass_is_timed_until_the_pacer_stops(automatic_collection_off):
    pauses: list[tuple[int, float]] = []
    pacer = GcPacer(every_s=0, full_every_s=3600, observe=lambda generation, pause: pauses.append((generation, pause)))
    pacer.start()
    gc.collect(0)
    gc.collect()
    pacer.stop()
    gc.collect()

    assert [generation for generation, _ in pauses] == [0, 2]
    assert all(pause >= 0 for _, pause in pauses)
