"""What the running collector holds: settings and the resources opened in the lifespan."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from collector.config import Settings
from collector.enrich import Enricher
from collector.graph import Graph
from collector.identify import CookieJar
from collector.metrics import Metrics
from collector.notify import Notifier
from collector.paging import Cursors
from collector.ratelimit import RateLimits
from collector.sources import Sources
from collector.store import Store
from collector.store.group_commit import GroupCommitter


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
    sources: Sources
    metrics: Metrics
    notifier: Notifier
    tracker: tuple[bytes, str] | None = None  # the built tracker and its ETag
    counters: Counter[str] = field(default_factory=Counter)
