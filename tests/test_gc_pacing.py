"""The garbage collector paced by the young generation's growth: what each pass frees, and what it reports."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Callable, Iterator

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


async def run_pacer(pacer: GcPacer, done: Callable[[], bool], most: int = 200, grow: int = 0) -> None:
    """Let the pacer look until `done()` or `most` looks, keeping `grow` new objects alive between looks."""
    kept: list[list] = []
    pacer.start()
    try:
        while not done() and pacer.checks < most:
            kept.extend([] for _ in range(grow))  # lists are always tracked (empty dicts are not)
            await asyncio.sleep(0.005)
    finally:
        pacer.stop()


async def test_a_growing_young_generation_is_collected_and_its_cycles_freed(automatic_collection_off):
    seen: list[int] = []
    gone = weakref.ref(Cycle())
    await run_pacer(GcPacer(check_every_s=0.01, young_growth=200, full_every_s=3600,
                            observe=lambda generation, _pause: seen.append(generation)),
                    lambda: gone() is None, grow=100)

    assert gone() is None
    assert set(seen) == {1}  # the younger generations only: the full pass is an hour away


async def test_no_pass_runs_while_the_young_generation_does_not_grow(automatic_collection_off):
    seen: list[int] = []
    gone = weakref.ref(Cycle())
    pacer = GcPacer(check_every_s=0.01, young_growth=1_000_000, full_every_s=3600,
                    observe=lambda generation, _pause: seen.append(generation))
    await run_pacer(pacer, lambda: False, most=20, grow=10)

    assert pacer.checks >= 20
    assert seen == [] and gone() is not None


async def test_a_cycle_that_reached_the_oldest_generation_waits_for_the_full_pass(automatic_collection_off):
    survivor = Cycle()
    gone = weakref.ref(survivor)
    gc.collect(1)  # it survives: now in the oldest generation
    assert any(obj is survivor for obj in gc.get_objects(2))
    del survivor
    seen: list[tuple[int, bool]] = []
    await run_pacer(GcPacer(check_every_s=0.01, young_growth=50, full_every_s=0.2,
                            observe=lambda generation, _pause: seen.append((generation, gone() is not None))),
                    lambda: gone() is None, grow=100)

    first_full = next(i for i, (generation, _) in enumerate(seen) if generation == 2)
    assert first_full > 0 and all(alive for _, alive in seen[:first_full])  # young passes ran, and left it
    assert seen[first_full] == (2, False)


async def test_every_pass_is_timed_until_the_pacer_stops(automatic_collection_off):
    pauses: list[tuple[int, float]] = []
    pacer = GcPacer(check_every_s=0, young_growth=1, full_every_s=3600,
                    observe=lambda generation, pause: pauses.append((generation, pause)))
    pacer.start()
    gc.collect(0)
    gc.collect()
    pacer.stop()
    gc.collect()

    assert [generation for generation, _ in pauses] == [0, 2]
    assert all(pause >= 0 for _, pause in pauses)


async def test_while_the_pacer_runs_only_it_starts_full_passes():
    before = gc.get_threshold()
    pacer = GcPacer(check_every_s=0.01, young_growth=10, full_every_s=3600)
    pacer.start()
    during = gc.get_threshold()
    pacer.stop()

    assert during[:2] == before[:2] and during[2] > 10**9
    assert gc.get_threshold() == before


async def test_two_pacers_in_one_process_restore_full_passes_only_when_both_stopped():
    before = gc.get_threshold()
    first = GcPacer(check_every_s=0.01, young_growth=10, full_every_s=3600)
    second = GcPacer(check_every_s=0.01, young_growth=10, full_every_s=3600)
    first.start()
    second.start()
    first.stop()
    still_off = gc.get_threshold()[2]
    second.stop()

    assert still_off > 10**9
    assert gc.get_threshold() == before
