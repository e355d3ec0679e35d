"""The refused-access trace: every 401 and 403 the gateway answers, visible to admins.

An ASGI middleware notes each refusal (time, status, method, path, client address and
the SHA-256 of the presented key, never the key); a background task writes them in
batches. `GET /admin/access/refusals` lists them, joined to the key they name when it
exists, so an admin sees which revoked key is still in use and from where. The queue
is bounded, so a flood of bad keys cannot exhaust memory; what overflows is counted.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.edge.dependencies import EngineDep
from gateway.identity.auth import require_role
from gateway.ledger.batched import BatchedInserter
from gateway.identity.keys import hash_key
from gateway.ledger.tables import ApiKey
from gateway.ledger.trace_tables import AccessRefusal

log = logging.getLogger("sobria.access")


class AccessTrace:
    """Bounded queue of refusals and the task that writes them."""

    def __init__(self, engine: AsyncEngine, flush_interval_s: float = 0.5, capacity: int = 10_000):
        self._rows = BatchedInserter(engine, AccessRefusal, "access-trace", flush_interval_s, capacity)

    @property
    def rows(self) -> BatchedInserter:
        """The queue and its writer (failures and dead letters are read from it)."""
        return self._rows

    @property
    def dropped(self) -> int:
        return self._rows.dropped

    def note(
        self, status: int, method: str, path: str, key: str | None, client: str | None, reason: str | None = None
    ) -> None:
        self._rows.add(
            {
                "at": datetime.now(UTC),
                "status": status,
                "method": method[:8],
                "path": path[:256],
                "key_hash": hash_key(key) if key else None,
                "client": client[:64] if client else None,
                "reason": reason[:64] if reason else None,
            }
        )

    async def start(self) -> None:
        await self._rows.start()

    async def stop(self) -> None:
        await self._rows.stop()

    async def flush(self) -> None:
        await self._rows.flush()


def presented_key(headers: dict[bytes, bytes]) -> str | None:
    authorization = headers.get(b"authorization", b"").decode("latin-1")
    scheme, _, token = authorization.partition(" ")
    if token and scheme.lower() == "bearer":
        return token.strip()
    return headers.get(b"x-api-key", b"").decode("latin-1").strip() or None


class RefusalTrace:
    """ASGI middleware: note every 401/403 response in the app's `AccessTrace`."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def observed_send(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (401, 403):
                trace: AccessTrace | None = getattr(scope["app"].state, "access_trace", None)
                if trace is not None:
                    client = scope.get("client")
                    trace.note(
                        message["status"],
                        scope["method"],
                        scope["path"],
                        presented_key(dict(scope["headers"])),
                        client[0] if client else None,
                        (scope.get("state") or {}).get("refusal_reason"),
                    )
            await send(message)

        await self.app(scope, receive, observed_send)


router = APIRouter(prefix="/admin/access", tags=["admin"])


async def _access_trace(request: Request) -> AccessTrace:
    """The trace of refused accesses the composition root started."""
    trace: AccessTrace = request.app.state.access_trace
    return trace


@router.get("/refusals")
async def refusals(
    engine: EngineDep,
    trace: Annotated[AccessTrace, Depends(_access_trace)],
    limit: int = Query(default=100, ge=1, le=1000),
    _: object = Depends(require_role("admin")),
) -> dict[str, Any]:
    """The most recent refused accesses, newest first, with the key they presented when known."""
    refusal = AccessRefusal.__table__.c
    statement = (
        select(refusal.at, refusal.status, refusal.method, refusal.path, refusal.client, refusal.reason,
               ApiKey.key_id, ApiKey.name, ApiKey.revoked_at)
        .join(ApiKey, ApiKey.key_hash == refusal.key_hash, isouter=True)
        .order_by(refusal.id.desc())
        .limit(limit)
    )
    async with engine.connect() as connection:
        rows = (await connection.execute(statement)).all()
    return {
        "data": [
            {
                "at": row.at.isoformat(),
                "status": row.status,
                "method": row.method,
                "path": row.path,
                "client": row.client,
                "reason": row.reason,
                "key_id": row.key_id,
                "key_name": row.name,
                "key_revoked": (row.revoked_at is not None) if row.key_id else None,
            }
            for row in rows
        ],
        "dropped": trace.dropped,
    }
