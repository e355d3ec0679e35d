"""Employee pseudonyms: the keyed hash that stands for an employee in the ledger, budgets and audit log."""

from __future__ import annotations

import hashlib
import hmac


class Pseudonyms:
    """Turns an employee id into its pseudonym (stable, not reversible without the key)."""

    def __init__(self, key: bytes):
        if not key:
            raise ValueError("pseudonyms need a key")
        self._key = key

    def of(self, employee_id: str) -> str:
        return hmac.new(self._key, employee_id.encode(), hashlib.sha256).hexdigest()[:32]
