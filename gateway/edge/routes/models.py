"""`GET /v1/models` and `GET /v1/models/{id}`: the catalogue's models, demo ones marked as such."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from gateway.identity.auth import Principal, current_principal
from gateway.providers.catalogue import ModelSpec
from gateway.edge.errors import GatewayError
from gateway.edge.dependencies import CatalogueDep

router = APIRouter()

_CREATED = 1_700_000_000
_AUTO = {"id": "auto", "object": "model", "created": _CREATED, "owned_by": "sobria", "tier": "policy", "kind": "chat"}


def model_card(spec: ModelSpec) -> dict[str, Any]:
    return {
        "id": spec.name,
        "object": "model",
        "created": _CREATED,
        "owned_by": "sobria-demo" if spec.is_demo else spec.impact.provider,
        "tier": spec.tier,
        "kind": spec.kind,
        "demo": spec.is_demo,
    }


@router.get("/v1/models", tags=["openai"])
async def list_models(request: Request, catalogue: CatalogueDep, principal: Principal = Depends(current_principal)) -> dict[str, Any]:
    """Models this caller may use, plus `auto` (the policy decides)."""
    return {"object": "list", "data": [dict(_AUTO), *(model_card(spec) for spec in catalogue.all())]}


@router.get("/v1/models/{model_id:path}", tags=["openai"])
async def get_model(
    model_id: str, request: Request, catalogue: CatalogueDep, principal: Principal = Depends(current_principal)
) -> dict[str, Any]:
    """One model of the catalogue (or `auto`); 404 `model_not_found` otherwise."""
    if model_id == "auto":
        return dict(_AUTO)
    spec = catalogue.get(model_id)
    if spec is None:
        raise GatewayError(404, "model_not_found", param="model", model=model_id[:128])
    return model_card(spec)
