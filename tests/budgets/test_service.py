"""The budget service: which budgets apply, refusals, remaining amounts, thresholds."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest

from gateway.budgets.config import BudgetRule, BudgetsConfig
from gateway.budgets.memory import InMemoryBudgetStore
from gateway.budgets.service import BudgetExceeded, BudgetService
from gateway.budgets.store import CALENDAR_MONTH, EUR, GCO2E, Amount, BudgetLimit
from gateway.budgets.thresholds import WebhookNotifier

from .conftest import T0

EUR_1 = 1_000_000
G_1 = 1_000_000


@dataclass(frozen=True)
class Person:
    pseudonym: str = "p-alice"
    department: str = "finance"
    roles: frozenset[str] = field(default_factory=lambda: frozenset({"employee"}))


def by_scope(limits: list[BudgetLimit]) -> dict[tuple[str, str], int]:
    return {(limit.scope, limit.unit): limit.limit_micro for limit in limits}


def test_an_employee_gets_50_eur_and_2000_g_per_rolling_30_days_by_default():
    limits = BudgetService(InMemoryBudgetStore()).limits_for(Person(), None)
    assert by_scope(limits) == {("employee:p-alice", EUR): 50 * EUR_1, ("employee:p-alice", GCO2E): 2000 * G_1}
    assert {(lim.window, lim.window_seconds, lim.bucket_seconds) for lim in limits} == {("rolling", 30 * 86400, 3600)}


def test_department_then_role_rules_refine_the_employee_default():
    config = BudgetsConfig(
        employee_by_department={"finance": BudgetRule(gco2e_g=Decimal(500))},
        employee_by_role={"power_user": BudgetRule(eur=Decimal(200))},
    )
    service = BudgetService(InMemoryBudgetStore(), config)
    power = Person(roles=frozenset({"employee", "power_user"}))
    assert by_scope(service.limits_for(power, None)) == {
        ("employee:p-alice", EUR): 200 * EUR_1,
        ("employee:p-alice", GCO2E): 500 * G_1,
    }


def test_department_use_case_and_org_budgets_apply_alongside_the_employee_one():
    config = BudgetsConfig(
        departments={"finance": BudgetRule(gco2e_g=Decimal(10_000))},
        use_cases={"translation": BudgetRule(eur=Decimal(300), window=CALENDAR_MONTH)},
        org=BudgetRule(eur=Decimal(5000)),
    )
    limits = by_scope(BudgetService(InMemoryBudgetStore(), config).limits_for(Person(), "translation"))
    assert limits[("department:finance", GCO2E)] == 10_000 * G_1
    assert limits[("use_case:translation", EUR)] == 300 * EUR_1
    assert limits[("org", EUR)] == 5000 * EUR_1
    assert ("department:finance", EUR) not in limits


def test_an_override_replaces_the_configured_budget_of_its_scope():
    service = BudgetService(InMemoryBudgetStore())
    service.limits_for(Person(), None)
    service.set_overrides({"employee:p-alice": BudgetRule(eur=Decimal("12.5"))})
    assert by_scope(service.limits_for(Person(), None)) == {("employee:p-alice", EUR): 12_500_000}


async def test_a_refusal_names_the_budget_and_when_to_retry():
    service = BudgetService(InMemoryBudgetStore(), BudgetsConfig(employee=BudgetRule(eur=Decimal(1))))
    await service.reserve("r1", Person(), None, Amount(EUR_1, 0), T0)
    await service.settle("r1", Amount(EUR_1, 0), T0)
    with pytest.raises(BudgetExceeded) as refused:
        await service.reserve("r2", Person(), None, Amount(1, 0), T0 + timedelta(minutes=30))
    assert refused.value.refused_by.scope == "employee:p-alice"
    assert refused.value.retry_after_s == 30 * 86400 - 30 * 60


async def test_the_snapshot_reports_the_tightest_remaining_budget_per_unit():
    config = BudgetsConfig(departments={"finance": BudgetRule(eur=Decimal(10))})
    service = BudgetService(InMemoryBudgetStore(), config)
    await service.reserve("r1", Person(), None, Amount(4 * EUR_1, 100 * G_1), T0)
    snapshot = await service.settle("r1", Amount(3 * EUR_1, 100 * G_1), T0)
    assert snapshot.remaining_micro_eur == 7 * EUR_1
    assert snapshot.remaining_gco2e_ug == 1900 * G_1


async def test_usage_lists_the_budgets_of_the_employee_as_of_now():
    service = BudgetService(InMemoryBudgetStore())
    await service.reserve("r1", Person(), None, Amount(EUR_1, G_1), T0)
    await service.settle("r1", Amount(EUR_1, G_1), T0)
    usage = await service.usage(Person(), T0)
    assert [(s.limit.unit, s.spent_micro) for s in usage] == [(EUR, EUR_1), (GCO2E, G_1)]


async def test_a_soft_threshold_warns_on_every_response_and_notifies_once_per_window():
    posted: list[dict] = []

    def webhook(request: httpx.Request) -> httpx.Response:
        posted.append(json.loads(request.content))
        return httpx.Response(204)

    notifier = WebhookNotifier("http://hooks.test/budget", client=httpx.AsyncClient(transport=httpx.MockTransport(webhook)))
    config = BudgetsConfig(employee=BudgetRule(eur=Decimal(10)), soft_thresholds=[0.8])
    service = BudgetService(InMemoryBudgetStore(), config, notifier=notifier)
    warnings = []
    for i, spent in enumerate([7, 1, 1]):
        await service.reserve(f"r{i}", Person(), None, Amount(spent * EUR_1, 0), T0)
        warnings.append((await service.settle(f"r{i}", Amount(spent * EUR_1, 0), T0)).warnings)
    await notifier.aclose()
    assert warnings == [[], ["employee EUR 80%"], ["employee EUR 80%"]]
    assert [(e["scope"], e["unit"], e["threshold"]) for e in posted] == [("employee:p-alice", EUR, 0.8)]


async def test_a_failing_webhook_does_not_fail_the_request():
    def webhook(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500)

    notifier = WebhookNotifier("http://hooks.test/budget", client=httpx.AsyncClient(transport=httpx.MockTransport(webhook)))
    service = BudgetService(InMemoryBudgetStore(), BudgetsConfig(employee=BudgetRule(eur=Decimal(1))), notifier=notifier)
    await service.reserve("r1", Person(), None, Amount(EUR_1, 0), T0)
    snapshot = await service.settle("r1", Amount(EUR_1, 0), T0)
    await notifier.aclose()
    assert snapshot.remaining_micro_eur == 0


async def test_release_gives_the_worst_case_back():
    service = BudgetService(InMemoryBudgetStore(), BudgetsConfig(employee=BudgetRule(eur=Decimal(1))))
    await service.reserve("r1", Person(), None, Amount(EUR_1, 0), T0)
    await service.release("r1", T0)
    snapshot = await service.reserve("r2", Person(), None, Amount(EUR_1, 0), T0)
    assert snapshot.remaining_micro_eur == 0



async def test_two_replicas_report_a_threshold_crossing_once(make_store):
    posted: list[dict] = []

    def webhook(request: httpx.Request) -> httpx.Response:
        posted.append(json.loads(request.content))
        return httpx.Response(204)

    config = BudgetsConfig(employee=BudgetRule(eur=Decimal(10)), soft_thresholds=[0.5])
    notifiers = [
        WebhookNotifier("http://hooks.test/b", client=httpx.AsyncClient(transport=httpx.MockTransport(webhook)))
        for _ in range(2)
    ]
    replicas = [BudgetService(make_store(), config, notifier=notifier) for notifier in notifiers]
    for i, service in enumerate(replicas * 2):
        await service.reserve(f"r{i}", Person(), None, Amount(2 * EUR_1, 0), T0)
        await service.settle(f"r{i}", Amount(2 * EUR_1, 0), T0)
    for notifier in notifiers:
        await notifier.aclose()
    assert [(e["scope"], e["threshold"]) for e in posted] == [("employee:p-alice", 0.5)]
