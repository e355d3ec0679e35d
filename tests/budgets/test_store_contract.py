"""The BudgetStore contract, run on the in-process store and on the Redis store."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from gateway.budgets.store import CALENDAR_MONTH, GCO2E, Amount, BudgetLimit

from .conftest import T0

HOUR = timedelta(hours=1)
EUR_100 = BudgetLimit("employee:alice", "eur", 100)
CARBON_1000 = BudgetLimit("employee:alice", GCO2E, 1000)
DEPT_EUR_150 = BudgetLimit("department:finance", "eur", 150)
SMALL_WINDOW = BudgetLimit("employee:bob", "eur", 100, window_seconds=4 * 3600, bucket_seconds=3600)


async def test_reservation_within_every_limit_is_granted_and_held(make_store):
    store = make_store()
    result = await store.reserve("r1", [EUR_100, CARBON_1000], Amount(60, 400), T0)
    assert result.granted
    assert [(s.spent_micro, s.reserved_micro, s.remaining_micro) for s in result.statuses] == [
        (0, 60, 40),
        (0, 400, 600),
    ]


async def test_reservation_over_a_limit_is_refused_and_names_that_budget(make_store):
    store = make_store()
    await store.reserve("r1", [EUR_100, CARBON_1000], Amount(10, 900), T0)
    result = await store.reserve("r2", [EUR_100, CARBON_1000], Amount(10, 200), T0)
    assert not result.granted
    assert result.refused_by == CARBON_1000


async def test_settle_replaces_the_reservation_by_the_actual_amount(make_store):
    store = make_store()
    await store.reserve("r1", [EUR_100, CARBON_1000], Amount(60, 400), T0)
    statuses = await store.settle("r1", Amount(25, 150), T0)
    assert [(s.spent_micro, s.reserved_micro) for s in statuses] == [(25, 0), (150, 0)]
    assert [s.spent_micro for s in await store.status([EUR_100, CARBON_1000], T0)] == [25, 150]


async def test_release_gives_back_the_whole_reservation(make_store):
    store = make_store()
    await store.reserve("r1", [EUR_100], Amount(60, 0), T0)
    await store.release("r1", T0)
    [status] = await store.status([EUR_100], T0)
    assert (status.spent_micro, status.reserved_micro) == (0, 0)


async def test_settling_one_reservation_twice_counts_it_once(make_store):
    store = make_store()
    await store.reserve("r1", [EUR_100], Amount(60, 0), T0)
    await store.settle("r1", Amount(30, 0), T0)
    assert await store.settle("r1", Amount(30, 0), T0) == []
    [status] = await store.status([EUR_100], T0)
    assert status.spent_micro == 30


async def test_release_after_settle_or_release_changes_nothing(make_store):
    store = make_store()
    await store.reserve("r1", [EUR_100], Amount(60, 0), T0)
    await store.settle("r1", Amount(30, 0), T0)
    await store.release("r1", T0)
    await store.reserve("r2", [EUR_100], Amount(20, 0), T0)
    await store.release("r2", T0)
    await store.release("r2", T0)
    [status] = await store.status([EUR_100], T0)
    assert (status.spent_micro, status.reserved_micro) == (30, 0)


async def test_reserving_again_under_the_same_id_holds_the_amount_once(make_store):
    store = make_store()
    await store.reserve("r1", [EUR_100], Amount(60, 0), T0)
    again = await store.reserve("r1", [EUR_100], Amount(60, 0), T0)
    assert again.granted
    [status] = await store.status([EUR_100], T0)
    assert status.reserved_micro == 60


async def test_a_refusal_on_one_scope_reserves_nothing_on_any_scope(make_store):
    store = make_store()
    await store.reserve("dept", [DEPT_EUR_150], Amount(120, 0), T0)
    result = await store.reserve("r1", [EUR_100, CARBON_1000, DEPT_EUR_150], Amount(50, 10), T0)
    assert not result.granted and result.refused_by == DEPT_EUR_150
    statuses = await store.status([EUR_100, CARBON_1000, DEPT_EUR_150], T0)
    assert [s.reserved_micro for s in statuses] == [0, 0, 120]


async def test_spending_rolls_out_of_a_rolling_window_bucket_by_bucket(make_store):
    store = make_store()
    for hour, spent in enumerate([10, 20, 30]):
        await store.reserve(f"r{hour}", [SMALL_WINDOW], Amount(spent, 0), T0 + hour * HOUR)
        await store.settle(f"r{hour}", Amount(spent, 0), T0 + hour * HOUR)
    seen = [(await store.status([SMALL_WINDOW], T0 + h * HOUR))[0].spent_micro for h in range(2, 8)]
    assert seen == [60, 60, 50, 30, 0, 0]


async def test_retry_after_is_when_enough_spending_has_rolled_out(make_store):
    store = make_store()
    for hour in range(3):
        await store.reserve(f"r{hour}", [SMALL_WINDOW], Amount(30, 0), T0 + hour * HOUR)
        await store.settle(f"r{hour}", Amount(30, 0), T0 + hour * HOUR)
    now = T0 + 2 * HOUR + timedelta(minutes=15)
    result = await store.reserve("big", [SMALL_WINDOW], Amount(70, 0), now)
    assert not result.granted
    assert result.retry_after_s == int((T0 + 5 * HOUR - now).total_seconds())
    later = await store.reserve("big", [SMALL_WINDOW], Amount(70, 0), now + timedelta(seconds=result.retry_after_s))
    assert later.granted


async def test_an_amount_above_the_limit_itself_has_no_retry_after(make_store):
    store = make_store()
    result = await store.reserve("r1", [EUR_100], Amount(101, 0), T0)
    assert not result.granted and result.retry_after_s is None


async def test_a_calendar_month_window_starts_afresh_on_the_first_of_the_month(make_store):
    store = make_store()
    monthly = BudgetLimit("org", "eur", 100, window=CALENDAR_MONTH)
    late_november = T0.replace(day=30, hour=22)
    await store.reserve("r1", [monthly], Amount(90, 0), late_november)
    await store.settle("r1", Amount(90, 0), late_november)
    refused = await store.reserve("r2", [monthly], Amount(20, 0), late_november)
    assert refused.retry_after_s == 2 * 3600
    december = T0.replace(month=12, day=1, hour=0, minute=5)
    assert (await store.reserve("r2", [monthly], Amount(20, 0), december)).granted


async def test_an_unsettled_reservation_gives_its_room_back_after_the_ttl(make_store):
    store = make_store(reservation_ttl_s=1)
    await store.reserve("crashed", [EUR_100], Amount(100, 0), T0)
    assert not (await store.reserve("r2", [EUR_100], Amount(50, 0), T0 + timedelta(seconds=0.5))).granted
    await asyncio.sleep(1.1)  # the Redis store expires on Redis's own clock, not on `now`
    assert (await store.reserve("r2", [EUR_100], Amount(50, 0), T0 + timedelta(seconds=1.1))).granted


async def test_a_renewed_reservation_outlives_its_ttl(make_store):
    store = make_store(reservation_ttl_s=1)
    await store.reserve("streaming", [EUR_100], Amount(100, 0), T0)
    for step in range(1, 4):
        await asyncio.sleep(0.6)
        assert await store.renew("streaming", T0 + timedelta(seconds=0.6 * step))
    refused = await store.reserve("r2", [EUR_100], Amount(50, 0), T0 + timedelta(seconds=1.9))
    assert not refused.granted
    await store.settle("streaming", Amount(30, 0), T0 + timedelta(seconds=2))
    assert not await store.renew("streaming", T0 + timedelta(seconds=2))


async def test_a_settle_arriving_after_the_ttl_still_records_the_spending(make_store):
    store = make_store(reservation_ttl_s=60)
    await store.reserve("slow", [EUR_100], Amount(80, 0), T0)
    await store.status([EUR_100], T0 + timedelta(seconds=90))
    await store.settle("slow", Amount(70, 0), T0 + timedelta(seconds=90))
    [status] = await store.status([EUR_100], T0 + timedelta(seconds=91))
    assert (status.spent_micro, status.reserved_micro) == (70, 0)


async def test_a_changed_limit_keeps_the_spending_of_its_window(make_store):
    store = make_store()
    await store.reserve("r1", [EUR_100], Amount(60, 0), T0)
    await store.settle("r1", Amount(60, 0), T0)
    raised = BudgetLimit("employee:alice", "eur", 200)
    [status] = await store.status([raised], T0)
    assert (status.spent_micro, status.remaining_micro) == (60, 140)


async def test_concurrent_reservations_grant_exactly_the_room_available(make_store):
    replicas = [make_store() for _ in range(4)]
    room_for = 7
    limit = BudgetLimit("use_case:translation", "eur", room_for * 10)
    await replicas[0].status([limit], T0)

    async def attempt(i: int) -> bool:
        return (await replicas[i % 4].reserve(f"c{i}", [limit, EUR_100], Amount(10, 0), T0)).granted

    granted = await asyncio.gather(*(attempt(i) for i in range(64)))
    assert sum(granted) == room_for


async def test_counters_never_seen_are_rebuilt_from_the_ledger_before_admitting(make_store, ledger):
    ledger.add("employee:alice", "eur", T0 - 2 * HOUR, 70)
    ledger.add("employee:alice", "eur", T0 - timedelta(days=31), 1000)
    store = make_store(rebuild_source=ledger)
    result = await store.reserve("r1", [EUR_100], Amount(40, 0), T0)
    assert not result.granted
    [status] = await store.status([EUR_100], T0)
    assert status.spent_micro == 70


async def test_a_mark_is_new_only_once_per_ttl(make_store):
    store = make_store()
    assert await store.mark_once("employee:alice|eur|80", 3600, T0)
    assert not await store.mark_once("employee:alice|eur|80", 3600, T0)
    assert await store.mark_once("employee:alice|eur|90", 3600, T0)
