"""`POST /v1/chat/completions`: OpenAI's request and response shapes, nothing more."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gateway.auth import Principal, current_principal
from gateway.errors import GatewayError
from gateway.flight import ChatRequest
from gateway.i18n import negotiate

router = APIRouter()


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "user", "assistant", "tool", "developer", "function"]
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat completion body; unknown fields are passed through or ignored."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=128)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(default=None, gt=0)
    max_completion_tokens: int | None = Field(default=None, gt=0)
    metadata: dict[str, Any] | None = None
    stream_options: dict[str, Any] | None = None

    @field_validator("metadata")
    @classmethod
    def _use_case_is_text(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value and "use_case" in value and not isinstance(value["use_case"], str):
            raise ValueError("metadata.use_case must be a string")
        return value


def to_chat_request(body: ChatCompletionRequest, use_case_header: str | None, language: str) -> ChatRequest:
    use_case = use_case_header or (body.metadata or {}).get("use_case") or None
    if use_case is not None and (len(use_case) > 64 or not use_case.replace("_", "").replace("-", "").isalnum()):
        raise GatewayError(400, "invalid_request", param="use_case", detail="use case ids are short identifiers")
    params = {k: v for k, v in (body.model_extra or {}).items()}
    return ChatRequest(
        model=body.model,
        messages=[m.model_dump(exclude_none=True) for m in body.messages],
        stream=body.stream,
        max_tokens=body.max_completion_tokens or body.max_tokens,
        use_case=use_case,
        params=params,
        language=language,
    )


def parse_body(raw: bytes) -> ChatCompletionRequest:
    """Validate a JSON body whatever its declared content type (curl -d sends a form type)."""
    if not raw.strip():
        raise GatewayError(400, "invalid_json", detail="empty body")
    try:
        return ChatCompletionRequest.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first.get("type") == "json_invalid":
            raise GatewayError(400, "invalid_json", detail=first.get("msg", "")) from None
        param = ".".join(str(p) for p in first.get("loc", ())) or None
        detail = f"{param}: {first.get('msg')}" if param else str(first.get("msg"))
        raise GatewayError(400, "invalid_request", param=param, detail=detail) from None


@router.post(
    "/v1/chat/completions",
    tags=["openai"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChatCompletionRequest"}}},
        }
    },
)
async def chat_completions(
    request: Request,
    principal: Principal = Depends(current_principal),
    x_sobria_use_case: str | None = Header(default=None, max_length=64),
) -> Any:
    """Create a chat completion, routed to the smallest adequate model, with its footprint."""
    body = parse_body(await request.body())
    limit = request.app.state.settings.max_messages
    if len(body.messages) > limit:
        raise GatewayError(400, "too_many_messages", param="messages", limit=limit)
    language = negotiate(request.headers.get("accept-language"))
    chat = to_chat_request(body, x_sobria_use_case, language)
    pipeline = request.app.state.pipeline
    flight = pipeline.start(principal, chat)
    request.state.request_id = flight.request_id
    if chat.stream:
        chunks, headers = await pipeline.stream(flight, request.is_disconnected)
        headers["Cache-Control"] = "no-cache"
        headers["X-Accel-Buffering"] = "no"
        return StreamingResponse(chunks, media_type="text/event-stream", headers=headers)
    payload, outcome = await pipeline.complete(flight)
    return JSONResponse(payload, headers=outcome.headers)


def openapi_components() -> dict[str, Any]:
    """JSON Schemas of the chat body, for the app's OpenAPI document."""
    schema = ChatCompletionRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    components = schema.pop("$defs", {})
    components["ChatCompletionRequest"] = schema
    return components
