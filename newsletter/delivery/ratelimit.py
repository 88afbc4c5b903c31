"""Rate limits: a token bucket shared by a process's sending threads, and one shared by
every Celery worker through Redis."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol


class TokenBucket:
    """Global rate limit. ``acquire(n)`` blocks until ``n`` messages may go.

    A request larger than the bucket borrows against the future (the balance goes
    negative and the caller sleeps it off), so a 1000-recipient batch works with a
    rate of 100/s: it waits ten seconds, and the long-run rate is still exact.
    A rate of 0 means unlimited.
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = float(rate)
        self.capacity = max(self.rate, 1.0)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self, n: int = 1) -> float:
        """Take ``n`` tokens, sleeping as needed; returns the seconds waited."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= n
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait


class RateLimiter(Protocol):
    """What the sending code needs of a rate limit: block until ``n`` messages may go."""

    def acquire(self, n: int = 1) -> float:
        """Take ``n`` messages' worth, sleeping as needed; returns the seconds waited."""
        ...


# GCRA on the Redis server's clock: one key holds the "theoretical arrival time" (µs).
# A request always reserves its slots (it borrows ahead, like TokenBucket) and is told
# how long to wait before it may go.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = 1000000 / tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + n * interval
local wait = new_tat - burst * interval - now
if wait < 0 then wait = 0 end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX',
           math.floor((new_tat - now) / 1000) + 1000)
return math.floor(wait)
"""


class RedisRateLimit:
    """A rate limit shared by every process that uses the same Redis key (Celery workers).

    The same semantics as :class:`TokenBucket` (a burst of ``rate`` messages, then ``rate``
    per second, large requests borrow ahead), kept on the Redis server so that N workers on
    N machines together stay under ``rate``. The key expires once the limit is idle.
    """

    def __init__(
        self,
        client: Any,
        key: str,
        rate: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.key = key
        self.rate = float(rate)
        self.burst = max(self.rate, 1.0)
        self._sleep = sleep
        self._script = client.register_script(_GCRA)

    def acquire(self, n: int = 1) -> float:
        """Reserve ``n`` messages on the shared limit, sleeping as needed."""
        if self.rate <= 0:
            return 0.0
        wait = int(self._script(keys=[self.key], args=[self.rate, self.burst, n])) / 1e6
        if wait > 0:
            self._sleep(wait)
        return wait
