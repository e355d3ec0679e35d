"""Soft thresholds: warnings for response headers, and one event per threshold per window.

An event is logged and, when a webhook is configured, POSTed as JSON in a background
task: the request that crossed the threshold never waits for the webhook.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from gateway.budgets.store import CALENDAR_MONTH, EUR, BudgetStatus, BudgetStore
from gateway.budgets.windows import counter_ttl_s, epoch_s

log = logging.getLogger("sobria.budgets")


@dataclass(frozen=True, slots=True)
class ThresholdCrossed:
    """A budget's spending reached one of its soft thresholds."""

    scope: str
    unit: str
    threshold: float
    spent_micro: int
    limit_micro: int
    window: str
    at: datetime

    def as_event(self) -> dict[str, object]:
        return {
            "event": "budget_threshold",
            "scope": self.scope,
            "unit": self.unit,
            "threshold": self.threshold,
            "used_fraction": round(self.spent_micro / self.limit_micro, 4) if self.limit_micro else 1.0,
            "spent_micro": self.spent_micro,
            "limit_micro": self.limit_micro,
            "window": self.window,
            "at": self.at.isoformat(),
        }


def warning_text(status: BudgetStatus, threshold: float) -> str:
    """The header form of a warning, e.g. 'employee eur 80%'."""
    kind = status.limit.scope.partition(":")[0]
    return f"{kind} {'EUR' if status.limit.unit == EUR else 'gCO2e'} {round(threshold * 100)}%"


class WebhookNotifier:
    """Posts threshold events to a URL, fire-and-forget; failures are logged only."""

    def __init__(self, url: str, timeout_s: float = 2.0, client: httpx.AsyncClient | None = None) -> None:
        self._url = url
        self._client = client or httpx.AsyncClient(timeout=timeout_s)
        self._tasks: set[asyncio.Task[None]] = set()

    def notify(self, event: dict[str, object]) -> None:
        task = asyncio.get_running_loop().create_task(self._post(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, event: dict[str, object]) -> None:
        try:
            response = await self._client.post(self._url, json=event)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("budget threshold webhook failed: %s", exc)

    async def drain(self) -> None:
        """Wait for the events in flight (tests, shutdown)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        await self.drain()
        await self._client.aclose()


class ThresholdWatch:
    """Turns budget statuses into header warnings and once-per-window events."""

    def __init__(self, store: BudgetStore, thresholds: list[float], notifier: WebhookNotifier | None = None) -> None:
        self._store = store
        self._thresholds = sorted(set(thresholds))
        self._notifier = notifier
        self._marked: dict[str, float] = {}

    def warnings(self, statuses: list[BudgetStatus]) -> list[str]:
        """One warning per budget at or above a threshold (the highest one reached)."""
        found = []
        for status in statuses:
            reached = self._reached(status)
            if reached:
                found.append(warning_text(status, reached[-1]))
        return found

    async def observe(self, statuses: list[BudgetStatus], now: datetime) -> list[ThresholdCrossed]:
        """Emit the events not yet emitted in this window; returns them.

        Marks already known to this process are not asked of the store again, so a
        budget that stays above a threshold costs no extra store call per request."""
        crossed = []
        now_s = epoch_s(now)
        for status in statuses:
            for threshold in self._reached(status):
                limit = status.limit
                calendar = limit.window == CALENDAR_MONTH
                window_id = datetime.fromtimestamp(now_s, UTC).strftime("%Y-%m") if calendar else "rolling"
                mark = f"threshold|{limit.counter_id}|{threshold}|{window_id}"
                if self._marked.get(mark, 0.0) > now_s:
                    continue
                ttl = counter_ttl_s(limit, now_s) if calendar else limit.window_seconds
                self._remember(mark, now_s + ttl, now_s)
                if not await self._store.mark_once(mark, ttl, now):
                    continue
                event = ThresholdCrossed(
                    limit.scope, limit.unit, threshold, status.spent_micro, limit.limit_micro, limit.window, now
                )
                crossed.append(event)
                log.warning("budget threshold reached", extra={"budget_event": event.as_event()})
                if self._notifier is not None:
                    self._notifier.notify(event.as_event())
        return crossed

    def _remember(self, mark: str, until: float, now_s: float) -> None:
        if len(self._marked) > 10_000:
            self._marked = {m: t for m, t in self._marked.items() if t > now_s}
        self._marked[mark] = until

    def _reached(self, status: BudgetStatus) -> list[float]:
        limit = status.limit.limit_micro
        if limit <= 0:
            return list(self._thresholds) if status.spent_micro > 0 else []
        return [t for t in self._thresholds if status.spent_micro >= t * limit]
