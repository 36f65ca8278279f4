"""Metrics in Prometheus' text format (the official client library), one registry per collector app.

`GET /metrics` needs the export token; with `--metrics-port` the same metrics are also served, without a
token, on a port of their own (on `--metrics-host`, loopback by default) for a scraper that cannot send
one. Labels have bounded values: endpoints, source names, outcomes and reason classes, never IDs or text
that clients send.
"""

from __future__ import annotations

from collections import Counter as Counts
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
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


def reason_class(reason: str) -> str:
    return next((name for words, name in _REASONS if words in reason), "rule")


class Metrics:
    def __init__(self, live: Callable[[], dict[str, float]], counters: Counts[str]) -> None:
        """`live`: gauges read at each scrape (queue depth, WAL size); `counters`: the collector's own
        running counts (expiry, erasure, rate limits), exposed as they are."""
        self.registry = CollectorRegistry()
        self._children: dict[tuple[object, ...], Any] = {}
        r = self.registry
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
        r.register(_Live(live, counters))

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
        return generate_latest(self.registry)


class _Live(Collector):
    def __init__(self, live: Callable[[], dict[str, float]], counters: Counts[str]) -> None:
        self.live = live
        self.counters = counters

    def collect(self) -> Iterator[Any]:
        for name, value in sorted(self.live().items()):
            yield GaugeMetricFamily(f"footfall_{name}", name.replace("_", " ") + ".", value=value)
        for name, value in sorted(self.counters.items()):
            yield CounterMetricFamily(f"footfall_{name}", f"Count of {name.replace('_', ' ')}.", value=value)


async def metrics_endpoint(request: Request) -> Response:
    rt = require_admin(request, "metrics")
    return Response(rt.metrics.text(), media_type=CONTENT_TYPE_LATEST)
