"""/metrics: Prometheus text, behind the export token or on a port of its own."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.collector.conftest import App
from tests.conftest import free_port


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_requests_messages_outcomes_and_commits(app: App) -> None:
    assert app.client.get("/metrics").status_code == 401
    ok = {"type": "track", "event": "E", "userId": "u", "messageId": "m1"}
    app.send([ok, {"type": "track", "event": "", "userId": "u"}])  # one accepted, one rejected (a rule)
    app.send([ok])  # a duplicate
    app.client.post("/v1/batch", content=b"{", auth=(app.server_key, ""))  # a malformed body: 400
    app.export_page()
    r = app.admin("GET", "/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    got = samples(r.text)
    assert got[("footfall_requests_total", (("endpoint", "batch"), ("status", "200")))] == 2
    assert got[("footfall_requests_total", (("endpoint", "batch"), ("status", "400")))] == 1
    src = "default-server"
    assert got[("footfall_messages_total", (("endpoint", "batch"), ("outcome", "accepted"), ("source", src)))] == 1
    assert got[("footfall_messages_total", (("endpoint", "batch"), ("outcome", "duplicate"), ("source", src)))] == 1
    assert got[("footfall_messages_total", (("endpoint", "batch"), ("outcome", "rejected"), ("source", src)))] == 1
    assert got[("footfall_rejections_total", (("reason", "rule"),))] == 1
    assert (
        got[("footfall_commit_rows_count", ())] >= 2 and got[("footfall_pulls_total", (("endpoint", "export"),))] == 1
    )
    assert got[("footfall_pending_rows", ())] == 0 and got[("footfall_wal_bytes", ())] > 0
    assert got[("footfall_request_body_bytes_count", (("endpoint", "batch"),))] == 3  # every body received
    assert "u" not in {v for key in got for _, v in key[1]}  # no IDs in labels


def test_metrics_on_a_port_of_their_own(collector_factory: Any) -> None:
    port = free_port()
    c = collector_factory("--metrics-port", str(port))
    c.send([{"type": "track", "event": "E", "userId": "u"}])
    r = httpx.get(f"http://127.0.0.1:{port}/metrics")
    assert r.status_code == 200 and "footfall_messages_total" in r.text
    # The gauges read at the scrape, on this port too (not only once /metrics was asked with the token).
    assert "\nfootfall_pending_rows 0.0" in r.text and "\nfootfall_wal_bytes " in r.text, r.text
    assert httpx.get(c.url + "/metrics").status_code == 401  # the main port still wants the token
