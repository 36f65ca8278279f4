"""Rate limits: token buckets per client IP (browser traffic) and per write key, answered with 429.

A bucket holds up to `burst` tokens and gains `rate` a second; a request takes one. Buckets are kept for
at most `max_keys` clients, the least recently seen forgotten first (a forgotten bucket comes back full),
so a flood of new addresses costs bounded memory.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from collector.config import Settings
from collector.enrich.network import IPAddress
from collector.types import SourceKind

MAX_KEYS = 100_000
MESSAGES_PER_TOKEN = 20  # a request costs a token, and one more for every 20 messages in it


def _client(ip: IPAddress) -> object:
    """What a bucket is kept for: an IPv4 address, or an IPv6 address's /64 (what one host is given)."""
    if ip.version == 6:
        return ipaddress.ip_network(f"{ip}/64", strict=False)
    return ip


class TokenBuckets:
    def __init__(
        self, rate: float, burst: float, *, max_keys: int = MAX_KEYS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[object, tuple[float, float]] = OrderedDict()  # key -> (tokens, when)

    def take(self, key: object, count: float = 1.0) -> float:
        """Take `count` tokens for `key`: 0.0 if there were enough, else the seconds until there will be
        (a count over the burst is taken as the whole burst: such a request waits for a full bucket)."""
        now = self.clock()
        count = min(count, self.burst)
        tokens, then = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens >= count:
            tokens -= count
            wait = 0.0
        else:
            wait = (count - tokens) / self.rate
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

    def check_address(self, kind: str | None, ip: IPAddress | None) -> Refusal | None:
        """Before the body is read: a token for the request from its client address (not for a request
        whose headers carry a server key), so that requests that fail later count too."""
        if self.per_ip is None or kind == "server" or ip is None:
            return None
        wait = self.per_ip.take(_client(ip))
        return _refusal(wait, "from this client address", "rate_limit_per_ip", self.per_ip) if wait else None

    def check(self, kind: SourceKind, write_key: str, ip: IPAddress | None, *, messages: int = 0) -> Refusal | None:
        """Once the body is read: one more token for every MESSAGES_PER_TOKEN messages in it, from the client
        address (browser keys) and from the write key (server keys, when a limit is set). None if the
        request may go on; else why not and when to retry."""
        extra = messages // MESSAGES_PER_TOKEN
        if self.per_ip is not None and kind == "browser" and ip is not None and extra:
            wait = self.per_ip.take(_client(ip), extra)
            if wait:
                return _refusal(wait, "from this client address", "rate_limit_per_ip", self.per_ip)
        if self.per_key is not None and kind == "server":  # a browser key is public: limiting it lets anyone
            wait = self.per_key.take(write_key, 1 + extra)  # block every visitor of the site
            if wait:
                return _refusal(wait, "with this write key", "rate_limit_per_key", self.per_key)
        return None


def _refusal(wait: float, whose: str, setting: str, buckets: TokenBuckets) -> Refusal:
    return Refusal(
        max(1, math.ceil(wait)),
        f"too many requests {whose}: the limit is {buckets.rate:g} a second ({setting}), bursts of {buckets.burst:g}",
    )
