"""Profiles, in process: one person's history summed up, served by the people endpoints."""

from __future__ import annotations

from tests.collector.conftest import App, at


def test_profile_figures_match_a_hand_count(app: App) -> None:
    ua = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
    order = {"type": "track", "event": "Order Completed", "userId": "bob"}
    app.send([
        {"type": "page", "anonymousId": "b-anon", "timestamp": at(10), "context": {"userAgent": ua}},
        {"type": "page", "anonymousId": "b-anon", "timestamp": at(9)},
        {"type": "identify", "anonymousId": "b-anon", "traits": {"plan": "free", "name": "B"}, "timestamp": at(9)},
        {"type": "identify", "anonymousId": "b-anon", "userId": "bob", "traits": {"plan": "pro"}, "timestamp": at(8)},
        {**order, "properties": {"order_id": "o1", "revenue": 10.1, "total": 12, "currency": "EUR"},
         "timestamp": at(7)},
        {**order, "properties": {"order_id": "o2", "total": 20.20, "currency": "eur"}, "timestamp": at(6)},
        {**order, "properties": {"order_id": "o2", "total": 20.20, "currency": "EUR"}, "timestamp": at(6)},
        {**order, "properties": {"order_id": "o3", "revenue": 5, "currency": "USD"}, "timestamp": at(5)},
        {"type": "track", "event": "Signed In", "userId": "bob", "anonymousId": "b-anon", "timestamp": at(1)},
        {"type": "page", "userId": "someone", "anonymousId": "b-anon", "timestamp": at(1)},
    ])  # fmt: skip
    p = app.admin("GET", "/v1/profiles/bob").json()
    assert p["userId"] == "bob" and p["linkedIds"] == ["b-anon"]
    assert p["messages"] == {"total": 9, "byType": {"page": 2, "identify": 2, "track": 5},
                             "byEvent": {"Order Completed": 4, "Signed In": 1}}  # fmt: skip
    assert p["pageViews"] == 2
    assert p["orders"] == {"count": 3, "revenue": {"EUR": 30.3, "USD": 5.0}}
    assert p["traits"]["plan"]["value"] == "pro" and p["traits"]["name"]["value"] == "B"
    assert p["firstSeen"] == at(10)[:23] + "Z" and p["lastSeen"] == at(1)[:23] + "Z"
    assert p["devices"][0]["type"] == "mobile"
    assert app.admin("GET", "/v1/profiles/nobody").status_code == 404
