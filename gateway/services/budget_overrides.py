"""Budget overrides: validate a scope and a rule, store them, audit them, apply them on every replica.

An employee scope is named by employee id at every door (API, pages, CLI) and stored
by pseudonym, so the override applies to the employee's requests and the audit log
never keeps the id in clear. Each replica re-reads the overrides every few seconds
(`follow`), so a change made through one reaches the others.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from pydantic import ValidationError

from gateway.ledger.audit import AuditLog
from gateway.budgets.config import BudgetRule
from gateway.budgets.overrides import BudgetOverrides, OverrideChange
from gateway.budgets.service import BudgetService
from gateway.budgets.store import BudgetStatus
from contracts.errors import InvalidInput, NotFound
from gateway.services.pseudonyms import Pseudonyms
from gateway.units import MAX_STORED_MICRO, has_sub_micro_part

log = logging.getLogger("sobria.budgets")

SCOPE_KINDS = ("org", "employee", "department", "use_case")
_SCOPE = re.compile(r"^(org|(employee|department|use_case):[A-Za-z0-9@._-]{1,128})$")
MAX_WINDOW_DAYS = 3660
MAX_BUCKET_MINUTES = 60 * 24 * 31


@dataclass(frozen=True, slots=True)
class OverrideStatus:
    """One override with the current consumption of each of its limits."""

    scope: str
    rule: BudgetRule
    statuses: list[BudgetStatus]


def parse_amount(text: str | Decimal | float | int | None, param: str) -> Decimal | None:
    """A limit typed by a person or sent in JSON: empty is no limit; anything else a finite, storable, >= 0 amount."""
    if text is None:
        return None
    if isinstance(text, str):
        text = text.strip().replace(",", ".").replace("\u202f", "").replace(" ", "")
        if not text:
            return None
    try:
        value = Decimal(str(text)) if not isinstance(text, Decimal) else text
    except (InvalidOperation, ValueError) as exc:
        raise InvalidInput("invalid_amount", "error.budget_amount", param=param) from exc
    if not value.is_finite() or value < 0:
        raise InvalidInput("invalid_amount", "error.budget_amount", param=param)
    if value * 1_000_000 > MAX_STORED_MICRO:
        raise InvalidInput("invalid_amount", "error.budget_amount_too_large", param=param)
    if has_sub_micro_part(value):
        raise InvalidInput("invalid_amount", "error.budget_amount_precision", param=param)
    return value


def make_rule(
    eur: str | Decimal | float | int | None,
    gco2e_g: str | Decimal | float | int | None,
    window: str = "rolling",
    window_days: int | str = 30,
    bucket_minutes: int | str = 60,
) -> BudgetRule:
    """A budget rule from raw fields, every one validated over its full range."""
    days = _bounded_int(window_days, "window_days", 1, MAX_WINDOW_DAYS)
    minutes = _bounded_int(bucket_minutes, "bucket_minutes", 1, MAX_BUCKET_MINUTES)
    if window not in ("rolling", "calendar_month"):
        raise InvalidInput("invalid_request", "error.budget_window", param="window")
    try:
        return BudgetRule(eur=parse_amount(eur, "eur"), gco2e_g=parse_amount(gco2e_g, "gco2e_g"), window=window,
                          window_days=days, bucket_minutes=minutes)
    except ValidationError as exc:
        raise InvalidInput("invalid_request", "error.budget_rule", param="rule") from exc


def _bounded_int(value: int | str, param: str, low: int, high: int) -> int:
    try:
        number = int(str(value).strip())
    except ValueError as exc:
        raise InvalidInput("invalid_request", "error.out_of_range", param=param, low=low, high=high) from exc
    if not low <= number <= high:
        raise InvalidInput("invalid_request", "error.out_of_range", param=param, low=low, high=high)
    return number


class BudgetOverrideService:
    """Set, remove and list per-scope budget overrides."""

    def __init__(self, repository: BudgetOverrides, budgets: BudgetService, audit: AuditLog, pseudonyms: Pseudonyms):
        self._repository = repository
        self._budgets = budgets
        self._audit = audit
        self._pseudonyms = pseudonyms

    def scope(self, text: str) -> str:
        """The stored form of a scope typed as org, employee:<id>, department:<code> or use_case:<id>."""
        text = text.strip()
        if not _SCOPE.match(text):
            raise InvalidInput("invalid_request", "error.budget_scope", param="scope")
        kind, _, name = text.partition(":")
        return f"employee:{self._pseudonyms.of(name)}" if kind == "employee" else text

    @staticmethod
    def check_rule(rule: BudgetRule) -> BudgetRule:
        """Re-validate a rule parsed elsewhere (JSON) over the full range of what can be stored."""
        return make_rule(rule.eur, rule.gco2e_g, rule.window, rule.window_days, rule.bucket_minutes)

    async def set(self, actor: str, scope: str, rule: BudgetRule) -> OverrideChange:
        """Replace the budget of one scope; audited as `budget.set` on the stored scope."""
        stored = self.scope(scope)
        rule = self.check_rule(rule)
        change = await self._repository.put(stored, rule, actor, datetime.now(UTC))
        await self._audit.record(actor, "budget.set", stored, change.before, change.after)
        await self.refresh()
        return change

    async def remove(self, actor: str, scope: str, *, stored_form: bool = False) -> OverrideChange:
        """Back to the configured default; audited as `budget.remove`. NotFound when there was no override.

        `stored_form`: `scope` is already as stored (a page removing a listed employee:<pseudonym> row)."""
        stored = self.scope(scope) if not stored_form else scope.strip()
        if stored_form and not _SCOPE.match(stored):
            raise InvalidInput("invalid_request", "error.budget_scope", param="scope")
        change = await self._repository.remove(stored)
        if change.before is None:
            raise NotFound("not_found", "error.budget_override_not_found", param="scope")
        await self._audit.record(actor, "budget.remove", stored, change.before, None)
        await self.refresh()
        return change

    async def overrides(self) -> dict[str, BudgetRule]:
        return await self._repository.load()

    async def list(self) -> list[OverrideStatus]:
        """Every override with its current consumption."""
        now = datetime.now(UTC)
        listed = []
        for scope, rule in sorted((await self._repository.load()).items()):
            listed.append(OverrideStatus(scope, rule, await self._budgets.store.status(rule.limits(scope), now)))
        return listed

    async def refresh(self) -> None:
        """Apply the stored overrides to this replica's budget service."""
        self._budgets.set_overrides(await self._repository.load())

    async def follow(self, interval_s: float = 5.0) -> None:
        """Pick up overrides set through another replica, until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.refresh()
            except Exception:
                log.warning("could not reload budget overrides; keeping the current ones", exc_info=True)
