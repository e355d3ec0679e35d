"""Per-caller rate limits: requests and tokens per minute, refused with 429 `rate_limited`.

Windows are fixed calendar minutes, counted per caller (the key, or the key and the
forwarded user for a chat front end, so one busy user does not throttle the others).
Tokens counted are the prompt estimate plus the output tokens the request may write,
known at admission. With several replicas the counters live in Redis (one Lua call
checks and counts atomically); when Redis is unreachable the limiter lets requests
through, since budgets, not rate limits, are what protects money and carbon.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Protocol

from contracts.errors import OverLimit

log = logging.getLogger("sobria.ratelimit")

WINDOW_S = 60


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-minute limits; None means unlimited."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None

    @property
    def active(self) -> bool:
        return self.requests_per_minute is not None or self.tokens_per_minute is not None


class RateLimiter(Protocol):
    async def admit(self, caller: str, tokens: int) -> None:
        """Count one request of `tokens`, or raise 429 `rate_limited` with Retry-After."""


def refusal(now: float) -> OverLimit:
    retry_after = max(1, math.ceil(WINDOW_S - now % WINDOW_S))
    return OverLimit("rate_limited", retry_after, retry_after=retry_after)


class InProcessRateLimiter:
    """Counters in this process's memory (one gateway process)."""

    def __init__(self, limits: Limits, clock=time.time):  # noqa: ANN001
        self._limits = limits
        self._clock = clock
        self._window = -1
        self._counts: dict[str, tuple[int, int]] = {}

    async def admit(self, caller: str, tokens: int) -> None:
        now = self._clock()
        window = int(now // WINDOW_S)
        if window != self._window:
            self._window, self._counts = window, {}
        requests, used = self._counts.get(caller, (0, 0))
        rpm, tpm = self._limits.requests_per_minute, self._limits.tokens_per_minute
        if (rpm is not None and requests + 1 > rpm) or (tpm is not None and used + tokens > tpm):
            raise refusal(now)
        self._counts[caller] = (requests + 1, used + tokens)


_ADMIT = """
local requests = tonumber(redis.call('GET', KEYS[1]) or '0')
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
local rpm, tpm, tokens = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if (rpm > 0 and requests + 1 > rpm) or (tpm > 0 and used + tokens > tpm) then return 0 end
redis.call('INCR', KEYS[1]); redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('INCRBY', KEYS[2], tokens); redis.call('EXPIRE', KEYS[2], ARGV[4])
return 1
"""


class RedisRateLimiter:
    """Counters in Redis, shared by every replica; fails open when Redis is unreachable."""

    def __init__(self, client, limits: Limits, prefix: str = "sobria:rl:", clock=time.time):  # noqa: ANN001
        self._client = client
        self._limits = limits
        self._prefix = prefix
        self._clock = clock
        self._script = client.register_script(_ADMIT)

    async def admit(self, caller: str, tokens: int) -> None:
        now = self._clock()
        window = int(now // WINDOW_S)
        base = f"{self._prefix}{caller}:{window}"
        args = [self._limits.requests_per_minute or 0, self._limits.tokens_per_minute or 0, tokens, WINDOW_S * 2]
        try:
            granted = await self._script(keys=[f"{base}:r", f"{base}:t"], args=args)
        except Exception as exc:  # noqa: BLE001 - any Redis failure: fail open, budgets still hold
            log.warning("rate limiter: Redis unavailable (%s); request admitted", type(exc).__name__)
            return
        if not granted:
            raise refusal(now)


def build_rate_limiter(limits: Limits, redis_url: str | None) -> RateLimiter | None:
    """The limiter for these settings; None when no limit is configured."""
    if not limits.active:
        return None
    if redis_url:
        import redis.asyncio as aioredis

        return RedisRateLimiter(aioredis.from_url(redis_url, socket_timeout=1.0, socket_connect_timeout=1.0), limits)
    return InProcessRateLimiter(limits)
