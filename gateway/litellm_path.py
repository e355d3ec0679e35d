"""litellm's Router, for the deployments the lean relay does not serve.

Demo models (litellm's mock path with a placeholder text) and providers whose
protocol is not OpenAI's go through here. litellm costs about 130 MB of memory and
2.5 s to import, so `gateway.upstream` imports this module only when the catalogue
has such a deployment (or when `SOBRIA_UPSTREAM_RELAY=off`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import litellm
import orjson
from litellm import Router

from gateway.catalogue import Catalogue
from gateway.errors import GatewayError
from gateway.relay import StreamPiece
from gateway.tokens import tool_call_text

litellm.suppress_debug_info = True
litellm.telemetry = False
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
            response = await self.router.acompletion(**kwargs)
        except Exception as exc:
            raise map_litellm_error(exc) from exc
        return response.model_dump(exclude_none=True)

    async def stream(self, kwargs: dict[str, Any], served: str) -> AsyncIterator[StreamPiece]:
        """Open a stream (errors before the first chunk raise here); its chunks as relay pieces."""
        try:
            stream = await self.router.acompletion(**kwargs, stream=True, stream_options={"include_usage": True})
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
            text = "".join((c.get("delta") or {}).get("content") or "" for c in choices)
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
