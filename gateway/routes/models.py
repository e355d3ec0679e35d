"""`GET /v1/models`: the catalogue's models, with demo ones marked as such."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from gateway.auth import Principal, current_principal

router = APIRouter()


@router.get("/v1/models", tags=["openai"])
async def list_models(request: Request, principal: Principal = Depends(current_principal)) -> dict[str, Any]:
    """Models this caller may use, plus `auto` (the policy decides)."""
    catalogue = request.app.state.catalogue
    created = 1_700_000_000
    data = [{"id": "auto", "object": "model", "created": created, "owned_by": "sobria", "tier": "policy"}]
    for spec in catalogue.all():
        data.append(
            {
                "id": spec.name,
                "object": "model",
                "created": created,
                "owned_by": "sobria-demo" if spec.is_demo else spec.impact.provider,
                "tier": spec.tier,
                "demo": spec.is_demo,
            }
        )
    return {"object": "list", "data": data}
