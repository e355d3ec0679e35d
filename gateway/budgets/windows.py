"""Window arithmetic shared by every store: buckets, window bounds, expiry, Retry-After.

Time is cut into buckets of `bucket_seconds` numbered from the Unix epoch. A rolling
window holds the last `ceil(window_seconds / bucket_seconds)` buckets, the current one
included, so spending leaves it one bucket at a time. A calendar-month window holds
every bucket from the one containing the first instant of the current UTC month.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime

from gateway.budgets.store import CALENDAR_MONTH, BudgetLimit


def epoch_s(now: datetime) -> float:
    """Seconds since the epoch; naive datetimes are taken as UTC."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.timestamp()


def bucket_index(limit: BudgetLimit, now_s: float) -> int:
    return int(now_s // limit.bucket_seconds)


def buckets_in_window(limit: BudgetLimit) -> int:
    return max(1, math.ceil(limit.window_seconds / limit.bucket_seconds))


def _month_bounds(now_s: float) -> tuple[float, float]:
    utc = datetime.fromtimestamp(now_s, UTC)
    start = datetime(utc.year, utc.month, 1, tzinfo=UTC)
    following = datetime(utc.year + utc.month // 12, utc.month % 12 + 1, 1, tzinfo=UTC)
    return start.timestamp(), following.timestamp()


def lower_bucket(limit: BudgetLimit, now_s: float) -> int:
    """Index of the oldest bucket still counted in the window at `now_s`."""
    if limit.window == CALENDAR_MONTH:
        return int(_month_bounds(now_s)[0] // limit.bucket_seconds)
    return int(now_s // limit.bucket_seconds) - buckets_in_window(limit) + 1


def window_start(limit: BudgetLimit, now_s: float) -> int:
    """Epoch seconds of the start of the oldest counted bucket."""
    return lower_bucket(limit, now_s) * limit.bucket_seconds


def counter_ttl_s(limit: BudgetLimit, now_s: float) -> int:
    """How long a counter written at `now_s` can matter: past that, all of it has rolled out."""
    if limit.window == CALENDAR_MONTH:
        return max(1, math.ceil(_month_bounds(now_s)[1] - now_s) + limit.bucket_seconds)
    return limit.window_seconds + limit.bucket_seconds


def _leaves_window_at(limit: BudgetLimit, bucket: int, now_s: float) -> float:
    if limit.window == CALENDAR_MONTH:
        return _month_bounds(now_s)[1]
    return (bucket + buckets_in_window(limit)) * limit.bucket_seconds


def retry_after_s(
    limit: BudgetLimit, buckets: Iterable[tuple[int, int]], reserved: int, amount: int, now_s: float
) -> int | None:
    """Seconds until enough spending rolls out of the window for `amount` to fit.

    None when the amount exceeds the limit itself, so waiting can never help. When
    in-flight reservations would still block once all spending has rolled out, the time
    until then, and at least one second (reservations settle within a request)."""
    if amount > limit.limit_micro:
        return None
    ordered = sorted((b, v) for b, v in buckets if v)
    spent = sum(v for _, v in ordered)
    for bucket, value in ordered:
        if spent + reserved + amount <= limit.limit_micro:
            break
        spent -= value
        if spent + reserved + amount <= limit.limit_micro:
            return max(1, math.ceil(_leaves_window_at(limit, bucket, now_s) - now_s))
    if ordered and spent + reserved + amount > limit.limit_micro:
        return max(1, math.ceil(_leaves_window_at(limit, ordered[-1][0], now_s) - now_s))
    return 1
