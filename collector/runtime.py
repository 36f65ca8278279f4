"""What the running collector holds: settings and the resources opened in the lifespan."""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:  # (they import this module)
    from collector.import_worker import Preparer
    from collector.ingest import Stages


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
    preparer: Preparer
    tracker: tuple[bytes, str] | None = None  # the built tracker and its ETag
    counters: Counter[str] = field(default_factory=Counter)

    @functools.cached_property
    def stages(self) -> Stages:
        """What the ingest steps need (the same objects, for as long as the collector runs)."""
        from collector.ingest import Stages

        return Stages.of(self)
