"""`POST /v1/responses`: OpenAI's Responses API, served by the chat-completion pipeline."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Header, Request

from gateway.edge.dependencies import PipelineDep
from gateway.identity.auth import Principal, current_principal
from gateway.edge.routes.chat import ApiShape, Served, Translated, serve_shape
from gateway.request.translate_responses import (
    ResponsesRequest,
    chat_messages,
    chat_params,
    response_events,
    response_object,
)

router = APIRouter()


def _translated(body: ResponsesRequest) -> Translated:
    return Translated(body.model, chat_messages(body), body.stream, body.max_output_tokens, body.metadata,
                      chat_params(body))


def _events(body: ResponsesRequest, served: Served) -> AsyncIterator[bytes]:
    assert served.chunks is not None
    return response_events(body, served.chunks)


RESPONSES = ApiShape(ResponsesRequest, _translated, _events, response_object)


@router.post("/v1/responses", tags=["openai"])
async def create_response(
    request: Request,
    pipeline: PipelineDep,
    principal: Principal = Depends(current_principal),
    x_sobria_use_case: str | None = Header(default=None, max_length=64),
) -> Any:
    """Create a model response (stateless: send the whole conversation in `input`)."""
    return await serve_shape(pipeline, request, principal, x_sobria_use_case, RESPONSES)
