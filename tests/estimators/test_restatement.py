"""Restatement: stored figures recomputed under another factor set, previous values kept, audited."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from sqlalchemy import func, insert, select

from estimators import factors
from estimators.factors import DATA_DIR, UnknownFactorSet
from estimators.hosted import HostedEstimator
from gateway.ledger.audit import AuditLog
from gateway.providers.catalogue import Catalogue
from gateway.ledger import db
from gateway.ledger.records import impact_columns
from gateway.ledger.tables import ImpactRestatement, UsageRecord
from gateway.ledger.restatement import restate

T0 = datetime(2026, 11, 1, tzinfo=UTC)

AUDIT_KEY = b"restatement-test-audit-key"


@pytest.fixture
def second_factor_set():
    """A second released set in the package folder: the current one with a wider grid factor
    and a higher prefill ratio (a name of its own per test, so parallel workers never share it)."""
    version = f"sobria-factors-2099.{uuid.uuid4().hex[:12]}"
    data = yaml.safe_load((DATA_DIR / f"{factors.CURRENT_VERSION}.yaml").read_text(encoding="utf-8"))
    data["version"] = version
    data["electricity"]["gwp_uncertainty"] = {"low": 0.5, "high": 1.5}
    data["prefill"]["ratio"] = {"min": 0.05, "value": 0.3, "max": 0.4}
    path = DATA_DIR / f"{version}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    yield version
    path.unlink()
    factors.load_factor_set.cache_clear()


def row(i: int, impacts) -> dict:
    at = T0 + timedelta(hours=i)
    return {
        "request_id": f"req-{i}", "started_at": at, "finished_at": at, "employee_pseudonym": "p" * 32,
        "department": "finance", "roles": "employee", "key_id": "k1", "use_case": "translation",
        "requested_model": "auto", "served_model": "gpt-4o", "rule_id": "r", "policy_version": "v",
        "classifier_confidence": None, "status": "ok", "http_status": 200, "stream": False, "demo": False,
        "input_tokens": 300, "output_tokens": 400, "max_tokens": 800, "latency_ms": 900.0, "ttft_ms": None,
        "cost_micro_eur": 10, "error_message": None, **impact_columns(impacts),
    }


async def seed(engine, n: int) -> list[dict]:
    spec = Catalogue.load(env={}).get("gpt-4o")
    assert spec is not None
    rows = [row(i, HostedEstimator().estimate(spec.impact, 300 + i, 400, 2.5)) for i in range(n)]
    async with engine.begin() as conn:
        await conn.execute(insert(UsageRecord), rows)
    return rows


async def figures(engine) -> dict[str, tuple]:
    async with engine.connect() as conn:
        result = await conn.execute(
            select(UsageRecord.request_id, UsageRecord.gwp_ug, UsageRecord.gwp_g_min, UsageRecord.gwp_g_max,
                   UsageRecord.energy_wh, UsageRecord.energy_wh_max, UsageRecord.factor_set_version)
        )
        return {r[0]: tuple(r[1:]) for r in result}


async def test_restatement_round_trip_keeps_every_previous_value(database_url, second_factor_set):
    await db.upgrade(database_url)
    engine = db.make_engine(database_url)
    await seed(engine, 7)
    original = await figures(engine)

    first = await restate(engine, second_factor_set, "cli:test", audit_key=AUDIT_KEY, batch_size=3)
    restated = await figures(engine)
    assert first.restated == 7 and first.from_factor_sets == {factors.CURRENT_VERSION: 7}
    assert all(v[-1] == second_factor_set for v in restated.values())
    assert all(restated[k][0] > original[k][0] for k in original)  # prefill ratio 0.15 -> 0.3
    async with engine.connect() as conn:
        kept = (await conn.execute(select(ImpactRestatement.request_id, ImpactRestatement.gwp_ug, ImpactRestatement.from_factor_set))).all()
    assert {(r[0], r[1]) for r in kept} == {(k, v[0]) for k, v in original.items()}

    back = await restate(engine, factors.CURRENT_VERSION, "cli:test", audit_key=AUDIT_KEY)
    assert back.restated == 7
    assert_same_figures(await figures(engine), original)

    entries = await AuditLog(engine, AUDIT_KEY).entries("factor-set:")
    assert [e.action for e in entries].count("impacts.restate") == 2
    assert (await AuditLog(engine, AUDIT_KEY).verify()).ok
    await engine.dispose()


def assert_same_figures(now: dict, before: dict) -> None:
    assert now.keys() == before.keys()
    for k, values in before.items():
        assert now[k][0] == values[0] and now[k][-1] == values[-1]
        assert now[k][1:-1] == pytest.approx(values[1:-1], rel=1e-12)


async def test_restatement_is_bounded_by_the_window_and_idempotent(database_url, second_factor_set):
    await db.upgrade(database_url)
    engine = db.make_engine(database_url)
    await seed(engine, 6)
    result = await restate(engine, second_factor_set, "cli:test", audit_key=AUDIT_KEY, since=T0 + timedelta(hours=2), until=T0 + timedelta(hours=4))
    assert result.restated == 2
    again = await restate(engine, second_factor_set, "cli:test", audit_key=AUDIT_KEY, since=T0 + timedelta(hours=2), until=T0 + timedelta(hours=4))
    assert again.restated == 0 and again.already_current == 2
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(ImpactRestatement))).scalar_one() == 2
    await engine.dispose()


async def test_an_unknown_or_previous_method_factor_set_writes_nothing(database_url):
    await db.upgrade(database_url)
    engine = db.make_engine(database_url)
    await seed(engine, 2)
    before = await figures(engine)
    for version in ("sobria-factors-1999.1", "sobria-factors-2026.1"):
        with pytest.raises(UnknownFactorSet):
            await restate(engine, version, "cli:test", audit_key=AUDIT_KEY)
    assert await figures(engine) == before
    await engine.dispose()


def test_the_package_keeps_the_previous_factor_file_as_issued():
    assert "version: sobria-factors-2026.1" in (DATA_DIR / "sobria-factors-2026.1.yaml").read_text(encoding="utf-8")


def test_the_restate_command_reports_and_refuses_an_unknown_set(tmp_path, monkeypatch, second_factor_set):
    import asyncio

    from typer.testing import CliRunner

    from gateway.commands.main import app
    from gateway.settings import get_settings

    url = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}"
    monkeypatch.setenv("SOBRIA_DATABASE_URL", url)
    get_settings.cache_clear()

    async def prepare() -> None:
        await db.upgrade(url)
        engine = db.make_engine(url)
        await seed(engine, 3)
        await engine.dispose()

    asyncio.run(prepare())
    runner = CliRunner()
    listed = runner.invoke(app, ["impacts", "factor-sets"])
    assert f"{factors.CURRENT_VERSION}  (current)" in listed.output and second_factor_set in listed.output
    done = runner.invoke(app, ["impacts", "restate", "--factor-set", second_factor_set, "--from", "2026-11-01T01:00"])
    assert done.exit_code == 0, done.output
    assert f"restated 2 requests to {second_factor_set}" in done.output
    refused = runner.invoke(app, ["impacts", "restate", "--factor-set", "sobria-factors-2026.1"])
    assert refused.exit_code == 2 and "earlier method" in refused.output
    get_settings.cache_clear()
