"""The ledger rows a policy replay re-decides: served requests since a moment, as `LedgerRow`s."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.ledger.tables import UsageRecord
from policies.replay import LedgerRow


async def load_rows(database_url: str, since: datetime) -> list[LedgerRow]:
    """Served requests recorded in the ledger since `since`."""
    engine = create_async_engine(database_url)
    t = UsageRecord
    query = (
        select(t.started_at, t.use_case, t.department, t.roles, t.requested_model, t.served_model,
               t.input_tokens, t.output_tokens, t.max_tokens, t.cost_micro_eur, t.gwp_ug)
        .where(t.started_at >= since, t.served_model.is_not(None))
        .order_by(t.started_at)
    )
    try:
        async with engine.connect() as conn:
            result = await conn.execute(query)
            return [
                LedgerRow(
                    started_at=r.started_at,
                    use_case=r.use_case,
                    department=r.department,
                    roles=frozenset(x.strip() for x in (r.roles or "").split(",") if x.strip()),
                    requested_model=r.requested_model,
                    served_model=r.served_model,
                    input_tokens=r.input_tokens,
                    output_tokens=r.output_tokens,
                    max_tokens=r.max_tokens,
                    cost_micro_eur=r.cost_micro_eur,
                    gwp_ug=r.gwp_ug,
                )
                for r in result
            ]
    finally:
        await engine.dispose()
