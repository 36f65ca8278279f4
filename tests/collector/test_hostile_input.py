"""Odd and hostile input found in review: each once gave a 500 (or broke a rule); now a 4xx or handled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import Collector


def raw_post(c: Collector, body: bytes, **kw: Any) -> httpx.Response:
    kw.setdefault("auth", (c.server_key, ""))
    return httpx.post(c.url + "/v1/batch", content=body, **kw)


def test_times_at_the_ends_of_the_calendar(collector: Collector) -> None:
    msgs = [{"type": "track", "event": "x", "userId": "u", "messageId": "m1", "timestamp": "0001-01-01T00:00:00Z",
             "sentAt": "9999-12-31T23:59:59Z"}]  # fmt: skip
    r = collector.send(msgs)
    assert r.status_code == 200, r.text
    stored = datetime.fromisoformat(collector.export()[0]["timestamp"])
    assert abs(stored - datetime.now(UTC)) < timedelta(minutes=1)  # not believed: receivedAt
    body = {"sentAt": "0001-01-01T00:00:00Z", "batch": [{**msgs[0], "messageId": "m2", "sentAt": None}]}
    body["batch"][0].pop("sentAt")
    assert httpx.post(collector.url + "/v1/batch", json=body, auth=(collector.server_key, "")).status_code == 200


@pytest.mark.parametrize("medium", [5, ["a"], {"x": 1}])
def test_odd_campaign_medium(collector: Collector, medium: Any) -> None:
    page = {"url": "https://a.example/", "referrer": "https://b.example/"}
    r = collector.send([{"type": "page", "userId": "u", "context": {"campaign": {"medium": medium}, "page": page}}])
    assert r.status_code == 200, r.text
    assert collector.export()[0]["context"]["referrer"]["medium"] == "other"


def test_malformed_page_url(collector: Collector) -> None:
    r = collector.send([{"type": "page", "userId": "u", "context": {"page": {"url": "http://[abc?utm_source=x",
                                                                               "referrer": "http://[x"}}}])  # fmt: skip
    assert r.status_code == 200, r.text
    assert "campaign" not in collector.export()[0]["context"]
