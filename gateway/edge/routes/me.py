"""`GET /v1/me/usage`: an employee's own spending, footprint and remaining budgets."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from gateway.identity.auth import Principal, current_principal
from gateway.ledger.own_usage import own_usage
from gateway.edge.dependencies import BudgetGateDep, EngineDep

router = APIRouter()


@router.get("/v1/me/usage", tags=["self-service"])
async def my_usage(
    request: Request, engine: EngineDep, budget_gate: BudgetGateDep,
    principal: Principal = Depends(current_principal),
    days: int = Query(default=30, ge=1, le=366, description="length of the window in days"),
) -> dict[str, Any]:
    """My requests, tokens, cost and footprint over the window, and my budgets now."""
    now = datetime.now(UTC)
    usage = await own_usage(engine, principal.pseudonym, now, days)
    usage["employee_id"] = principal.employee_id
    usage["department"] = principal.department
    usage["budgets"] = await budget_gate.describe(principal, now)
    return usage
