"""Money and carbon units: integer micro-units in storage, decimals for people.

Euros are kept as micro-euros and grams CO2e as micrograms (`*_micro_eur`, `*_ug`
columns), so sums are exact; this module is the one place that knows the factor.
"""

from __future__ import annotations

from decimal import Decimal

MICRO = Decimal(1_000_000)
MICRO_PER_UNIT = 1_000_000
MAX_STORED_MICRO = 2**63 - 1  # a signed 64-bit column (BIGINT on PostgreSQL, INTEGER on SQLite)


def to_micro(amount: Decimal) -> int:
    """An amount in euros (or grams) as micro-units; exact only for at most 6 decimals."""
    return int(amount * MICRO)


def from_micro(micro: int) -> Decimal:
    """Micro-units back to euros (or grams), exactly."""
    return Decimal(micro) / MICRO


def has_sub_micro_part(amount: Decimal) -> bool:
    """True when `amount` has more than 6 decimals (converting it would drop a part)."""
    return amount * MICRO != (amount * MICRO).to_integral_value()
