"""Append-only, hash-chained audit log of committee and admin actions.

Each entry's hash covers its content and the previous entry's hash, so editing,
inserting or deleting a row anywhere breaks the chain from that row on and
`verify()` names the first broken entry. Appends are serialised so two replicas can
never fork the chain: a transaction-level advisory lock on PostgreSQL, the database
write lock (taken first, before reading the last hash) on SQLite.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.ledger.tables import AuditEntry

GENESIS = "0" * 64
_LOCK_KEY = 0x50B12A  # the advisory lock that serialises appends on PostgreSQL
_VERIFY_BATCH = 1000


@dataclass(frozen=True, slots=True)
class AuditVerification:
    """Result of walking the chain: ok, how many entries were checked, where it broke."""

    ok: bool
    checked: int
    first_broken_id: int | None = None
    reason: str | None = None  # "chain_link" (prev_hash differs) or "content" (fields differ from the hash)


def _text(value: Mapping[str, Any] | str | None) -> str | None:
    """Canonical JSON of a before/after state (strings are kept as given)."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))


def _iso(at: datetime) -> str:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC).isoformat(timespec="microseconds")


def entry_hash(
    prev_hash: str, at: datetime, actor: str, action: str, target: str, before: str | None, after: str | None
) -> str:
    """SHA-256 over the previous hash and every field of the entry."""
    payload = json.dumps([prev_hash, _iso(at), actor, action, target, before, after], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


class AuditLog:
    """Record and verify audit entries in the `audit_log` table."""

    def __init__(self, engine: AsyncEngine):
        self._engine = engine
        self._local = asyncio.Lock()

    async def record(
        self,
        actor: str,
        action: str,
        target: str,
        before: Mapping[str, Any] | str | None,
        after: Mapping[str, Any] | str | None,
    ) -> int:
        """Append one entry chained to the last one; returns its id."""
        async with self._local, self._engine.begin() as conn:
            await self._lock(conn)
            return await self.append(conn, actor, action, target, before, after)

    async def append(
        self,
        conn: AsyncConnection,
        actor: str,
        action: str,
        target: str,
        before: Mapping[str, Any] | str | None,
        after: Mapping[str, Any] | str | None,
    ) -> int:
        """Append inside the caller's transaction (so a change and its audit entry commit together)."""
        await self._lock(conn)
        last = (await conn.execute(select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1))).scalar()
        prev = last or GENESIS
        at = datetime.now(UTC)
        before_text, after_text = _text(before), _text(after)
        digest = entry_hash(prev, at, actor[:128], action[:64], target[:256], before_text, after_text)
        result = await conn.execute(
            AuditEntry.__table__.insert().values(
                at=at, actor=actor[:128], action=action[:64], target=target[:256],
                before=before_text, after=after_text, prev_hash=prev, hash=digest,
            )
        )
        return int(result.inserted_primary_key[0])

    @staticmethod
    async def _lock(conn: AsyncConnection) -> None:
        """Serialise appends across processes; re-entrant within one transaction."""
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        else:
            await conn.execute(update(AuditEntry).where(AuditEntry.id < 0).values(actor=AuditEntry.actor))

    async def verify(self) -> AuditVerification:
        """Recompute the chain from the first entry; report the first entry that does not match."""
        prev, checked, after_id = GENESIS, 0, 0
        async with self._engine.connect() as conn:
            while True:
                rows = (
                    await conn.execute(
                        select(AuditEntry).where(AuditEntry.id > after_id).order_by(AuditEntry.id).limit(_VERIFY_BATCH)
                    )
                ).all()
                if not rows:
                    return AuditVerification(True, checked)
                for row in rows:
                    if row.prev_hash != prev:
                        return AuditVerification(False, checked, row.id, "chain_link")
                    expected = entry_hash(prev, row.at, row.actor, row.action, row.target, row.before, row.after)
                    if row.hash != expected:
                        return AuditVerification(False, checked, row.id, "content")
                    prev, checked, after_id = row.hash, checked + 1, row.id

    async def entries(self, target_prefix: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The latest entries, newest first (optionally for targets starting with a prefix)."""
        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if target_prefix:
            query = query.where(AuditEntry.target.startswith(target_prefix))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            {"id": r.id, "at": _iso(r.at), "actor": r.actor, "action": r.action, "target": r.target,
             "before": r.before, "after": r.after}
            for r in rows
        ]
