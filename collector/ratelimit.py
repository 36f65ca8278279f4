"""Rate limits: token buckets per client IP (browser traffic) and per write key, answered with 429.

A bucket holds up to `burst` tokens and gains `rate` a second; a request takes one. Buckets are kept for
at most `max_keys` clients, the least recently seen forgotten first (a forgotten bucket comes back full),
so a flood of new addresses costs bounded memory.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from collector.config import Settings
from collector.enrich.network import IPAddress
from collector.types import SourceKind

MAX_KEYS = 100_000


class TokenBuckets:
    def __init__(
        self, rate: float, burst: float, *, max_keys: int = MAX_KEYS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[object, tuple[float, float]] = OrderedDict()  # key -> (tokens, when)

    def take(self, key: object) -> float:
        """Take a token for `key`: 0.0 if there was one, else the seconds until there will be."""
        now = self.clock()
        tokens, then = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens >= 1.0:
            tokens -= 1.0
            wait = 0.0
        else:
            wait = (1.0 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait


@dataclass
class Refusal:
    retry_after: int  # whole seconds, at least 1
    message: str


class RateLimits:
    """The collector's limits, from its settings (0 turns a limit off)."""

    def __init__(self, settings: Settings) -> None:
        s = settings
        self.per_ip = TokenBuckets(s.rate_limit_per_ip, s.rate_limit_per_ip_burst) if s.rate_limit_per_ip else None
        self.per_key = TokenBuckets(s.rate_limit_per_key, s.rate_limit_per_key_burst) if s.rate_limit_per_key else None

    def check(self, kind: SourceKind, write_key: str, ip: IPAddress | None) -> Refusal | None:
        """None if the request may go on; else why not and when to retry."""
        if self.per_ip is not None and kind == "browser" and ip is not None:
            wait = self.per_ip.take(ip)
            if wait:
                return _refusal(wait, "from this client address", "rate_limit_per_ip", self.per_ip)
        if self.per_key is not None:
            wait = self.per_key.take(write_key)
            if wait:
                return _refusal(wait, "with this write key", "rate_limit_per_key", self.per_key)
        return None


def _refusal(wait: float, whose: str, setting: str, buckets: TokenBuckets) -> Refusal:
    return Refusal(
        max(1, math.ceil(wait)),
        f"too many requests {whose}: the limit is {buckets.rate:g} a second ({setting}), bursts of {buckets.burst:g}",
    )
