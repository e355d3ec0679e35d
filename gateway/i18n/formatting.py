"""Numbers, money, quantities and dates in the reader's language (en or fr).

A tiny formatter rather than Babel: two locales, a handful of patterns, no extra
dependency. French groups digits with a narrow no-break space and puts the euro sign
after the amount (1 234,56 €); English uses commas and a leading sign (€1,234.56).
"""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from gateway.units import MICRO
_GROUP = {"en": ",", "fr": "\u202f"}
_DECIMAL = {"en": ".", "fr": ","}
_MONTHS = {
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
    "fr": ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."),
}


def number(value: float | Decimal, lang: str, digits: int = 0) -> str:
    """`value` rounded to `digits` decimals with the language's separators."""
    quantum = Decimal(1).scaleb(-digits)
    rounded = Decimal(str(value)).quantize(quantum, rounding=ROUND_HALF_UP)
    sign = "-" if rounded < 0 else ""
    whole, _, fraction = f"{abs(rounded):f}".partition(".")
    groups: list[str] = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    text = _GROUP.get(lang, ",").join(groups)
    if fraction:
        text += _DECIMAL.get(lang, ".") + fraction
    return sign + text


def significant_digits(value: float | Decimal, significant: int = 3) -> int:
    """Decimals needed to show `significant` digits of a small value (0 for values >= 100)."""
    magnitude = abs(Decimal(str(value)))
    if magnitude == 0 or magnitude >= 100:
        return 0
    return max(0, significant - 1 - magnitude.adjusted())


def quantity(value: float | Decimal, lang: str, significant: int = 3) -> str:
    """A measured quantity shown with about three significant digits."""
    return number(value, lang, min(6, significant_digits(value, significant)))


def plain(value: float | Decimal, lang: str) -> str:
    """A number with the decimals it needs (at most 6), no trailing zeros: '0.25', '1', '2,500' (or '0,25', '2 500')."""
    exact = Decimal(str(value)).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP).normalize()
    return number(exact, lang, max(0, -int(exact.as_tuple().exponent)))


_DAYS = {"en": ("day", "days"), "fr": ("jour", "jours")}


def duration(seconds: int, lang: str) -> str:
    """A wait in the largest unit that reads well: '45 s', '12 min', '5 h', '30 days' ('30 jours')."""
    if seconds < 120:
        amount, unit = seconds, "s"
    elif seconds < 2 * 3600:
        amount, unit = math.ceil(seconds / 60), "min"
    elif seconds < 48 * 3600:
        amount, unit = math.ceil(seconds / 3600), "h"
    else:
        amount = math.ceil(seconds / 86_400)
        unit = _DAYS.get(lang, _DAYS["en"])[amount != 1]
    return f"{number(amount, lang)}\u00a0{unit}"


def eur(micro_eur: int, lang: str, digits: int = 2) -> str:
    """Micro-euros as money: '€1,234.56' or '1 234,56 €'."""
    amount = number(Decimal(micro_eur) / MICRO, lang, digits)
    return f"{amount}\u00a0€" if lang == "fr" else f"€{amount}"


def grams(micro_g: int) -> Decimal:
    return Decimal(micro_g) / MICRO


def day(value: date, lang: str) -> str:
    """A day: '2 Mar 2025' or '2 mars 2025'."""
    return f"{value.day} {_MONTHS.get(lang, _MONTHS['en'])[value.month - 1]} {value.year}"


def month(value: str, lang: str) -> str:
    """A 'YYYY-MM' month for readers: 'Jul 2026' or 'juil. 2026'."""
    year, _, number = value.partition("-")
    return f"{_MONTHS.get(lang, _MONTHS['en'])[int(number) - 1]} {year}"


def short_day(value: date, lang: str) -> str:
    """A day for chart axes: '2 Mar' or '2 mars'."""
    return f"{value.day} {_MONTHS.get(lang, _MONTHS['en'])[value.month - 1]}"


def moment(value: datetime, lang: str, zone: str = "Europe/Paris") -> str:
    """A date and time in the organisation's time zone: '2 Mar 2025, 14:05' or '2 mars 2025 à 14:05'."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo("UTC"))
    local = value.astimezone(ZoneInfo(zone))
    joiner = " à " if lang == "fr" else ", "
    return f"{day(local.date(), lang)}{joiner}{local:%H:%M}"
