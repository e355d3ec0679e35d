"""API keys: created once and shown once, stored as a SHA-256 hash, revocable.

Keys carry 256 bits of randomness, so a plain SHA-256 is a sound at-rest hash (no
password stretching needed) and lets a key be found by index. Lookups are cached for
`cache_ttl_s` so the hot path rarely reaches the database, which bounds how long a
revocation takes to reach every replica. One query per key is in flight at a time,
whatever the concurrency, and a cached record past half its lifetime is refreshed in
the background while it is still served, so requests do not wait on the database
when the cache turns over. While the database is unreachable a key seen before keeps
its last known record (`serve_when_database_down`), since no revocation can be
written meanwhile either; otherwise the lookup is a 503.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.errors import Unavailable
from gateway.ledger.tables import ApiKey

PREFIX = "sk-sobria-"
ROLES = ("employee", "committee", "csr", "admin")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """What a key stands for (never the key itself)."""

    key_id: str
    name: str
    employee_id: str
    department: str
    roles: frozenset[str]
    trusted_frontend: bool
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> "KeyRecord":
        """From an `ApiKey` object or a result row with the same columns."""
        return cls(
            key_id=row.key_id,
            name=row.name,
            employee_id=row.employee_id,
            department=row.department,
            roles=frozenset(r for r in row.roles.split(",") if r),
            trusted_frontend=row.trusted_frontend,
            created_at=row.created_at,
            revoked_at=row.revoked_at,
        )


class KeyStore:
    """Creates, finds, lists and revokes keys in the database."""

    def __init__(self, engine: AsyncEngine, cache_ttl_s: float = 0.5, serve_when_database_down: bool = True):
        self._engine = engine
        self._ttl = cache_ttl_s
        self._serve_when_down = serve_when_database_down
        self._cache: dict[str, tuple[float, KeyRecord | None]] = {}
        self._loading: dict[str, asyncio.Task[KeyRecord | None]] = {}
        self._generation = 0
        self._by_id: dict[str, tuple[float, KeyRecord | None]] = {}

    async def create(
        self,
        name: str,
        employee_id: str,
        department: str,
        roles: list[str],
        trusted_frontend: bool = False,
    ) -> tuple[str, KeyRecord]:
        """Make a new key; returns (the key, shown only now, and its record)."""
        unknown = set(roles) - set(ROLES)
        if unknown or not roles:
            raise ValueError(f"roles must be among {', '.join(ROLES)}")
        secret = secrets.token_urlsafe(32)
        while secret.startswith("-"):  # its first 8 characters are the key id, which a command line would read as an option
            secret = secrets.token_urlsafe(32)
        key = f"{PREFIX}{secret}"
        key_id = secret[:8]
        row = ApiKey(
            key_id=key_id,
            key_hash=hash_key(key),
            name=name,
            employee_id=employee_id,
            department=department,
            roles=",".join(sorted(set(roles))),
            trusted_frontend=trusted_frontend,
            created_at=datetime.now(UTC),
            revoked_at=None,
        )
        async with self._engine.begin() as conn:
            await conn.execute(insert(ApiKey).values(**_row_values(row)))
        return key, KeyRecord.from_row(row)

    async def find(self, key: str) -> KeyRecord | None:
        """The active record for a presented key, or None (unknown or revoked)."""
        if not key.startswith(PREFIX):
            return None
        digest = hash_key(key)
        cached = self._cache.get(digest)
        if cached is not None:
            age = time.monotonic() - cached[0]
            if age < self._ttl / 2:
                return cached[1]
            if age < self._ttl:
                self._load(digest)
                return cached[1]
        try:
            return await asyncio.shield(self._load(digest))
        except (OSError, SQLAlchemyError) as exc:
            if self._serve_when_down and cached is not None:
                return cached[1]
            raise Unavailable("database_unavailable") from exc

    def _load(self, digest: str) -> asyncio.Task[KeyRecord | None]:
        """The one lookup of this key in flight, started when there is none."""
        task = self._loading.get(digest)
        if task is None:
            task = asyncio.create_task(self._query(digest), name="sobria-key-lookup")
            self._loading[digest] = task
            task.add_done_callback(lambda done: self._loaded(digest, done))
        return task

    def _loaded(self, digest: str, task: asyncio.Task[KeyRecord | None]) -> None:
        self._loading.pop(digest, None)
        if not task.cancelled():
            task.exception()

    async def _query(self, digest: str) -> KeyRecord | None:
        """Read one key's record and cache it, stamped with when the read began."""
        started, generation = time.monotonic(), self._generation
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(ApiKey).where(ApiKey.key_hash == digest))).first()
        record = None
        if row is not None and hmac.compare_digest(row.key_hash, digest) and row.revoked_at is None:
            record = KeyRecord.from_row(row)
        if generation == self._generation:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = (started, record)
        return record

    async def find_id(self, key_id: str) -> KeyRecord | None:
        """The active record of a key by its public id (the web session's key), cached like `find`."""
        cached = self._by_id.get(key_id)
        if cached is not None and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        started, generation = time.monotonic(), self._generation
        try:
            async with self._engine.connect() as conn:
                row = (await conn.execute(select(ApiKey).where(ApiKey.key_id == key_id))).first()
        except (OSError, SQLAlchemyError) as exc:
            if self._serve_when_down and cached is not None:
                return cached[1]
            raise Unavailable("database_unavailable") from exc
        record = KeyRecord.from_row(row) if row is not None and row.revoked_at is None else None
        if generation == self._generation:
            if len(self._by_id) > 10_000:
                self._by_id.clear()
            self._by_id[key_id] = (started, record)
        return record

    async def list(self) -> list[KeyRecord]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(ApiKey).order_by(ApiKey.created_at))).all()
        return [KeyRecord.from_row(r) for r in rows]

    async def revoke(self, key_id: str) -> bool:
        """Revoke a key by its public id; True when an active key was revoked."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(ApiKey)
                .where(ApiKey.key_id == key_id, ApiKey.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
        self._generation += 1
        self._cache.clear()
        self._by_id.clear()
        return result.rowcount > 0

    async def count_admins(self) -> int:
        return sum(1 for k in await self.list() if "admin" in k.roles and k.revoked_at is None)


def _row_values(row: ApiKey) -> dict[str, object]:
    return {c.name: getattr(row, c.name) for c in ApiKey.__table__.columns}
