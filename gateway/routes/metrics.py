"""`GET /metrics`: this process's Prometheus metrics in the text exposition format."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from gateway.metrics import CONTENT_TYPE

router = APIRouter()


@router.get("/metrics", tags=["operations"], include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Counters and histograms of this worker (no employee, key or prompt in any label)."""
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE)
