"""Publishing the routing policy: validate, dry-run, store, audit, and keep every replica on the current version.

The database holds the published policy (`policy_versions` for every version,
`policy_head` for the one in force). Every replica loads the current version at start
and checks the head every `follow_interval_s` (at most 5 s), so a policy published
through one replica, or an edit of the policy file, reaches all of them and survives
a restart. The policy file is the initial seed; a later change of it is published
through `publish` like any other, so it is validated and audited too.

Publishing takes the audit log's lock first, so two replicas publishing at once (or
noticing the same file edit) are serialised and the file is published once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.ledger.audit import AuditLog
from policies.check import Issue
from policies.diff import diff_policies
from policies.engine import DEFAULT_POLICY, PolicyEngine, content_version
from gateway.ledger.replay_rows import load_rows
from policies.replay import ReplayReport, replay
from policies.tables import PolicyHead, PolicyVersion

log = logging.getLogger("sobria.policy")

REPLAY_DAYS = 30
_HEAD = 1


@dataclass(frozen=True, slots=True)
class PolicyVersionInfo:
    """One published version, without its text."""

    version: str
    version_label: str
    published_at: datetime
    source: str
    actor: str


@dataclass(slots=True)
class PublishOutcome:
    """What happened to a candidate policy."""

    valid: bool
    version: str
    previous_version: str
    applied: bool = False
    issues: list[Issue] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    replay: ReplayReport | None = None

    def as_dict(self) -> dict[str, object]:
        body: dict[str, object] = {
            "valid": self.valid,
            "applied": self.applied,
            "version": self.version,
            "previous_version": self.previous_version,
        }
        if self.valid:
            body["changes"] = self.changes
        else:
            body["errors"] = [{"line": i.line, "message": i.message, "path": i.path} for i in self.issues]
        if self.replay is not None:
            body["replay"] = self.replay.as_dict()
        return body

    def audit_state(self) -> dict[str, object]:
        return {k: v for k, v in self.as_dict().items() if k not in {"valid", "replay"}}


class PolicyPublishing:
    """The one way a policy reaches the gateway, from the API, the pages, the CLI or the policy file."""

    def __init__(self, engine: PolicyEngine, database: AsyncEngine, database_url: str, audit: AuditLog,
                 file: Path | None = None):
        self.engine = engine
        self._database = database
        self._database_url = database_url
        self._audit = audit
        self._file = file or engine.path or DEFAULT_POLICY
        self._file_seen: str | None = None

    async def start(self) -> None:
        """Seed the database from the file on first start, publish a file edited meanwhile, load the current version."""
        await self.publish_file_if_changed()
        await self.follow_once()

    async def submit(self, text: str, actor: str, publish: bool, with_replay: bool = False) -> PublishOutcome:
        """Check `text`; publish it when asked and valid; else report (with a replay when asked). Audited either way."""
        text = text.replace("\r\n", "\n")
        current = self.engine.version
        report = self.engine.check(text)
        if not report.ok or report.policy is None:
            outcome = PublishOutcome(False, current, current, issues=list(report.issues))
            await self._audit.record(actor, "policy.rejected", "policy", {"version": current}, outcome.audit_state())
            return outcome
        changes = [c.render() for c in diff_policies(self.engine.policy, report.policy)]
        outcome = PublishOutcome(True, content_version(text), current, changes=changes)
        if publish:
            outcome.applied = await self._publish(text, report.policy.version_label, actor, actor, outcome)
            return outcome
        if with_replay:
            outcome.replay = await self.replay(text)
        await self._audit.record(actor, "policy.dry_run", "policy", {"version": current}, outcome.audit_state())
        return outcome

    async def _publish(self, text: str, label: str, actor: str, source: str, outcome: PublishOutcome,
                       file_version: str | None = None) -> bool:
        """Store `text` as the current version and load it here.

        With `file_version` (a policy file's content), only when no replica ever published
        that content from a file: a replica restarting with a stale copy of the file
        does not undo what was published since."""
        now = datetime.now(UTC)
        async with self._database.begin() as conn:
            await self._audit.lock(conn)
            head = await self._head(conn)
            if file_version is not None and await self._published_from_file(conn, file_version):
                return False
            await conn.execute(insert(PolicyVersion).values(
                version=outcome.version, version_label=label[:128], loaded_at=now,
                source=source[:256], actor=actor[:128], text=text,
            ))
            values: dict[str, object] = {"version": outcome.version, "published_at": now, "published_by": actor[:128]}
            if file_version is not None:
                values["file_version"] = file_version
            if head is None:
                await conn.execute(insert(PolicyHead).values(id=_HEAD, seq=1, **values))
            else:
                await conn.execute(update(PolicyHead).where(PolicyHead.id == _HEAD).values(seq=head.seq + 1, **values))
            await self._audit.append(conn, actor, "policy.update", "policy", {"version": outcome.previous_version},
                                     outcome.audit_state())
        if self.engine.version == outcome.version:
            return True
        result = self.engine.reload_text(text, source=source)
        if result.loaded:
            log.info("policy published by %s: %s -> %s", actor, result.previous_version, result.version)
        return result.loaded

    async def publish_file_if_changed(self) -> PublishOutcome | None:
        """Publish the policy file when this content was never published from a file (the seed on first start)."""
        text = self._file.read_text(encoding="utf-8")
        version = content_version(text)
        if version == self._file_seen:
            return None
        self._file_seen = version
        async with self._database.connect() as conn:
            head = await self._head(conn)
            if await self._published_from_file(conn, version):
                return None
        actor = f"file:{self._file}"
        current = self.engine.version
        if version == current:  # the engine was loaded from this very file: already checked
            outcome = PublishOutcome(True, version, head.version if head is not None else current)
            outcome.applied = await self._publish(text, self.engine.policy.version_label, actor, actor, outcome,
                                                  file_version=version)
            return outcome
        report = self.engine.check(text)
        if not report.ok or report.policy is None:
            outcome = PublishOutcome(False, current, current, issues=list(report.issues))
            log.error("policy file rejected, keeping version %s: %s", current,
                      "; ".join(issue.render(str(self._file)) for issue in report.issues))
            await self._audit.record(actor, "policy.rejected", "policy", {"version": current}, outcome.audit_state())
            return outcome
        previous = head.version if head is not None else current
        changes = [c.render() for c in diff_policies(self.engine.policy, report.policy)]
        outcome = PublishOutcome(True, version, previous, changes=changes)
        outcome.applied = await self._publish(text, report.policy.version_label, actor, actor, outcome,
                                              file_version=version)
        return outcome

    @staticmethod
    async def _published_from_file(conn: AsyncConnection, version: str) -> bool:
        query = select(PolicyVersion.id).where(PolicyVersion.version == version, PolicyVersion.source.startswith("file:"))
        return (await conn.execute(query.limit(1))).first() is not None

    async def follow_once(self) -> bool:
        """Load the published version when it is not the one in force here; True when it changed."""
        async with self._database.connect() as conn:
            head = await self._head(conn)
            if head is None or head.version == self.engine.version:
                return False
            text = (await conn.execute(
                select(PolicyVersion.text).where(PolicyVersion.version == head.version)
                .order_by(PolicyVersion.id.desc()).limit(1)
            )).scalar_one()
        result = self.engine.reload_text(text, source=f"database:{head.version}")
        if result.loaded:
            log.info("policy followed: %s -> %s (published by %s)", result.previous_version, result.version,
                     head.published_by)
        else:
            log.error("published policy %s does not load here, keeping %s", head.version, result.version)
        return result.loaded

    async def follow(self, interval_s: float) -> None:
        """Follow the published version until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.follow_once()
            except Exception:
                log.warning("could not read the published policy; keeping version %s", self.engine.version, exc_info=True)

    async def watch_file(self, interval_s: float) -> None:
        """Publish edits of the policy file until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.publish_file_if_changed()
            except Exception:
                log.warning("could not publish the policy file %s", self._file, exc_info=True)

    async def replay(self, text: str, days: int = REPLAY_DAYS) -> ReplayReport:
        """Re-decide the last `days` of the ledger under a candidate policy."""
        since = datetime.now(UTC) - timedelta(days=days)
        rows = await load_rows(self._database_url, since)
        candidate = PolicyEngine.from_text(text, self.engine.catalogue, source="dry-run")
        return await asyncio.to_thread(replay, rows, candidate, since=since)

    async def history(self, limit: int = 100) -> list[PolicyVersionInfo]:
        """Published versions, most recent first."""
        t = PolicyVersion
        query = select(t.version, t.version_label, t.loaded_at, t.source, t.actor).order_by(t.id.desc()).limit(limit)
        async with self._database.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [PolicyVersionInfo(r.version, r.version_label, r.loaded_at, r.source, r.actor) for r in rows]

    async def version_text(self, version: str) -> str | None:
        query = select(PolicyVersion.text).where(PolicyVersion.version == version).limit(1)
        async with self._database.connect() as conn:
            return (await conn.execute(query)).scalar_one_or_none()

    @staticmethod
    async def _head(conn: AsyncConnection) -> _Head | None:
        t = PolicyHead
        row = (await conn.execute(
            select(t.version, t.seq, t.file_version, t.published_by).where(t.id == _HEAD)
        )).first()
        return None if row is None else _Head(row.version, row.seq, row.file_version, row.published_by)


@dataclass(frozen=True, slots=True)
class _Head:
    version: str
    seq: int
    file_version: str | None
    published_by: str
