"""`POST /v1/chat/completions`: OpenAI's request and response shapes, nothing more."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from gateway.edge.dependencies import PipelineDep, SettingsDep
from gateway.edge.event_stream import EventStreamResponse
from gateway.identity.auth import Principal, current_principal
from gateway.request.pipeline import ChatPipeline
from gateway.edge.errors import GatewayError
from gateway.request.flight import ChatRequest
from gateway.i18n import negotiate

router = APIRouter()
_Body = TypeVar("_Body", bound=BaseModel)


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
    n: int | None = Field(default=None, ge=1, le=128)

    @field_validator("metadata")
    @classmethod
    def _use_case_is_text(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value and "use_case" in value and not isinstance(value["use_case"], str):
            raise ValueError("metadata.use_case must be a string")
        return value


def to_chat_request(body: ChatCompletionRequest, use_case_header: str | None, language: str) -> ChatRequest:
    use_case = use_case_of(use_case_header, body.metadata)
    params = {k: v for k, v in (body.model_extra or {}).items()}
    if body.n is not None:
        params["n"] = body.n
    return ChatRequest(
        model=body.model,
        messages=[m.model_dump(exclude_none=True) for m in body.messages],
        stream=body.stream,
        max_tokens=body.max_completion_tokens or body.max_tokens,
        use_case=use_case,
        params=params,
        language=language,
        include_usage=bool((body.stream_options or {}).get("include_usage")),
        cap_field="max_completion_tokens" if body.max_completion_tokens else "max_tokens",
    )


def parse_body(raw: bytes) -> ChatCompletionRequest:
    """Validate a chat completion body whatever its declared content type (curl -d sends a form type)."""
    return parse_model(raw, ChatCompletionRequest)


def parse_model(raw: bytes, model: type[_Body]) -> _Body:
    """Validate a JSON body into `model`; every failure is a 400 naming the field."""
    if not raw.strip():
        raise GatewayError(400, "invalid_json", detail="empty body")
    try:
        return model.model_validate_json(raw)
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
    pipeline: PipelineDep,
    settings: SettingsDep,
    principal: Principal = Depends(current_principal),
    x_sobria_use_case: str | None = Header(default=None, max_length=64),
) -> Any:
    """Create a chat completion, routed to the smallest adequate model, with its footprint."""
    body = parse_body(await request.body())
    limit = settings.max_messages
    if len(body.messages) > limit:
        raise GatewayError(400, "too_many_messages", param="messages", limit=limit)
    language = negotiate(request.headers.get("accept-language"))
    chat = to_chat_request(body, x_sobria_use_case, language)
    served = await serve(pipeline, request, principal, chat)
    if served.chunks is not None:
        return EventStreamResponse(served.chunks, headers=served.headers)
    return JSONResponse(served.payload, headers=served.headers)


@dataclass(slots=True)
class Served:
    """The pipeline's answer to one chat request: a body, or SSE chunks, and the headers."""

    headers: dict[str, str]
    payload: dict[str, Any] | None = None
    chunks: AsyncIterator[bytes] | None = None
    input_tokens_estimate: int = 0


async def serve(pipeline: ChatPipeline, request: Request, principal: Principal, chat: ChatRequest) -> Served:
    """Run one chat request through the pipeline; the door every API shape shares."""
    flight = pipeline.start(principal, chat)
    request.state.request_id = flight.request_id
    if chat.stream:
        chunks, headers = await pipeline.stream(flight, request.is_disconnected)
        headers["Cache-Control"] = "no-cache"
        headers["X-Accel-Buffering"] = "no"
        return Served(headers, chunks=chunks, input_tokens_estimate=flight.input_tokens_estimate)
    payload, outcome = await pipeline.complete(flight)
    return Served(outcome.headers, payload=payload, input_tokens_estimate=flight.input_tokens_estimate)


@dataclass(frozen=True, slots=True)
class Translated:
    """Another API's request (Responses, Messages) as the chat pipeline takes it."""

    model: str
    messages: list[dict[str, Any]]
    stream: bool
    max_tokens: int | None
    metadata: dict[str, Any] | None
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ApiShape(Generic[_Body]):
    """How another API's shape is served: its body, the translation to a chat request, and
    back (a stream's events, a whole answer)."""

    body: type[_Body]
    translate: Callable[[_Body], Translated]
    events: Callable[[_Body, Served], AsyncIterator[bytes]]
    answer: Callable[[_Body, dict[str, Any]], dict[str, Any]]


async def serve_shape(pipeline: ChatPipeline, request: Request, principal: Principal, use_case_header: str | None,
                      shape: ApiShape[_Body]) -> Response:
    """Serve one request of another API's shape; those APIs always end a stream with its usage."""
    body = parse_model(await request.body(), shape.body)
    asked = shape.translate(body)
    chat = ChatRequest(
        model=asked.model,
        messages=asked.messages,
        stream=asked.stream,
        max_tokens=asked.max_tokens,
        use_case=use_case_of(use_case_header, asked.metadata),
        params=asked.params,
        language=negotiate(request.headers.get("accept-language")),
        include_usage=True,
    )
    served = await serve(pipeline, request, principal, chat)
    if served.chunks is not None:
        return EventStreamResponse(shape.events(body, served), headers=served.headers)
    assert served.payload is not None
    return JSONResponse(shape.answer(body, served.payload), headers=served.headers)


def use_case_of(header: str | None, metadata: dict[str, Any] | None) -> str | None:
    """The use case a caller named (header first, then `metadata.use_case`), checked."""
    use_case = header or (metadata or {}).get("use_case") or None
    if use_case is not None and (
        not isinstance(use_case, str) or len(use_case) > 64 or not use_case.replace("_", "").replace("-", "").isalnum()
    ):
        raise GatewayError(400, "invalid_request", param="use_case", detail="use case ids are short identifiers")
    return use_case


def openapi_components() -> dict[str, Any]:
    """JSON Schemas of the chat body, for the app's OpenAPI document."""
    schema = ChatCompletionRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    components = schema.pop("$defs", {})
    components["ChatCompletionRequest"] = schema
    return components
