"""The inventory as the gateway holds it: register, status gate, usage aggregates, audit."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.ledger.audit import AuditLog
from gateway.inventory.gate import StatusGate
from gateway.inventory.register import Register
from gateway.inventory.usage import UsageAggregator
from gateway.inventory.views import CommitteeViews


class Inventory:
    """One object per process; `check` is the request path's status gate."""

    def __init__(self, engine: AsyncEngine, audit: AuditLog, k_anonymity: int, refresh_s: float = 1.0):
        self.audit = audit
        self.register = Register(engine, audit)
        self.gate = StatusGate(self.register, refresh_s)
        self.usage = UsageAggregator(engine, k_anonymity)
        self.views = CommitteeViews(engine, self.usage)

    async def start(self, policy_use_cases: Iterable[Any]) -> list[str]:
        """Seed the register from the policy (first start, or new policy use cases), then watch statuses."""
        seeded = await self.register.seed_from_policy(policy_use_cases)
        await self.gate.start()
        return seeded

    async def stop(self) -> None:
        await self.gate.stop()

    def check(self, use_case: str) -> None:
        """Raise `Refused` when the register does not let `use_case` serve."""
        self.gate.check(use_case)

    async def changed(self) -> None:
        """A change was made through this replica: apply it here at once."""
        await self.gate.refresh()
