"""Metrics in Prometheus' text format (the official client library), one registry per collector app.

`GET /metrics` needs the export token; with `--metrics-port` the same metrics are also served, without a
token, on a port of their own (on `--metrics-host`, loopback by default) for a scraper that cannot send
one. Labels have bounded values: endpoints, source names, outcomes and reason classes, never IDs or text
that clients send.

With `--workers N` each worker keeps its metrics in files of a directory that the parent makes
(prometheus-client's multiprocess mode, `MULTIPROCESS_ENV`), and a scrape of any worker adds them all up:
counts over every worker (a dead one's too), the queue gauges summed over the live ones, the store's sizes
as the largest any live worker saw. A worker copies its gauges and its own counts into its files when it is
scraped and every `SYNC_SECONDS`, so another worker's are at most that old.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import threading
from collections import Counter as Counts
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

from collector.http import require_admin

# Coarse classes of rejection reasons, by the words the reasons use: a bounded label.
_REASONS = (
    ("nests deeper", "depth"),
    ("bytes; the limit", "size"),
    ("not valid JSON", "json"),
    ("not UTF-8", "json"),
    ("ISO 8601", "time"),
    ("time zone", "time"),
    ("Order Completed", "order"),
    ("currency", "order"),
    ("which is not an ID", "id"),
    ("characters; the limit", "id"),
    ("unknown key", "schema"),
    ("must be", "schema"),
    ("missing", "schema"),
)


MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus-client when it is imported
SYNC_SECONDS = 1.0
STORE_WIDE = {"database_bytes", "wal_bytes"}  # gauges every worker reads off the same store


def reason_class(reason: str) -> str:
    return next((name for words, name in _REASONS if words in reason), "rule")


class Metrics:
    def __init__(self, live: Callable[[], dict[str, float]], counters: Counts[str]) -> None:
        """`live`: gauges read at each scrape (queue depth, WAL size); `counters`: the collector's own
        running counts (expiry, erasure, rate limits), exposed as they are."""
        self.registry = CollectorRegistry()
        self.shared = os.environ.get(MULTIPROCESS_ENV)  # the workers' directory, if there are workers
        self._children: dict[tuple[object, ...], Any] = {}
        self._live = live
        self._counters = counters
        self._gauges: dict[str, Gauge] = {}
        self._counts: dict[str, tuple[Counter, int]] = {}  # each running count, and how much of it is out
        r = self.registry
        r.register(_SyncFirst(self))  # first: a scrape (of the metrics port too) sees the values of now
        self.requests = Counter(
            "footfall_requests", "Ingest requests by endpoint and status.", ["endpoint", "status"], registry=r
        )
        self.messages = Counter(
            "footfall_messages",
            "Messages by endpoint, source and outcome (accepted, duplicate, rejected, dropped_bot, refused).",
            ["endpoint", "source", "outcome"],
            registry=r,
        )
        self.rejections = Counter(
            "footfall_rejections", "Rejected messages by class of reason.", ["reason"], registry=r
        )
        self.body_bytes = Histogram(
            "footfall_request_body_bytes",
            "Ingest request bodies, as received.",
            ["endpoint"],
            buckets=(256, 1024, 4096, 16384, 65536, 262144, 524288),
            registry=r,
        )
        self.commit_rows = Histogram(
            "footfall_commit_rows",
            "Rows written by one group commit.",
            buckets=(1, 5, 20, 100, 500, 2000, 10000, 20000),
            registry=r,
        )
        self.commit_seconds = Histogram(
            "footfall_commit_seconds",
            "Time of one group commit.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0),
            registry=r,
        )
        self.pulls = Counter(
            "footfall_pulls", "Pages pulled from export, quarantine, links and profiles.", ["endpoint"], registry=r
        )
        self.sync()  # the gauges exist before the first scrape (a metric made during one shows in the next)

    def sync(self) -> None:
        """Copy the gauges read now, and what the running counts grew by, into the metrics."""
        for name, value in self._live().items():
            gauge = self._gauges.get(name)
            if gauge is None:
                gauge = Gauge(
                    f"footfall_{name}",
                    name.replace("_", " ") + ".",
                    registry=self.registry,
                    multiprocess_mode="livemax" if name in STORE_WIDE else "livesum",
                )
                self._gauges[name] = gauge
            gauge.set(value)
        for name, value in list(self._counters.items()):
            counter, out = self._counts.get(name) or (
                Counter(f"footfall_{name}", f"Count of {name.replace('_', ' ')}.", registry=self.registry),
                0,
            )
            if value > out:
                counter.inc(value - out)
            self._counts[name] = (counter, max(value, out))

    async def keep_synced(self) -> None:
        """Copy now and then: with workers, into the shared files, for scrapes of the other workers (and of
        the parent's metrics port); and a count that appears between two scrapes is shown by the next."""
        while True:
            await asyncio.sleep(SYNC_SECONDS)
            self.sync()

    def request(self, endpoint: str, status: int) -> None:
        child = self._children.get(("r", endpoint, status))
        if child is None:  # labels() builds a key and takes a lock: look each child up once
            child = self._children[("r", endpoint, status)] = self.requests.labels(endpoint, str(status))
        child.inc()

    def body(self, endpoint: str, size: int) -> None:
        child = self._children.get(("b", endpoint))
        if child is None:
            child = self._children[("b", endpoint)] = self.body_bytes.labels(endpoint)
        child.observe(size)

    def outcomes(self, endpoint: str, source: str, counts: dict[str, int], reasons: list[str]) -> None:
        """What became of one request's messages: counts by outcome, and the reasons of the rejected."""
        for outcome, count in counts.items():
            if count:
                child = self._children.get(("m", endpoint, source, outcome))
                if child is None:
                    child = self.messages.labels(endpoint, source, outcome)
                    self._children[("m", endpoint, source, outcome)] = child
                child.inc(count)
        for reason in reasons:
            self.rejections.labels(reason_class(reason)).inc()

    def observe_commit(self, rows: int, seconds: float) -> None:
        self.commit_rows.observe(rows)
        self.commit_seconds.observe(seconds)

    def text(self) -> bytes:
        if self.shared is None:
            return generate_latest(self.registry)  # (its first collector syncs)
        self.sync()  # this worker's own, into the files that `gathered` reads
        return generate_latest(gathered(self.shared))


class _SyncFirst(Collector):
    """Registered first: syncs the metrics before the registry collects them (it shows nothing itself)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Any]:
        self.metrics.sync()
        return iter(())


def gathered(shared: str) -> CollectorRegistry:
    """A registry that reads every worker's files in `shared`."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=shared)  # type: ignore[no-untyped-call]
    return registry


@contextlib.contextmanager
def parent_port(metrics_port: int, metrics_host: str, shared: str) -> Iterator[None]:
    """With workers, `--metrics-port` is served by the parent process, from every worker's files."""
    if not metrics_port:
        yield
        return
    server, _ = start_http_server(metrics_port, metrics_host, gathered(shared))
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


_LIVE_FILE = re.compile(r"gauge_live\w+_(\d+)\.db")


def sweep_dead_workers(shared: str, stop: threading.Event, every: float = 2.0) -> None:
    """The parent's thread: a worker that ended (or was killed) leaves its live gauges out of the sums."""
    while not stop.wait(every):
        pids = {int(m.group(1)) for f in Path(shared).glob("gauge_live*.db") if (m := _LIVE_FILE.fullmatch(f.name))}
        for pid in pids:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                multiprocess.mark_process_dead(pid, shared)  # type: ignore[no-untyped-call]
            except PermissionError:
                pass


async def metrics_endpoint(request: Request) -> Response:
    rt = require_admin(request, "metrics")
    return Response(rt.metrics.text(), media_type=CONTENT_TYPE_LATEST)
