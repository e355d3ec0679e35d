"""Fixtures of the inventory tests: a migrated database, the audit log, the register, a ledger seeder."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.ledger.audit import AuditLog
from gateway.inventory.register import Register
from gateway.ledger import db, rollups
from gateway.ledger.tables import UsageRecord


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    await db.upgrade(database_url)
    engine = db.make_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def audit(engine: AsyncEngine) -> AuditLog:
    return AuditLog(engine, b"test audit key")


@pytest.fixture
def register(engine: AsyncEngine, audit: AuditLog) -> Register:
    return Register(engine, audit)


def usage_row(employee: str, use_case: str, department: str, model: str | None, at: datetime, *,
              input_tokens: int = 100, output_tokens: int = 50, cost_micro_eur: int = 1000, gwp_ug: int = 2000,
              energy_wh: float = 0.5, water_ml: float = 1.0) -> dict[str, Any]:
    """One ledger row as the gateway writes it (pseudonym stands in for the employee)."""
    return {
        "request_id": uuid.uuid4().hex, "started_at": at, "finished_at": at,
        "employee_pseudonym": f"p-{employee}", "department": department, "roles": "employee", "key_id": "k",
        "use_case": use_case, "requested_model": "auto", "served_model": model, "status": "ok",
        "http_status": 200, "stream": False, "demo": False, "input_tokens": input_tokens,
        "output_tokens": output_tokens, "latency_ms": 10.0, "cost_micro_eur": cost_micro_eur, "gwp_ug": gwp_ug,
        "gwp_g_min": 0.0, "gwp_g_max": 0.0, "gwp_market_ug": gwp_ug // 2, "energy_wh": energy_wh,
        "energy_wh_min": 0.0, "energy_wh_max": 0.0, "water_ml": water_ml, "adpe_kgsbeq": 0.0, "pe_mj": 0.0,
        "impact_method": "ecologits-hosted", "factor_set_version": "2026.1",
    }


async def seed(engine: AsyncEngine, rows: list[dict[str, Any]]) -> None:
    """Write rows as the ledger writer does: the rows and their roll-ups in one transaction."""
    async with engine.begin() as conn:
        inserted = await conn.execute(insert(UsageRecord).returning(*rollups.RETURNED_COLUMNS), rows)
        await rollups.apply(conn, inserted.mappings().all())
