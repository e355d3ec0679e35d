"""`POST /v1/responses`: OpenAI's Responses API, served by the chat-completion pipeline."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, StreamingResponse

from gateway.auth import Principal, current_principal
from gateway.flight import ChatRequest
from gateway.i18n import negotiate
from gateway.routes.chat import parse_model, serve, use_case_of
from gateway.translate_responses import (
    ResponsesRequest,
    chat_messages,
    chat_params,
    response_events,
    response_object,
)

router = APIRouter()


@router.post("/v1/responses", tags=["openai"])
async def create_response(
    request: Request,
    principal: Principal = Depends(current_principal),
    x_sobria_use_case: str | None = Header(default=None, max_length=64),
) -> Any:
    """Create a model response (stateless: send the whole conversation in `input`)."""
    body = parse_model(await request.body(), ResponsesRequest)
    chat = ChatRequest(
        model=body.model,
        messages=chat_messages(body),
        stream=body.stream,
        max_tokens=body.max_output_tokens,
        use_case=use_case_of(x_sobria_use_case, body.metadata),
        params=chat_params(body),
        language=negotiate(request.headers.get("accept-language")),
        include_usage=True,
    )
    served = await serve(request, principal, chat)
    if served.chunks is not None:
        return StreamingResponse(response_events(body, served.chunks), media_type="text/event-stream",
                                 headers=served.headers)
    assert served.payload is not None
    return JSONResponse(response_object(body, served.payload), headers=served.headers)
