"""`GET /metrics`: this process's Prometheus metrics in the text exposition format.

Labels hold no employee, key or prompt, but they do break cost, tokens and CO2e down
by department x use case x model with no small-group suppression, so a gateway
listening beyond loopback requires the scrape token (`SOBRIA_METRICS_TOKEN`, sent as a
Bearer token) by default: without a token configured it answers 403, unless the
operator opens it on purpose (`SOBRIA_METRICS_OPEN=true`). On loopback (the default
host) it is served as before, a token still being required when one is set.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response

from gateway.edge.dependencies import MetricsDep, SettingsDep
from gateway.edge.errors import GatewayError
from gateway.observability.metrics import CONTENT_TYPE

router = APIRouter()


@router.get("/metrics", tags=["operations"], include_in_schema=False)
async def metrics(request: Request, settings: SettingsDep, registry: MetricsDep) -> Response:
    """Counters and histograms of this worker."""
    token = settings.metrics_token
    if token:
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented.encode(), token.encode()):
            raise GatewayError(401, "invalid_api_key")
    elif settings.listens_beyond_loopback and not settings.metrics_open:
        raise GatewayError(403, "metrics_token_required")
    return Response(registry.render(), media_type=CONTENT_TYPE)
