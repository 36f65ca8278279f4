"""Ingest against the real server: every message type, partial batches, quarantine, dedup, auth, bad bodies."""

from __future__ import annotations

import gzip
import json
from typing import Any

import httpx
import pytest

from tests.conftest import Collector

ONE_OF_EACH: list[dict[str, Any]] = [
    {"type": "track", "event": "Signed Up", "userId": "u1", "properties": {"plan": "pro"}},
    {"type": "page", "name": "Home", "anonymousId": "a1", "properties": {"url": "https://shop.example/", "path": "/"}},
    {"type": "screen", "name": "Cart", "userId": "u1"},
    {"type": "identify", "userId": "u1", "anonymousId": "a1", "traits": {"email": "u1@example.com"}},
    {"type": "alias", "previousId": "a1", "userId": "u1"},
    {"type": "group", "groupId": "g1", "userId": "u1", "traits": {"name": "Acme"}},
]


def order(**props: Any) -> dict[str, Any]:
    base = {"order_id": "o-1", "total": 30.5, "currency": "EUR", "products": [{"sku": "s", "price": 30.5}]}
    return {"type": "track", "event": "Order Completed", "userId": "u1", "properties": {**base, **props}}


def test_batch_of_every_type_is_stored_in_order(collector: Collector) -> None:
    r = collector.send(ONE_OF_EACH)
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True, "accepted": 6, "duplicates": 0, "dropped": 0, "rejected": [],
                        "anonymousId": None}  # fmt: skip
    stored = collector.export()
    assert [m["type"] for m in stored] == [m["type"] for m in ONE_OF_EACH]
    for sent, got in zip(ONE_OF_EACH, stored, strict=True):
        assert {k: got[k] for k in sent} == sent
        assert got["messageId"] and got["receivedAt"].endswith("Z") and got["timestamp"].endswith("Z")


@pytest.mark.parametrize("message", ONE_OF_EACH, ids=lambda m: m["type"])
def test_single_message_endpoints(collector: Collector, message: dict[str, Any]) -> None:
    body = {k: v for k, v in message.items() if k != "type"}
    r = httpx.post(f"{collector.url}/v1/{message['type']}", json=body, auth=(collector.server_key, ""))
    assert r.status_code == 200, r.text
    [got] = collector.export()
    assert got["type"] == message["type"]


def test_single_endpoint_refuses_another_type(collector: Collector) -> None:
    r = httpx.post(f"{collector.url}/v1/page", json={"type": "track", "event": "x", "userId": "u"},
                   auth=(collector.server_key, ""))  # fmt: skip
    assert r.status_code == 400
    assert "'track'" in r.json()["rejected"][0]["reason"]


def test_partial_batch_keeps_valid_messages_and_quarantines_the_rest(collector: Collector) -> None:
    batch = [
        {"type": "track", "event": "Good", "userId": "u1", "messageId": "good-1"},
        {"type": "track", "userId": 5, "event": "Bad", "messageId": "bad-1"},
        {"type": "track", "event": "Good", "userId": "u1", "messageId": "good-2"},
        {"type": "track", "event": "Bad", "userId": "u1", "colour": "red"},
        "not an object",
    ]
    r = collector.send(batch)
    assert r.status_code == 200
    body = r.json()
    assert body["accepted"] == 2 and body["success"] is False
    rejected = {x["index"]: x for x in body["rejected"]}
    assert set(rejected) == {1, 3, 4}
    assert rejected[1]["messageId"] == "bad-1"
    assert "batch[1]" in rejected[1]["reason"] and "`userId` must be string" in rejected[1]["reason"]
    assert "unknown key `colour`" in rejected[3]["reason"]
    assert [m["messageId"] for m in collector.export()] == ["good-1", "good-2"]
    q = httpx.get(collector.url + "/v1/quarantine", headers={"Authorization": f"Bearer {collector.export_token}"})
    rows = [json.loads(line) for line in q.text.splitlines()]
    assert [r["reason"] for r in rows] == [x["reason"] for x in body["rejected"]]
    assert json.loads(rows[0]["payload"])["messageId"] == "bad-1"


def test_all_rejected_is_a_400_with_reasons(collector: Collector) -> None:
    r = collector.send([{"type": "track", "userId": "u"}, {"type": "nope", "userId": "u"}])
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
def test_rules_per_message(collector: Collector, message: dict[str, Any], reason: str) -> None:
    r = collector.send([message, {"type": "track", "event": "ok", "userId": "u"}])
    assert r.status_code == 200
    [rejected] = r.json()["rejected"]
    assert rejected["index"] == 0 and reason in rejected["reason"], rejected["reason"]


def test_valid_order_is_accepted(collector: Collector) -> None:
    r = collector.send([order(), order(order_id=42, revenue=10, total=None, currency="usd")])
    assert r.json()["rejected"][0]["reason"].endswith("must be a finite number, got 'None'")
    r = collector.send([order(), order(order_id="o-2", revenue=10, currency="usd")])
    assert r.json()["accepted"] == 2


def test_message_id_is_stored_once_forever(collector: Collector) -> None:
    msg = {"type": "track", "event": "Paid", "userId": "u1", "messageId": "same"}
    assert collector.send([msg]).json()["duplicates"] == 0
    assert collector.send([msg]).json()["duplicates"] == 1
    assert collector.send([msg, msg]).json()["duplicates"] == 2
    collector.stop()
    collector.start()
    assert collector.send([msg]).json()["duplicates"] == 1
    assert [m["messageId"] for m in collector.export()] == ["same"]


@pytest.mark.parametrize("how", ["basic", "body", "query"])
def test_write_key_locations(collector: Collector, how: str) -> None:
    batch: dict[str, Any] = {"batch": [{"type": "track", "event": "x", "userId": "u"}]}
    kw: dict[str, Any] = {}
    if how == "basic":
        kw["auth"] = (collector.server_key, "")
    elif how == "body":
        batch["writeKey"] = collector.server_key
    else:
        kw["params"] = {"writeKey": collector.server_key}
    r = httpx.post(collector.url + "/v1/batch", json=batch, **kw)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(("auth", "text"), [(None, "missing write key"), (("nope", ""), "unknown write key")])
def test_bad_write_key_is_401(collector: Collector, auth: Any, text: str) -> None:
    r = httpx.post(collector.url + "/v1/batch", json={"batch": []}, auth=auth)
    assert r.status_code == 401 and text in r.json()["error"]
    assert collector.export() == []


BIG = b'{"batch": [' + b",".join([b'{"type":"track","event":"x","userId":"u"}'] * 14000) + b"]}"


@pytest.mark.parametrize(
    ("body", "headers", "status", "text"),
    [
        (b'{"batch": [', {}, 400, "not valid JSON"),
        (b"", {}, 400, "body is empty"),
        (b"hello", {}, 400, "not valid JSON"),
        (b"[1, 2]", {}, 400, "body: Expected `object`"),
        (b'{"batch": {}}', {}, 400, "`batch`"),
        (b'{"events": []}', {}, 400, "unknown key `events`"),
        (b'{"batch": [], "sentAt": 5}', {}, 400, "`sentAt`"),
        (BIG, {}, 413, "the limit is 512000"),
        (gzip.compress(BIG), {"content-encoding": "gzip"}, 413, "once decompressed"),
        (b"not gzip", {"content-encoding": "gzip"}, 400, "not valid gzip"),
        (gzip.compress(b'{"batch": []}')[:-6], {"content-encoding": "gzip"}, 400, "truncated"),
        (b'{"batch": []}', {"content-encoding": "br"}, 415, "not supported"),
        (b"\xff\xfe{", {}, 400, "not valid JSON"),
    ],
)
def test_malformed_bodies_get_a_4xx_that_says_what(
    collector: Collector, body: bytes, headers: dict[str, str], status: int, text: str
) -> None:
    r = httpx.post(collector.url + "/v1/batch", content=body, headers=headers, auth=(collector.server_key, ""))
    assert r.status_code == status, r.text
    assert text in r.json()["error"]
    assert collector.send([{"type": "track", "event": "after", "userId": "u"}]).status_code == 200


def test_gzip_and_text_plain_bodies(collector: Collector) -> None:
    raw = json.dumps({"batch": [{"type": "track", "event": "zipped", "userId": "u"}]}).encode()
    r = httpx.post(collector.url + "/v1/batch", content=gzip.compress(raw), auth=(collector.server_key, ""),
                   headers={"content-encoding": "gzip", "content-type": "text/plain;charset=UTF-8"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert collector.export()[0]["event"] == "zipped"


def test_cors_answers_with_the_exact_origin(collector: Collector) -> None:
    origin = "http://shop.example:3000"
    pre = httpx.options(collector.url + "/v1/batch", headers={"Origin": origin,
                        "Access-Control-Request-Method": "POST"})  # fmt: skip
    assert pre.status_code == 204
    assert pre.headers["access-control-allow-origin"] == origin
    assert pre.headers["access-control-allow-credentials"] == "true"
    r = collector.send([{"type": "page", "anonymousId": "a"}], headers={"Origin": origin})
    assert r.headers["access-control-allow-origin"] == origin and r.headers["vary"] == "Origin"


def test_allowed_origins_refuses_others(collector_factory: Any) -> None:
    c = collector_factory("--allowed-origins", "https://shop.example")
    ok = c.send([{"type": "page", "anonymousId": "a"}], headers={"Origin": "https://shop.example"})
    bad = c.send([{"type": "page", "anonymousId": "a"}], headers={"Origin": "https://evil.example"})
    assert ok.status_code == 200 and bad.status_code == 403
    assert "allowed_origins" in bad.json()["error"]


def test_healthz(collector: Collector) -> None:
    health = httpx.get(collector.url + "/healthz").json()
    assert health["status"] == "ok" and "bots_dropped" not in health["counters"]


def test_a_backend_on_the_browser_key_is_warned_and_not_counted_as_a_visitor(collector: Collector) -> None:
    msg = {"type": "track", "event": "Order Shipped", "userId": "u1", "messageId": "from-backend"}
    r = collector.send([msg], key=collector.write_key, headers={"User-Agent": "footfall-python/0.1.0"})
    assert r.status_code == 200 and r.json()["accepted"] == 1
    assert "public browser write key" in r.json()["warning"] and "server write key" in r.json()["warning"]
    browser_ua = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
    ok = collector.send([{**msg, "messageId": "from-browser"}], key=collector.write_key,
                        headers={"User-Agent": browser_ua})  # fmt: skip
    assert "warning" not in ok.json()
    assert "warning" not in collector.send([{**msg, "messageId": "server"}]).json()  # the server key
    stored = {m["messageId"]: m.get("context", {}) for m in collector.export()}
    assert stored["from-backend"]["device"]["type"] == "bot" and stored["from-backend"]["bot"] is True
    assert stored["from-browser"]["device"]["type"] == "desktop"
