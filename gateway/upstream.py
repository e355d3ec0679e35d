"""Calls to the chosen deployment through a litellm `Router`.

The router carries the catalogue's deployments, retries, timeouts and fallbacks. A
demo model (no provider configured) is answered by litellm's own mock path with a
placeholder text, so the rest of the gateway sees an ordinary litellm response.
Failures are turned into `GatewayError`s with the contract's 502/504 codes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import litellm
from litellm import Router

from gateway.catalogue import Catalogue, ModelSpec
from gateway.errors import GatewayError

litellm.suppress_debug_info = True
litellm.telemetry = False
for _name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)

log = logging.getLogger("sobria.upstream")

#: Request fields passed through to the provider unchanged.
PASSTHROUGH = (
    "temperature",
    "top_p",
    "n",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "seed",
    "tools",
    "tool_choice",
    "response_format",
    "parallel_tool_calls",
    "logprobs",
    "top_logprobs",
)


@dataclass(slots=True)
class UpstreamCall:
    """One call as the upstream layer needs it."""

    model: str
    messages: list[dict[str, Any]]
    max_tokens: int | None
    params: dict[str, Any]
    demo_text: str | None = None


def _router_model_list(catalogue: Catalogue) -> list[dict[str, Any]]:
    return [
        {
            "model_name": spec.name,
            "litellm_params": dict(spec.litellm_params),
            "model_info": {"id": spec.name},
        }
        for spec in catalogue.all()
    ]


class Upstream:
    """The provider side of the gateway: one litellm Router for the whole catalogue."""

    def __init__(self, catalogue: Catalogue, timeout_s: float, retries: int):
        self.catalogue = catalogue
        fallbacks = [{name: list(targets)} for name, targets in catalogue.fallbacks.items()]
        self.router = Router(
            model_list=_router_model_list(catalogue),
            num_retries=retries,
            timeout=timeout_s,
            fallbacks=fallbacks,
            retry_after=0,
        )

    def _kwargs(self, call: UpstreamCall, spec: ModelSpec) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": call.model, "messages": call.messages, **call.params}
        if call.max_tokens is not None:
            kwargs["max_tokens"] = call.max_tokens
        if spec.is_demo:
            kwargs["mock_response"] = call.demo_text or ""
        return kwargs

    async def complete(self, call: UpstreamCall, spec: ModelSpec) -> tuple[Any, str]:
        """Non-streaming call; returns (litellm ModelResponse, name of the model that served)."""
        try:
            response = await self.router.acompletion(**self._kwargs(call, spec))
        except Exception as exc:
            raise map_upstream_error(exc) from exc
        served = (getattr(response, "_hidden_params", None) or {}).get("model_id") or call.model
        return response, served

    async def stream(self, call: UpstreamCall, spec: ModelSpec) -> tuple[AsyncIterator[Any], str]:
        """Streaming call; returns (chunk iterator, name of the model that serves it)."""
        kwargs = self._kwargs(call, spec)
        kwargs["stream"] = True
        kwargs["stream_options"] = {"include_usage": True}
        try:
            stream = await self.router.acompletion(**kwargs)
        except Exception as exc:
            raise map_upstream_error(exc) from exc
        served = (getattr(stream, "_hidden_params", None) or {}).get("model_id") or call.model
        return _guard(stream), served


async def _guard(stream: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """Re-raise provider failures during a stream as `GatewayError`s."""
    try:
        async for chunk in stream:
            yield chunk
    except GatewayError:
        raise
    except Exception as exc:
        raise map_upstream_error(exc) from exc


def map_upstream_error(exc: Exception) -> GatewayError:
    """A litellm/provider exception as the contract's error."""
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, litellm.Timeout):
        return GatewayError(504, "upstream_timeout")
    if isinstance(exc, litellm.BadRequestError) and not isinstance(exc, litellm.ContextWindowExceededError):
        return GatewayError(400, "invalid_request", detail=_short(exc))
    if isinstance(exc, litellm.ContextWindowExceededError):
        return GatewayError(400, "invalid_request", param="messages", detail="context window exceeded")
    log.warning("upstream failure: %s", _short(exc))
    return GatewayError(502, "upstream_error", detail=type(exc).__name__)


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
