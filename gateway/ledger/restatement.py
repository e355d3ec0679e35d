"""Restating stored impact figures under another factor set, keeping what was stated before.

Every estimated row records the inputs its figures came from (`impact_inputs`: the
catalogue profile, tokens, latency, catalogue version). `restate` recomputes those
rows under factor set `V` with the current method, in id order and bounded batches
(tens of millions of rows stay a streaming job), copies each row's previous figures
into `impact_restatements` in the same transaction as the update, and writes one
audit entry for the run. Measured rows keep their measured energy and are skipped, as
are rows written before inputs were recorded (counted, never guessed). Budget counters
are operational controls and are not re-opened by a restatement.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from estimators.factors import load_factor_set
from estimators.hosted import HostedEstimator, profile_from_dict
from gateway.ledger.audit import AuditLog
from gateway.ledger.records import impact_columns
from gateway.ledger.tables import ImpactRestatement, UsageRecord

_KEPT = (
    "gwp_ug", "gwp_g_min", "gwp_g_max", "gwp_market_ug", "energy_wh", "energy_wh_min", "energy_wh_max",
    "water_ml", "adpe_kgsbeq", "pe_mj", "impacts_detail",
)
_UPDATED = (*_KEPT, "impact_method", "factor_set_version", "impact_warnings")
# One statement for a whole batch (executemany), keyed by row id.
_UPDATE = (
    update(UsageRecord)
    .where(UsageRecord.id == bindparam("row_id"))
    .values({name: bindparam(name) for name in _UPDATED})
)


@dataclass(slots=True)
class RestatementResult:
    """What one run did, for the operator and the audit log."""

    factor_set_version: str
    restated: int = 0
    already_current: int = 0
    measured_skipped: int = 0
    without_inputs: int = 0
    from_factor_sets: dict[str, int] = field(default_factory=dict)
    gwp_ug_before: int = 0
    gwp_ug_after: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "factor_set_version": self.factor_set_version,
            "restated": self.restated,
            "already_current": self.already_current,
            "measured_skipped": self.measured_skipped,
            "without_inputs": self.without_inputs,
            "from_factor_sets": self.from_factor_sets,
            "gwp_ug_before": self.gwp_ug_before,
            "gwp_ug_after": self.gwp_ug_after,
        }


def _window(since: datetime | None, until: datetime | None) -> list[Any]:
    conditions = []
    if since is not None:
        conditions.append(UsageRecord.started_at >= since)
    if until is not None:
        conditions.append(UsageRecord.started_at < until)
    return conditions


async def restate(
    engine: AsyncEngine,
    factor_set_version: str,
    actor: str,
    since: datetime | None = None,
    until: datetime | None = None,
    batch_size: int = 1000,
    audit_key: bytes | None = None,
) -> RestatementResult:
    """Recompute the rows in [since, until) under `factor_set_version`; previous values kept.

    The audit entry is keyed with `audit_key` (default: the settings' audit key)."""
    load_factor_set(factor_set_version)  # an unknown or old-schema set fails before any write
    estimator = HostedEstimator(factor_set_version)
    result = RestatementResult(factor_set_version)
    window = _window(since, until)
    async with engine.connect() as conn:
        counts = (
            await conn.execute(
                select(
                    func.count().filter(UsageRecord.factor_set_version == factor_set_version),
                    func.count().filter(UsageRecord.impact_source == "measured"),
                    func.count().filter(and_(UsageRecord.impact_inputs.is_(None), UsageRecord.impact_method.is_not(None))),
                ).where(*window)
            )
        ).one()
    result.already_current, result.measured_skipped, result.without_inputs = int(counts[0]), int(counts[1]), int(counts[2])
    last_id = 0
    while True:
        async with engine.begin() as conn:
            rows = (
                await conn.execute(
                    select(UsageRecord)
                    .where(
                        UsageRecord.id > last_id,
                        UsageRecord.impact_inputs.is_not(None),
                        UsageRecord.factor_set_version.is_distinct_from(factor_set_version),
                        UsageRecord.impact_source.is_distinct_from("measured"),
                        *window,
                    )
                    .order_by(UsageRecord.id)
                    .limit(batch_size)
                )
            ).all()
            if not rows:
                break
            now = datetime.now(UTC)
            kept, updates = [], []
            for row in rows:
                inputs = row.impact_inputs
                impacts = estimator.estimate(
                    profile_from_dict(inputs["profile"]), inputs["input_tokens"], inputs["output_tokens"], inputs.get("latency_s")
                )
                new = impact_columns(impacts)
                kept.append(
                    {"request_id": row.request_id, "restated_at": now, "from_factor_set": row.factor_set_version,
                     "to_factor_set": factor_set_version, "from_method": row.impact_method}
                    | {name: getattr(row, name) for name in _KEPT}
                )
                updates.append({"row_id": row.id} | {name: new[name] for name in _UPDATED})
                old_set = row.factor_set_version or "none"
                result.from_factor_sets[old_set] = result.from_factor_sets.get(old_set, 0) + 1
                result.gwp_ug_before += int(row.gwp_ug)
                result.gwp_ug_after += int(new["gwp_ug"])
            await conn.execute(insert(ImpactRestatement), kept)
            await conn.execute(_UPDATE, updates)
            result.restated += len(rows)
            last_id = rows[-1].id
    window_text = {"from": since.isoformat() if since else None, "to": until.isoformat() if until else None}
    if audit_key is None:
        from gateway.settings import get_settings

        audit_key = get_settings().effective_audit_key()
    await AuditLog(engine, audit_key).record(
        actor,
        "impacts.restate",
        f"factor-set:{factor_set_version}",
        {"window": window_text, "from_factor_sets": result.from_factor_sets, "gwp_ug": result.gwp_ug_before},
        result.as_dict() | {"window": window_text},
    )
    return result
