"""`GET /admin/ledger/dead-letters`: rows the database refused, set aside with the reason."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from gateway.identity.auth import require_role
from gateway.ledger.dead_letter import recent
from gateway.edge.dependencies import DeadLetterCountsDep, EngineDep

router = APIRouter(prefix="/admin/ledger", tags=["admin"])


@router.get("/dead-letters")
async def dead_letters(
    engine: EngineDep, counts: DeadLetterCountsDep,
    limit: int = Query(default=100, ge=1, le=1000),
    _: object = Depends(require_role("admin")),
) -> dict[str, Any]:
    """The newest rows set aside first, and how many this process set aside per table."""
    rows = await recent(engine, limit)
    return {
        "data": [
            {
                "id": row.id,
                "at": row.at.isoformat(),
                "source": row.source,
                "request_id": row.request_id,
                "reason": row.reason,
                "row": row.row,
            }
            for row in rows
        ],
        "set_aside_by_this_process": dict(counts),
    }
