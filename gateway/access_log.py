"""The refused-access trace: every 401 and 403 the gateway answers, visible to admins.

An ASGI middleware notes each refusal (time, status, method, path, client address and
the SHA-256 of the presented key, never the key); a background task writes them in
batches. `GET /admin/access/refusals` lists them, joined to the key they name when it
exists, so an admin sees which revoked key is still in use and from where. The queue
is bounded, so a flood of bad keys cannot exhaust memory; what overflows is counted.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.auth import require_role
from gateway.keys import hash_key
from gateway.ledger.tables import ApiKey
from gateway.ledger.trace_tables import AccessRefusal

log = logging.getLogger("sobria.access")


class AccessTrace:
    """Bounded queue of refusals and the task that writes them."""

    def __init__(self, engine: AsyncEngine, flush_interval_s: float = 0.5, capacity: int = 10_000):
        self._engine = engine
        self._interval = flush_interval_s
        self._pending: deque[dict[str, Any]] = deque()
        self._capacity = capacity
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    def note(self, status: int, method: str, path: str, key: str | None, client: str | None) -> None:
        if len(self._pending) >= self._capacity:
            self.dropped += 1
            return
        self._pending.append(
            {
                "at": datetime.now(UTC),
                "status": status,
                "method": method[:8],
                "path": path[:256],
                "key_hash": hash_key(key) if key else None,
                "client": client[:64] if client else None,
            }
        )

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sobria-access-trace")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        try:
            await self.flush()
        except Exception:
            log.warning("access trace: %d refusals not written at shutdown", len(self._pending))

    async def flush(self) -> None:
        if not self._pending:
            return
        batch = list(self._pending)
        async with self._engine.begin() as connection:
            await connection.execute(insert(AccessRefusal), batch)
        for _ in batch:
            self._pending.popleft()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except Exception:
                log.warning("access trace write failed; retrying", exc_info=True)


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
                    )
            await send(message)

        await self.app(scope, receive, observed_send)


router = APIRouter(prefix="/admin/access", tags=["admin"])


@router.get("/refusals")
async def refusals(
    request: Request,
    limit: int = Query(default=100, ge=1, le=1000),
    _: object = Depends(require_role("admin")),
) -> dict[str, Any]:
    """The most recent refused accesses, newest first, with the key they presented when known."""
    refusal = AccessRefusal.__table__.c
    statement = (
        select(refusal.at, refusal.status, refusal.method, refusal.path, refusal.client,
               ApiKey.key_id, ApiKey.name, ApiKey.revoked_at)
        .join(ApiKey, ApiKey.key_hash == refusal.key_hash, isouter=True)
        .order_by(refusal.id.desc())
        .limit(limit)
    )
    async with request.app.state.engine.connect() as connection:
        rows = (await connection.execute(statement)).all()
    return {
        "data": [
            {
                "at": row.at.isoformat(),
                "status": row.status,
                "method": row.method,
                "path": row.path,
                "client": row.client,
                "key_id": row.key_id,
                "key_name": row.name,
                "key_revoked": (row.revoked_at is not None) if row.key_id else None,
            }
            for row in rows
        ],
        "dropped": request.app.state.access_trace.dropped,
    }
