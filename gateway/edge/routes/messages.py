"""`POST /v1/messages`: Anthropic's Messages API, served by the chat-completion pipeline."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Header, Request

from gateway.edge.dependencies import PipelineDep
from gateway.identity.auth import Principal, current_principal
from gateway.edge.routes.chat import ApiShape, Served, Translated, serve_shape
from gateway.request.translate_messages import (
    MessagesRequest,
    chat_messages,
    chat_params,
    message_events,
    message_object,
)

router = APIRouter()


def _translated(body: MessagesRequest) -> Translated:
    return Translated(body.model, chat_messages(body), body.stream, body.max_tokens, body.metadata, chat_params(body))


def _events(body: MessagesRequest, served: Served) -> AsyncIterator[bytes]:
    assert served.chunks is not None
    model = served.headers.get("X-Sobria-Model", body.model)
    return message_events(model, served.input_tokens_estimate, served.chunks)


MESSAGES = ApiShape(MessagesRequest, _translated, _events, lambda _, payload: message_object(payload))


@router.post("/v1/messages", tags=["anthropic"])
async def create_message(
    request: Request,
    pipeline: PipelineDep,
    principal: Principal = Depends(current_principal),
    x_sobria_use_case: str | None = Header(default=None, max_length=64),
) -> Any:
    """Create a message, as Anthropic's API does (tools and streams included)."""
    return await serve_shape(pipeline, request, principal, x_sobria_use_case, MESSAGES)
