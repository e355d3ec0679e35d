"""Employee pseudonyms: the keyed hash that stands for an employee in the ledger, budgets and audit log."""

from __future__ import annotations

import hashlib
import hmac

from contracts.errors import InvalidInput
from gateway.ledger.audit import AuditLog


class Pseudonyms:
    """Turns an employee id into its pseudonym (stable, not reversible without the key)."""

    def __init__(self, key: bytes):
        if not key:
            raise ValueError("pseudonyms need a key")
        self._key = key

    def of(self, employee_id: str) -> str:
        return hmac.new(self._key, employee_id.encode(), hashlib.sha256).hexdigest()[:32]


class PseudonymLinks:
    """Telling an admin which pseudonym stands for an employee: always with a reason, always audited."""

    def __init__(self, pseudonyms: Pseudonyms, audit: AuditLog):
        self._pseudonyms = pseudonyms
        self._audit = audit

    async def link(self, actor: str, employee_id: str, reason: str) -> str:
        """The employee's pseudonym; audited as `pseudonym.link` on `employee:<pseudonym>` with the reason."""
        employee_id, reason = employee_id.strip(), reason.strip()
        if not employee_id or len(employee_id) > 128:
            raise InvalidInput("invalid_request", "error.pseudonym_employee", param="employee_id", longest=128)
        if not 3 <= len(reason) <= 500:
            raise InvalidInput("invalid_request", "error.pseudonym_reason", param="reason", shortest=3, longest=500)
        pseudonym = self._pseudonyms.of(employee_id)
        await self._audit.record(actor, "pseudonym.link", f"employee:{pseudonym}", None, {"reason": reason})
        return pseudonym
