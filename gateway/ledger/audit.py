"""Append-only audit log of committee and admin actions, authenticated and anchored.

Each entry carries an HMAC-SHA256, under a key the database does not hold, of its
content and of the previous entry's MAC. Someone who can write to the database but
does not hold the key cannot edit, insert or re-chain entries without `verify()`
naming the first broken one. What a chain alone cannot show is the loss of its tail
(or a full rewrite by someone holding the key), so the gateway also exports signed
checkpoints, "entry N has MAC h and there are N entries up to it", to a file outside
the database; `verify(checkpoints)` checks the chain still reaches each of them.

Appends are serialised so two replicas can never fork the chain: a transaction-level
advisory lock on PostgreSQL, the database write lock (taken first, before reading the
last MAC) on SQLite.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.ledger.tables import AuditEntry

log = logging.getLogger("sobria.audit")

GENESIS = "0" * 64
_LOCK_KEY = 0x50B12A  # the advisory lock that serialises appends on PostgreSQL
_VERIFY_BATCH = 1000

BreakReason = Literal["chain_link", "content", "truncated", "rewritten", "checkpoint_signature"]


@dataclass(frozen=True, slots=True)
class AuditVerification:
    """Result of walking the chain: ok, how many entries were checked, where and why it broke."""

    ok: bool
    checked: int
    first_broken_id: int | None = None
    reason: BreakReason | None = None


@dataclass(frozen=True, slots=True)
class AuditEntryView:
    """One audit entry as shown to an admin."""

    id: int
    at: str
    actor: str
    action: str
    target: str
    before: str | None
    after: str | None


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement of the chain's head: its last entry id, that entry's MAC and the entry count."""

    head_id: int
    head_hash: str
    count: int
    at: str
    signature: str

    def as_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> "Checkpoint":
        data = json.loads(line)
        return cls(int(data["head_id"]), str(data["head_hash"]), int(data["count"]), str(data["at"]),
                   str(data["signature"]))


def _text(value: Mapping[str, Any] | str | None) -> str | None:
    """Canonical JSON of a before/after state (strings are kept as given)."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))


def _iso(at: datetime) -> str:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC).isoformat(timespec="microseconds")


def entry_hash(
    key: bytes, prev_hash: str, at: datetime, actor: str, action: str, target: str, before: str | None,
    after: str | None,
) -> str:
    """HMAC-SHA256 under `key` of the previous entry's MAC and every field of the entry."""
    payload = json.dumps([prev_hash, _iso(at), actor, action, target, before, after], ensure_ascii=False)
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


def _checkpoint_mac(key: bytes, head_id: int, head_hash: str, count: int, at: str) -> str:
    payload = json.dumps(["checkpoint", head_id, head_hash, count, at])
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()


def read_checkpoints(path: Path) -> list[Checkpoint]:
    """Every checkpoint of a checkpoint file (one JSON object a line); none when it does not exist."""
    if not path.exists():
        return []
    return [Checkpoint.from_json(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class AuditLog:
    """Record and verify audit entries in the `audit_log` table."""

    def __init__(self, engine: AsyncEngine, key: bytes):
        if not key:
            raise ValueError("the audit log needs a key")
        self._engine = engine
        self._key = key
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
        digest = entry_hash(self._key, prev, at, actor[:128], action[:64], target[:256], before_text, after_text)
        inserted = await conn.execute(
            insert(AuditEntry).values(
                at=at, actor=actor[:128], action=action[:64], target=target[:256],
                before=before_text, after=after_text, prev_hash=prev, hash=digest,
            ).returning(AuditEntry.id)
        )
        return int(inserted.scalar_one())

    async def lock(self, conn: AsyncConnection) -> None:
        """Take the append lock in the caller's transaction (to serialise a change with its audit entry)."""
        await self._lock(conn)

    @staticmethod
    async def _lock(conn: AsyncConnection) -> None:
        """Serialise appends across processes; re-entrant within one transaction."""
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        else:
            await conn.execute(update(AuditEntry).where(AuditEntry.id < 0).values(actor=AuditEntry.actor))

    async def checkpoint(self) -> Checkpoint:
        """A signed statement of the current head (id 0 and the genesis hash for an empty log)."""
        async with self._engine.connect() as conn:
            head = (await conn.execute(select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1))).first()
            count = int((await conn.execute(select(func.count()).select_from(AuditEntry))).scalar_one())
        head_id, head_hash = (int(head.id), str(head.hash)) if head is not None else (0, GENESIS)
        at = datetime.now(UTC).isoformat(timespec="seconds")
        return Checkpoint(head_id, head_hash, count, at, _checkpoint_mac(self._key, head_id, head_hash, count, at))

    async def export_checkpoint(self, path: Path) -> Checkpoint:
        """Append a checkpoint to `path` (and to the log), so the head can be checked later."""
        point = await self.checkpoint()
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(point.as_json() + "\n")
        log.info("audit checkpoint", extra={"audit_checkpoint": point.as_json()})
        return point

    def _signed(self, point: Checkpoint) -> bool:
        expected = _checkpoint_mac(self._key, point.head_id, point.head_hash, point.count, point.at)
        return hmac.compare_digest(expected, point.signature)

    async def verify(self, checkpoints: Sequence[Checkpoint] = ()) -> AuditVerification:
        """Recompute the chain from the first entry; report the first entry that does not match.

        With checkpoints, also require that each checkpoint's head is still in the chain,
        with the same MAC and the same number of entries up to it."""
        for point in checkpoints:
            if not self._signed(point):
                return AuditVerification(False, 0, point.head_id, "checkpoint_signature")
        anchors = {point.head_id: point for point in checkpoints if point.head_id > 0}
        prev, checked, after_id = GENESIS, 0, 0
        async with self._engine.connect() as conn:
            while True:
                rows = (
                    await conn.execute(
                        select(AuditEntry).where(AuditEntry.id > after_id).order_by(AuditEntry.id).limit(_VERIFY_BATCH)
                    )
                ).all()
                if not rows:
                    break
                for row in rows:
                    for head_id in [h for h in anchors if h < row.id]:
                        return AuditVerification(False, checked, head_id, "truncated")
                    if row.prev_hash != prev:
                        return AuditVerification(False, checked, row.id, "chain_link")
                    expected = entry_hash(self._key, prev, row.at, row.actor, row.action, row.target, row.before, row.after)
                    if not hmac.compare_digest(row.hash, expected):
                        return AuditVerification(False, checked, row.id, "content")
                    prev, checked, after_id = row.hash, checked + 1, row.id
                    anchor = anchors.pop(row.id) if row.id in anchors else None
                    if anchor is not None and (anchor.head_hash != row.hash or anchor.count != checked):
                        return AuditVerification(False, checked, row.id, "rewritten")
        if anchors:
            return AuditVerification(False, checked, min(anchors), "truncated")
        return AuditVerification(True, checked)

    async def entries(self, target_prefix: str | None = None, limit: int = 100) -> list[AuditEntryView]:
        """The latest entries, newest first (optionally for targets starting with a prefix)."""
        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if target_prefix:
            query = query.where(AuditEntry.target.startswith(target_prefix))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [AuditEntryView(r.id, _iso(r.at), r.actor, r.action, r.target, r.before, r.after) for r in rows]


async def export_checkpoints(audit: AuditLog, path: Path, interval_s: float) -> None:
    """Export a checkpoint every `interval_s` until cancelled (the composition root runs this)."""
    last: tuple[int, str] | None = None
    while True:
        try:
            point = await audit.checkpoint()
            if (point.head_id, point.head_hash) != last:
                point = await audit.export_checkpoint(path)
                last = (point.head_id, point.head_hash)
        except Exception:
            log.warning("could not export an audit checkpoint; trying again later", exc_info=True)
        await asyncio.sleep(interval_s)
