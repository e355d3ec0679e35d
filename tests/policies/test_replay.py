"""`sobria policy replay`: re-decide recorded requests under a candidate policy.

Seeded ledger (served under rules_policy.yaml, replayed under rules_policy_v2.yaml):
  1 general      auto          30 in / 200 out  gpt-4o-mini     -> same model, same cost
  2 analysis     auto        1000 in / 500 out  mistral-large   -> mistral-medium (analysis-medium)
  3 analysis     auto       25000 in / 800 out  mistral-large   -> same (long-prompts-large)
  4 translation  auto         400 in / 900 out  mistral-small   -> same model, output capped to 800
  5 analysis     auto (legal, 23:30 Paris)       mistral-small   -> mistral-medium
  6 code         mistral-large 500 in / 400 out  mistral-large   -> denied (code refuses large)
  not replayed: a refused request (no served model) and one older than the window.
The fake CO2e estimate is (in + out) tokens x 1, 3 or 10 mg for small, medium, large.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from itertools import count

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from gateway.providers.catalogue import ModelSpec
from gateway.ledger.tables import Base, UsageRecord
from gateway.ledger.replay_rows import load_rows
from gateway.commands.policy import parse_since, policy_app
from policies.engine import PolicyEngine
from policies.replay import LedgerRow, replay
from tests.policies.conftest import DATA

V2 = DATA / "rules_policy_v2.yaml"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
MG_PER_TOKEN = {"small": 1, "medium": 3, "large": 10}


def fake_gwp_g(spec: ModelSpec, input_tokens: int, output_tokens: int) -> float:
    return (input_tokens + output_tokens) * MG_PER_TOKEN[spec.tier] / 1000


ROWS = [
    # use_case, department, roles, requested, served, in, out, cost_micro_eur, gwp_ug, started_at
    ("general", "finance", "employee", "auto", "gpt-4o-mini", 30, 200, 115, 230_000, NOW - timedelta(days=1)),
    ("analysis", "finance", "employee", "auto", "mistral-large", 1000, 500, 4600, 15_000_000, NOW - timedelta(days=2)),
    ("analysis", "finance", "employee", "auto", "mistral-large", 25000, 800, 50416, 258_000_000, NOW - timedelta(days=3)),
    ("translation", "hr", "employee", "auto", "mistral-small", 400, 900, 286, 1_300_000, NOW - timedelta(days=4)),
    ("analysis", "legal", "employee", "auto", "mistral-small", 1000, 300, 175, 1_300_000,
     datetime(2026, 11, 20, 22, 30, tzinfo=timezone.utc)),
    ("code", "it", "employee,developer", "mistral-large", "mistral-large", 500, 400, 3128, 9_000_000, NOW - timedelta(days=5)),
    ("analysis", "finance", "intern", "auto", None, 100, 0, 0, 0, NOW - timedelta(days=1)),
    ("general", "finance", "employee", "auto", "mistral-medium", 100, 100, 221, 600_000, NOW - timedelta(days=45)),
]


async def _seed(url: str) -> None:
    engine = create_async_engine(url)
    ids = count(1)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
        for uc, dept, roles, requested, served, tin, tout, cost, gwp, started in ROWS:
            await conn.execute(
                insert(UsageRecord).values(
                    request_id=f"req-{next(ids)}", started_at=started, finished_at=started,
                    employee_pseudonym="p", department=dept, roles=roles, key_id="k", use_case=uc,
                    requested_model=requested, served_model=served, status="ok" if served else "denied",
                    http_status=200 if served else 403, input_tokens=tin, output_tokens=tout,
                    cost_micro_eur=cost, gwp_ug=gwp,
                )
            )
    await engine.dispose()


@pytest.fixture
def ledger_url(tmp_path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    asyncio.run(_seed(url))
    return url


@pytest.fixture
def report(ledger_url, catalogue):
    rows = asyncio.run(load_rows(ledger_url, NOW - timedelta(days=30)))
    return replay(rows, PolicyEngine.load(V2, catalogue), gwp_g=fake_gwp_g)


def test_only_served_requests_inside_the_window_are_replayed(report):
    assert report.overall.requests == 6


def test_overall_changes_in_model_denials_cost_and_co2e(report):
    o = report.overall
    assert (o.changed, o.denied) == (2, 1)
    assert (o.cost_before, o.cost_after) == (58_720, 52_997)
    assert (o.gwp_before, o.gwp_after) == (284_830_000, 267_830_000)


def test_per_use_case_totals(report):
    assert {uc: (t.requests, t.changed, t.denied, t.cost_before, t.cost_after, t.gwp_before, t.gwp_after)
            for uc, t in report.per_use_case.items()} == {
        "analysis": (3, 2, 0, 55_191, 52_624, 274_300_000, 266_400_000),
        "code": (1, 0, 1, 3_128, 0, 9_000_000, 0),
        "general": (1, 0, 0, 115, 115, 230_000, 230_000),
        "translation": (1, 0, 0, 286, 258, 1_300_000, 1_200_000),
    }


def test_model_transitions_are_counted(report):
    assert dict(report.transitions) == {
        ("mistral-large", "mistral-medium"): 1,
        ("mistral-small", "mistral-medium"): 1,
        ("mistral-large", "denied"): 1,
    }


def test_replaying_under_the_recorded_policy_changes_nothing(ledger_url, catalogue):
    rows = asyncio.run(load_rows(ledger_url, NOW - timedelta(days=30)))
    rows = [r for r in rows if r.use_case != "code"]
    report = replay(rows, PolicyEngine.load(DATA / "rules_policy.yaml", catalogue), gwp_g=fake_gwp_g)
    o = report.overall
    assert (o.changed, o.denied, o.cost_before - o.cost_after, o.gwp_before - o.gwp_after) == (0, 0, 0, 0)


def test_cli_replay_reports_counts_and_cost(ledger_url, monkeypatch):
    monkeypatch.setattr("gateway.commands.policy.parse_since", lambda value: NOW - timedelta(days=30))
    result = CliRunner().invoke(policy_app, ["replay", str(V2), "--since", "30d", "--database-url", ledger_url])
    assert result.exit_code == 0, result.output
    assert "6 requests since 2026-10-24 12:00 UTC" in result.output
    assert "change model: 2 (33.3 %), newly denied: 1" in result.output
    assert "cost:  0.0587 -> 0.0530 EUR (-0.0057, -9.7 %)" in result.output


def test_since_accepts_durations_and_dates():
    assert parse_since("30d", NOW) == NOW - timedelta(days=30)
    assert parse_since("12h", NOW) == NOW - timedelta(hours=12)
    assert parse_since("2026-11-01", NOW) == datetime(2026, 11, 1, tzinfo=timezone.utc)


def test_projected_co2e_scales_the_recorded_value_by_the_estimated_ratio(catalogue):
    row = LedgerRow(NOW, "analysis", "finance", frozenset({"employee"}), "auto", "mistral-large",
                    input_tokens=1000, output_tokens=500, max_tokens=None, cost_micro_eur=4600, gwp_ug=30_000_000)
    report = replay([row], PolicyEngine.load(V2, catalogue), gwp_g=fake_gwp_g)
    assert report.overall.gwp_after == 9_000_000
