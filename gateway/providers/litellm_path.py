"""litellm's Router, for the deployments the lean relay does not serve.

Providers whose protocol is not OpenAI's (and every provider with
`SOBRIA_UPSTREAM_RELAY=off`) go through here; demo models are answered by `gateway.providers.demo`. litellm costs about 130 MB of memory and
2.5 s to import, so `gateway.providers.upstream` imports this module only when the catalogue
has such a deployment (or when `SOBRIA_UPSTREAM_RELAY=off`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import litellm
import orjson
from litellm import Router

from gateway.providers.catalogue import Catalogue
from gateway.edge.errors import GatewayError
from gateway.providers.relay import StreamPiece
from gateway.request.tokens import tool_call_text

litellm.suppress_debug_info = True
litellm.telemetry = False
# Parameters a provider does not take (`user`, `reasoning_effort`, `seed` ...) are left out
# for that provider rather than failing the request; those it takes are forwarded.
litellm.drop_params = True

#: litellm 1.106.2 routes every call with `tools` through its MCP gateway handler, whose
#: import needs the `mcp` server SDK (a 502 "No module named 'mcp'" without it). Sobria
#: never uses litellm's MCP gateway (tools are the caller's, answered by the caller), so
#: the handler is skipped rather than a server SDK installed for a path never taken.
#: litellm is pinned; tests/clients pins this flag's effect with a tool-calling upstream.
_NO_MCP = {"_skip_mcp_handler": True}
for _name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)

log = logging.getLogger("sobria.upstream")


def router_model_list(catalogue: Catalogue) -> list[dict[str, Any]]:
    return [
        {
            "model_name": spec.name,
            "litellm_params": dict(spec.litellm_params),
            "model_info": {"id": spec.name},
        }
        for spec in catalogue.all()
    ]


class LitellmPath:
    """One litellm `Router` over the catalogue, without retries (the caller does them)."""

    def __init__(self, catalogue: Catalogue, timeout_s: float):
        self.router = Router(model_list=router_model_list(catalogue), num_retries=0, timeout=timeout_s)

    async def complete(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """One plain call; the answer as an OpenAI-shaped dict."""
        try:
            response = await self.router.acompletion(**kwargs, **_NO_MCP)  # type: ignore[call-overload]  # kwargs are the OpenAI body
        except Exception as exc:
            raise map_litellm_error(exc) from exc
        return response.model_dump(exclude_none=True)

    async def embed(self, model: str, inputs: Any, params: dict[str, Any]) -> dict[str, Any]:
        """One embeddings call; the answer as an OpenAI-shaped dict."""
        try:
            response = await self.router.aembedding(model=model, input=inputs, **params)
        except Exception as exc:
            raise map_litellm_error(exc) from exc
        return response.model_dump(exclude_none=True)

    async def stream(self, kwargs: dict[str, Any], served: str) -> AsyncIterator[StreamPiece]:
        """Open a stream (errors before the first chunk raise here); its chunks as relay pieces."""
        try:
            stream = await self.router.acompletion(  # type: ignore[call-overload]  # kwargs are the OpenAI body
                **kwargs, **_NO_MCP, stream=True, stream_options={"include_usage": True}
            )
        except Exception as exc:
            raise map_litellm_error(exc) from exc
        return _pieces(stream, served)


async def _pieces(stream: AsyncIterator[Any], served: str) -> AsyncIterator[StreamPiece]:
    """litellm's chunk objects as relay pieces (serialised once, model name set)."""
    try:
        async for chunk in stream:
            data = chunk.model_dump(exclude_none=True)
            usage = data.pop("usage", None) or None
            choices = data.get("choices") or ()
            text = "".join(_delta_text(c.get("delta") or {}) for c in choices)
            sse = b""
            if choices:
                data["model"] = served
                sse = b"data: " + orjson.dumps(data) + b"\n\n"
            tools = "".join(tool_call_text((c.get("delta") or {}).get("tool_calls")) for c in choices)
            yield StreamPiece(sse, text, usage, data.get("id"), data.get("created"), tools)
    except GatewayError:
        raise
    except Exception as exc:
        raise map_litellm_error(exc) from exc


def _delta_text(delta: dict[str, Any]) -> str:
    """What a chunk generated: its text and its tool-call names and arguments."""
    parts = [delta.get("content") or ""]
    for call in delta.get("tool_calls") or ():
        function = call.get("function") or {}
        parts.append((function.get("name") or "") + (function.get("arguments") or ""))
    return "".join(parts)


def map_litellm_error(exc: Exception) -> GatewayError:
    """A litellm/provider exception as the contract's error."""
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, litellm.Timeout):
        return GatewayError(504, "upstream_timeout")
    if isinstance(exc, litellm.ContextWindowExceededError):
        return GatewayError(400, "invalid_request", param="messages", detail="context window exceeded")
    if isinstance(exc, litellm.BadRequestError):
        return GatewayError(400, "invalid_request", detail=_short(exc))
    log.warning("upstream failure: %s", _short(exc))
    return GatewayError(502, "upstream_error", detail=type(exc).__name__)


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
