"""The gateway's status gate: refuse requests for use cases the register does not allow.

The request path calls `check` synchronously; it reads an in-memory snapshot that a
background task refreshes from the database every `interval_s`, so a suspension made
on any replica reaches every replica within about that delay, and no request ever
waits on the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from contracts.errors import Refused
from gateway.inventory.lifecycle import serves
from gateway.inventory.register import Register

log = logging.getLogger("sobria.inventory")

_CODES = {
    "suspended": "use_case_suspended",
    "rejected": "use_case_rejected",
    "retired": "use_case_retired",
}


class StatusGate:
    """Allows a use case only when the register holds it as approved (with or without conditions)."""

    def __init__(self, register: Register, interval_s: float = 1.0):
        self._register = register
        self._interval_s = interval_s
        self._statuses: dict[str, tuple[str, str, bool]] | None = None
        self._task: asyncio.Task[None] | None = None

    def check(self, use_case: str) -> None:
        """Raise `Refused`, with the committee's reason, when `use_case` may not serve."""
        statuses = self._statuses
        if statuses is None:
            return
        found = statuses.get(use_case)
        if found is None:
            raise Refused("use_case_unregistered", use_case=use_case)
        status, decision, provisional = found
        if serves(status, provisional):
            return
        raise Refused(_CODES.get(status, "use_case_not_approved"), use_case=use_case, state=status, reason=decision or "-")

    async def refresh(self) -> None:
        """Read the statuses now (also called right after a local change)."""
        self._statuses = await self._register.statuses()

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.create_task(self._loop(), name="inventory-status-refresh")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.refresh()
            except Exception:
                log.warning("could not refresh use case statuses; keeping the last ones", exc_info=True)
