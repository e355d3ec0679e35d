"""The typed ledger record: what the pipeline builds is what lands in `usage_records`."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy import select

from estimators.hosted import HostedEstimator
from gateway.identity.auth import Principal
from gateway.providers.catalogue import Catalogue
from gateway.request.flight import ChatRequest, Flight
from gateway.ledger import db
from gateway.ledger.records import usage_record
from gateway.ledger.tables import UsageRecord
from gateway.ledger.writer import LedgerWriter
from gateway.observability.metrics import Metrics


def flight(usage_source: str | None = "provider") -> Flight:
    catalogue = Catalogue.load(env={})
    spec = next(spec for spec in catalogue.all() if spec.kind == "chat")
    principal = Principal("emp-1", "p" * 32, "finance", frozenset({"employee"}), "key-1")
    request = ChatRequest(model="auto", messages=[], stream=True, max_tokens=None, use_case="translation", params={})
    started = Flight("req_typed", principal, request, datetime.now(UTC), time.perf_counter(), 40)
    started.spec, started.served, started.max_tokens, started.usage_source = spec, spec.name, 200, usage_source
    return started


def test_the_row_has_every_column_of_the_table_and_nothing_else():
    record = usage_record(flight(), "ok", 200, 40, 120, 1234, None)
    columns = {column.name for column in UsageRecord.__table__.columns} - {"id"}
    assert set(record.row()) == columns


def test_clamped_provider_usage_is_warned_on_the_row_after_the_estimators_warnings():
    spec = flight().spec
    assert spec is not None
    impacts = HostedEstimator().estimate(spec.impact, 40, 120, 2.0)
    record = usage_record(flight("clamped"), "ok", 200, 40, 120, 1234, impacts)
    assert record.impacts.impact_warnings is not None
    assert record.impacts.impact_warnings.split(",")[-1] == "provider-usage-clamped"
    assert usage_record(flight(), "ok", 200, 40, 120, 1234, impacts).impacts.impact_warnings != (
        record.impacts.impact_warnings)


async def test_what_the_writer_stores_is_the_record_read_by_attribute(sqlite_url):
    spec = flight().spec
    assert spec is not None
    impacts = HostedEstimator().estimate(spec.impact, 40, 120, 2.0)
    record = usage_record(flight(), "ok", 200, 40, 120, 1234, impacts)
    await db.upgrade(sqlite_url)
    engine = db.make_engine(sqlite_url)
    writer = LedgerWriter(engine)
    writer.append(record.row())
    await writer.flush()
    async with engine.connect() as conn:
        stored = (await conn.execute(select(UsageRecord).where(UsageRecord.request_id == "req_typed"))).one()
    await engine.dispose()
    assert (stored.gwp_ug, stored.energy_wh) == (record.gwp_ug, record.energy_wh)
    assert record.gwp_ug == round(impacts.gwp_g.value * 1_000_000) > 0
    assert (stored.cost_micro_eur, stored.input_tokens, stored.output_tokens) == (1234, 40, 120)
    assert (stored.use_case, stored.served_model, stored.stream) == ("translation", spec.name, True)


def test_metrics_count_a_record_by_its_attributes():
    spec = flight().spec
    assert spec is not None
    impacts = HostedEstimator().estimate(spec.impact, 40, 120, 2.0)
    record = usage_record(flight(), "ok", 200, 40, 120, 2_500_000, impacts)
    metrics = Metrics()
    metrics.observe(record, spec.name, "translation")
    labels = {"model": spec.name, "use_case": "translation", "department": "finance"}
    assert metrics.registry.get_sample_value("sobria_cost_eur_total", labels) == 2.5
    assert metrics.registry.get_sample_value("sobria_co2e_grams_total", labels) == record.gwp_ug / 1_000_000
    assert metrics.registry.get_sample_value("sobria_tokens_total", {"direction": "output", **labels}) == 120
