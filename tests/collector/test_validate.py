"""Validate: each message's types and unknown keys, then the rules per type, in process."""

from __future__ import annotations

from typing import Any

import pytest

from tests.collector.conftest import App


def order(**props: Any) -> dict[str, Any]:
    base = {"order_id": "o-1", "total": 30.5, "currency": "EUR", "products": [{"sku": "s", "price": 30.5}]}
    return {"type": "track", "event": "Order Completed", "userId": "u1", "properties": {**base, **props}}


def test_single_endpoint_refuses_another_type(app: App) -> None:
    r = app.client.post("/v1/page", json={"type": "track", "event": "x", "userId": "u"}, auth=(app.server_key, ""))
    assert r.status_code == 400
    assert "'track'" in r.json()["rejected"][0]["reason"]


def test_all_rejected_is_a_400_with_reasons(app: App) -> None:
    r = app.send([{"type": "track", "userId": "u"}, {"type": "nope", "userId": "u"}])
    assert r.status_code == 400
    reasons = [x["reason"] for x in r.json()["rejected"]]
    assert "missing required field `event`" in reasons[0]
    assert "unknown `type`" in reasons[1] and "track, page" in reasons[1]


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({"type": "track", "event": "x"}, "needs `userId` or `anonymousId`"),
        ({"type": "alias", "previousId": "a"}, "needs `userId`"),
        ({"type": "group", "userId": "u"}, "`groupId`"),
        ({"type": "track", "event": "x", "userId": "undefined"}, "not an ID"),
        ({"type": "track", "event": "x", "userId": "u", "timestamp": "yesterday"}, "not an ISO 8601 time"),
        ({"type": "track", "event": "x", "userId": "u", "timestamp": "2026-01-01T00:00:00"}, "no time zone"),
        ({"type": "track", "event": "", "userId": "u"}, "`event` is empty"),
        ({"type": "track", "event": "x", "userId": "u", "properties": []}, "`properties` must be object"),
        (order(order_id=None), "order_id"),
        ({**order(), "properties": {"order_id": "o", "currency": "EUR"}}, "numeric `properties.total`"),
        (order(total="30"), "`properties.total` must be a finite number"),
        (order(currency="EURO"), "ISO 4217"),
        (order(products=[{"price": "free"}]), "`properties.products[0].price` must be a finite number"),
        ({"type": "track", "event": "x", "userId": "u", "properties": {"b": "x" * 33_000}}, "the limit is 32768"),
    ],
)
def test_rules_per_message(app: App, message: dict[str, Any], reason: str) -> None:
    r = app.send([message, {"type": "track", "event": "ok", "userId": "u"}])
    assert r.status_code == 200
    [rejected] = r.json()["rejected"]
    assert rejected["index"] == 0 and reason in rejected["reason"], rejected["reason"]


def test_valid_order_is_accepted(app: App) -> None:
    r = app.send([order(), order(order_id=42, revenue=10, total=None, currency="usd")])
    assert r.json()["rejected"][0]["reason"].endswith("must be a finite number, got 'None'")
    r = app.send([order(), order(order_id="o-2", revenue=10, currency="usd")])
    assert r.json()["accepted"] == 2


def test_huge_integer_amount_is_rejected(app: App) -> None:
    """Found in review: it once gave a 500."""
    huge = int("1" + "0" * 400)
    order = {"type": "track", "event": "Order Completed", "userId": "u",
             "properties": {"order_id": "o", "total": huge, "currency": "EUR"}}  # fmt: skip
    r = app.send([order])
    assert r.status_code == 400 and "`properties.total` must be a finite number" in r.json()["rejected"][0]["reason"]


def test_non_utf8_in_one_message_rejects_only_that_message(app: App) -> None:
    """Found in review: it once failed the whole batch."""
    body = (b'{"batch":[{"type":"track","event":"ok","userId":"good","messageId":"good-1"},'
            b'{"type":"identify","userId":"u","traits":{"name":"M\xfcller"}}]}')  # fmt: skip
    r = app.client.post("/v1/batch", content=body, auth=(app.server_key, ""))
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1 and "not UTF-8" in r.json()["rejected"][0]["reason"]
    assert [m["messageId"] for m in app.export()] == ["good-1"]
