"""`GET /metrics`: this process's Prometheus metrics in the text exposition format.

Labels hold no employee, key or prompt, but they do name departments and use cases, so
an operator can require a scrape token (`SOBRIA_METRICS_TOKEN`, sent as a Bearer token).
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response

from gateway.errors import GatewayError
from gateway.metrics import CONTENT_TYPE

router = APIRouter()


@router.get("/metrics", tags=["operations"], include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Counters and histograms of this worker."""
    token = request.app.state.settings.metrics_token
    if token:
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented.encode(), token.encode()):
            raise GatewayError(401, "invalid_api_key")
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE)
