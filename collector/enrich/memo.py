"""Caches keyed by what clients send, bounded in bytes as well as entries.

Pages, referrers, User-Agents and addresses repeat, so enrichment caches what it derives from them. A
cache keyed by client text must not let one client grow memory by sending long unique keys: `memo` keeps
an answer only when every text argument is at most `MAX_KEY` characters (longer ones are worked out each
time, uncached). So a cache of N entries holds at most about N x (the keys' MAX_KEY characters + its
answer), whatever arrives.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, wraps
from typing import Any, TypeVar

MAX_KEY = 512  # characters of a text argument that may be remembered
F = TypeVar("F", bound=Callable[..., Any])


def memo(maxsize: int) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        cached = lru_cache(maxsize=maxsize)(func)

        @wraps(func)
        def call(*args: Any) -> Any:
            for arg in args:
                if arg.__class__ is str and len(arg) > MAX_KEY:
                    return func(*args)
            return cached(*args)

        call.cache_info = cached.cache_info  # type: ignore[attr-defined]
        call.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
        return call  # type: ignore[return-value]

    return decorate
