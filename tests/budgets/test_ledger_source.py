"""Rebuilding budget counters from the ledger's usage records (SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from gateway.budgets.ledger_source import LedgerRebuildSource
from gateway.budgets.store import GCO2E, BudgetLimit
from gateway.ledger import rollups
from gateway.ledger.tables import Base, UsageRecord

from .conftest import T0

_ids = itertools.count()


def usage(at: datetime, employee: str = "alice", department: str = "finance", eur: int = 0, ug: int = 0):
    return UsageRecord(
        request_id=f"req-{next(_ids)}",
        started_at=at,
        finished_at=at,
        employee_pseudonym=employee,
        department=department,
        roles="employee",
        key_id="k1",
        use_case="translation",
        requested_model="auto",
        status="ok",
        http_status=200,
        stream=False,
        demo=False,
        input_tokens=1,
        output_tokens=1,
        latency_ms=1.0,
        cost_micro_eur=eur,
        gwp_ug=ug,
    )


@pytest.fixture
async def ledger_engine(database_url):
    engine = create_async_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    async with async_sessionmaker(engine)() as session, session.begin():
        session.add_all(
            [
                usage(T0 - timedelta(minutes=30), eur=10, ug=100),
                usage(T0 - timedelta(minutes=20), eur=5, ug=50),
                usage(T0 + timedelta(minutes=10), eur=7, ug=70),
                usage(T0 + timedelta(minutes=10), employee="bob", department="legal", eur=1000),
                usage(T0 - timedelta(days=40), eur=999, ug=999),
            ]
        )
    await rollups.rebuild(engine, (T0 - timedelta(days=40)).date(), T0.date(), lambda *_: None)
    yield engine
    await engine.dispose()


async def test_spending_is_summed_per_bucket_of_the_current_window(ledger_engine):
    eur = BudgetLimit("employee:alice", "eur", 10**6)
    carbon = BudgetLimit("employee:alice", GCO2E, 10**6)
    history = await LedgerRebuildSource(ledger_engine)([eur, carbon], T0 + timedelta(minutes=30))
    hour = int(T0.timestamp())
    assert history[eur] == {hour - 3600: 15, hour: 7}
    assert history[carbon] == {hour - 3600: 150, hour: 70}


async def test_department_and_org_scopes_cover_their_rows(ledger_engine):
    legal = BudgetLimit("department:legal", "eur", 10**6)
    org = BudgetLimit("org", "eur", 10**6)
    history = await LedgerRebuildSource(ledger_engine)([legal, org], T0 + timedelta(minutes=30))
    assert sum(history[legal].values()) == 1000
    assert sum(history[org].values()) == 1022


async def test_rows_of_a_later_hour_are_not_counted(ledger_engine):
    eur = BudgetLimit("employee:alice", "eur", 10**6)
    history = await LedgerRebuildSource(ledger_engine)([eur], T0 - timedelta(minutes=1))
    assert sum(history[eur].values()) == 15
