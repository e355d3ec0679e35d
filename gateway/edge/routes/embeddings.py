"""`POST /v1/embeddings`: OpenAI's embeddings, budgeted and recorded (impacts not estimated)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse

from gateway.identity.auth import Principal, current_principal
from gateway.request.embeddings import EmbeddingsRequest
from gateway.edge.routes.chat import parse_model, use_case_of
from gateway.edge.dependencies import EmbeddingsDep

router = APIRouter()


@router.post("/v1/embeddings", tags=["openai"])
async def create_embeddings(
    request: Request, embeddings: EmbeddingsDep,
    principal: Principal = Depends(current_principal),
    x_sobria_use_case: str | None = Header(default=None, max_length=64),
) -> JSONResponse:
    """Embed texts with a catalogue embedding model; cost is charged, impacts are not estimated."""
    body = parse_model(await request.body(), EmbeddingsRequest)
    answer = await embeddings.embed(principal, body, use_case_of(x_sobria_use_case, None))
    return JSONResponse(answer.body, headers=answer.headers)
