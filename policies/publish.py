"""Publishing a candidate policy: validate, diff, then dry-run or load it, always audited.

The admin API and the admin pages both go through `PolicyPublisher`, so a policy
reaches the gateway by one path: a bad policy is never loaded (the old one stays),
every attempt is written to the audit log, and every loaded version to the history.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from policies.check import Issue
from policies.diff import diff_policies
from policies.engine import PolicyEngine, content_version
from policies.history import record_version
from policies.replay import load_rows, replay

REPLAY_DAYS = 30


@dataclass(slots=True)
class PublishOutcome:
    """What happened to a candidate policy."""

    valid: bool
    version: str
    previous_version: str
    applied: bool = False
    issues: list[Issue] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    replay: Any = None

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
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


class PolicyPublisher:
    """Validates and publishes policies for the engine in force."""

    def __init__(self, engine: PolicyEngine, database: AsyncEngine, database_url: str, audit: Any):
        self.engine = engine
        self._database = database
        self._database_url = database_url
        self._audit = audit

    async def submit(self, text: str, actor: str, source: str, publish: bool, with_replay: bool = False) -> PublishOutcome:
        """Check `text`; publish it when asked and valid, else report; audit either way."""
        engine = self.engine
        current = engine.version
        report = engine.check(text)
        if not report.ok or report.policy is None:
            outcome = PublishOutcome(False, current, current, issues=list(report.issues))
            await self._record(actor, "policy.rejected", current, outcome)
            return outcome
        changes = [c.render() for c in diff_policies(engine.policy, report.policy)]
        outcome = PublishOutcome(True, content_version(text), current, changes=changes)
        if publish:
            result = engine.reload_text(text, source=source)
            outcome.applied, outcome.version = result.loaded, result.version
            await record_version(self._database, engine, actor)
            await self._record(actor, "policy.update", current, outcome)
            return outcome
        if with_replay:
            outcome.replay = await self.replay(text)
        await self._record(actor, "policy.dry_run", current, outcome)
        return outcome

    async def replay(self, text: str, days: int = REPLAY_DAYS) -> Any:
        """Re-decide the last `days` of the ledger under a candidate policy."""
        since = datetime.now(UTC) - timedelta(days=days)
        rows = await load_rows(self._database_url, since)
        candidate = PolicyEngine.from_text(text, self.engine.catalogue, source="dry-run")
        return await asyncio.to_thread(replay, rows, candidate, since=since)

    async def _record(self, actor: str, action: str, before_version: str, outcome: PublishOutcome) -> None:
        after = {k: v for k, v in outcome.as_dict().items() if k not in {"valid", "replay"}}
        await self._audit.record(actor, action, "policy", {"version": before_version}, after)
