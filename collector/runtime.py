"""What the running collector holds: settings and the resources opened in the lifespan."""

from __future__ import annotations

import hmac
from collections import Counter
from dataclasses import dataclass, field

from collector.config import Settings
from collector.enrich import Enricher
from collector.graph import Graph
from collector.identify import CookieJar
from collector.paging import Cursors
from collector.ratelimit import RateLimits
from collector.store import Store
from collector.store.group_commit import GroupCommitter
from collector.types import SourceKind


@dataclass
class Runtime:
    settings: Settings
    store: Store
    committer: GroupCommitter
    cookies: CookieJar
    enricher: Enricher
    graph: Graph
    cursors: Cursors
    limits: RateLimits
    tracker: tuple[bytes, str] | None = None  # the built tracker and its ETag
    counters: Counter[str] = field(default_factory=Counter)

    def source_kind(self, write_key: str | None) -> SourceKind | None:
        """Which kind of source a write key belongs to, or None for an unknown key."""
        if not write_key:
            return None
        given = write_key.encode()
        if hmac.compare_digest(given, self.settings.write_key.encode()):
            return "browser"
        if hmac.compare_digest(given, self.settings.server_key.encode()):
            return "server"
        return None
