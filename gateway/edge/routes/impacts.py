"""The published impact method (public) and the gateway's own measured footprint (any key)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from estimators.methodology import methodology
from gateway.identity.auth import Principal, current_principal
from gateway.observability.footprint import gateway_report
from gateway.edge.dependencies import EngineDep, FootprintDep

router = APIRouter()


@router.get("/v1/impacts/methodology")
async def get_methodology(engine: EngineDep, footprint: FootprintDep) -> dict[str, Any]:
    """Method id, factor-set version, zone mixes in use and the formula in words; measured mode when on."""
    if footprint is None:
        return methodology()
    measured = footprint.describe()
    measured["gateway_footprint"] = (await gateway_report(engine, limit=1))["totals"]
    return methodology(measured=measured)


@router.get("/v1/impacts/gateway")
async def get_gateway_footprint(
    engine: EngineDep, footprint: FootprintDep,
    _: Principal = Depends(current_principal),
    windows: int = Query(default=12, ge=1, le=1000, description="how many of the last windows to list"),
) -> dict[str, Any]:
    """The gateway process's measured energy per request: its last windows and the totals."""
    report = await gateway_report(engine, limit=windows)
    report["measured_mode"] = footprint is not None
    return report
