"""`POST /v1/messages`: Anthropic's Messages API, served by the chat-completion pipeline."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, StreamingResponse

from gateway.auth import Principal, current_principal
from gateway.flight import ChatRequest
from gateway.i18n import negotiate
from gateway.routes.chat import parse_model, serve, use_case_of
from gateway.translate_messages import (
    MessagesRequest,
    chat_messages,
    chat_params,
    message_events,
    message_object,
)

router = APIRouter()


@router.post("/v1/messages", tags=["anthropic"])
async def create_message(
    request: Request,
    principal: Principal = Depends(current_principal),
    x_sobria_use_case: str | None = Header(default=None, max_length=64),
) -> Any:
    """Create a message, as Anthropic's API does (tools and streams included)."""
    body = parse_model(await request.body(), MessagesRequest)
    chat = ChatRequest(
        model=body.model,
        messages=chat_messages(body),
        stream=body.stream,
        max_tokens=body.max_tokens,
        use_case=use_case_of(x_sobria_use_case, body.metadata),
        params=chat_params(body),
        language=negotiate(request.headers.get("accept-language")),
        include_usage=True,
    )
    served = await serve(request, principal, chat)
    if served.chunks is not None:
        model = served.headers.get("X-Sobria-Model", body.model)
        events = message_events(model, served.input_tokens_estimate, served.chunks)
        return StreamingResponse(events, media_type="text/event-stream", headers=served.headers)
    assert served.payload is not None
    return JSONResponse(message_object(served.payload), headers=served.headers)
