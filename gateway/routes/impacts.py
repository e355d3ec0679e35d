"""GET /v1/impacts/methodology: the published impact method (public, no key needed)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from estimators.methodology import methodology

router = APIRouter()


@router.get("/v1/impacts/methodology")
def get_methodology() -> dict[str, Any]:
    """Method id, factor-set version, zone mixes in use and the formula in words."""
    return methodology()
