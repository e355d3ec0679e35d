"""Fixtures of the reliability tests: private servers, usage records, ledger queries."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.reliability.servers import OwnPostgres, OwnRedis, start_own_postgres, start_own_redis


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    server = start_own_postgres()
    yield server
    server.remove()


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    server = start_own_redis()
    yield server
    server.stop()


def usage_record(request_id: str | None = None) -> dict[str, Any]:
    """A complete `usage_records` row for a successful request."""
    now = datetime.now(UTC)
    return {
        "request_id": request_id or f"req_{uuid.uuid4().hex}",
        "started_at": now,
        "finished_at": now,
        "employee_pseudonym": "p" * 32,
        "department": "legal",
        "roles": "employee",
        "key_id": "k1",
        "use_case": "translation",
        "requested_model": "auto",
        "served_model": "test-small",
        "rule_id": "r",
        "policy_version": "v",
        "classifier_confidence": None,
        "status": "ok",
        "http_status": 200,
        "stream": False,
        "demo": False,
        "input_tokens": 10,
        "output_tokens": 20,
        "max_tokens": 256,
        "latency_ms": 1.0,
        "ttft_ms": None,
        "cost_micro_eur": 7,
        "gwp_ug": 11,
        "gwp_g_min": 0.0,
        "gwp_g_max": 0.0,
        "gwp_market_ug": None,
        "energy_wh": 0.0,
        "energy_wh_min": 0.0,
        "energy_wh_max": 0.0,
        "water_ml": 0.0,
        "adpe_kgsbeq": 0.0,
        "pe_mj": 0.0,
        "impact_method": None,
        "factor_set_version": None,
        "impact_source": None,
        "impacts_detail": {"nested": [1, 2]},
        "error_message": None,
    }
