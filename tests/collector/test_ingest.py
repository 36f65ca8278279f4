"""Ingest end to end, in process: every message type, partial batches and the quarantine, dedup, the answer."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.collector.conftest import App

ONE_OF_EACH: list[dict[str, Any]] = [
    {"type": "track", "event": "Signed Up", "userId": "u1", "properties": {"plan": "pro"}},
    {"type": "page", "name": "Home", "anonymousId": "a1", "properties": {"url": "https://shop.example/", "path": "/"}},
    {"type": "screen", "name": "Cart", "userId": "u1"},
    {"type": "identify", "userId": "u1", "anonymousId": "a1", "traits": {"email": "u1@example.com"}},
    {"type": "alias", "previousId": "a1", "userId": "u1"},
    {"type": "group", "groupId": "g1", "userId": "u1", "traits": {"name": "Acme"}},
]


def test_batch_of_every_type_is_stored_in_order(app: App) -> None:
    r = app.send(ONE_OF_EACH)
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True, "accepted": 6, "duplicates": 0, "dropped": 0, "rejected": [],
                        "anonymousId": None}  # fmt: skip
    stored = app.export()
    assert [m["type"] for m in stored] == [m["type"] for m in ONE_OF_EACH]
    for sent, got in zip(ONE_OF_EACH, stored, strict=True):
        assert {k: got[k] for k in sent} == sent
        assert got["messageId"] and got["receivedAt"].endswith("Z") and got["timestamp"].endswith("Z")


@pytest.mark.parametrize("message", ONE_OF_EACH, ids=lambda m: m["type"])
def test_single_message_endpoints(app: App, message: dict[str, Any]) -> None:
    body = {k: v for k, v in message.items() if k != "type"}
    r = app.client.post(f"/v1/{message['type']}", json=body, auth=(app.server_key, ""))
    assert r.status_code == 200, r.text
    [got] = app.export()
    assert got["type"] == message["type"]


def test_partial_batch_keeps_valid_messages_and_quarantines_the_rest(app: App) -> None:
    batch = [
        {"type": "track", "event": "Good", "userId": "u1", "messageId": "good-1"},
        {"type": "track", "userId": 5, "event": "Bad", "messageId": "bad-1"},
        {"type": "track", "event": "Good", "userId": "u1", "messageId": "good-2"},
        {"type": "track", "event": "Bad", "userId": "u1", "colour": "red"},
        "not an object",
    ]
    r = app.send(batch)
    assert r.status_code == 200
    body = r.json()
    assert body["accepted"] == 2 and body["success"] is False
    rejected = {x["index"]: x for x in body["rejected"]}
    assert set(rejected) == {1, 3, 4}
    assert rejected[1]["messageId"] == "bad-1"
    assert "batch[1]" in rejected[1]["reason"] and "`userId` must be string" in rejected[1]["reason"]
    assert "unknown key `colour`" in rejected[3]["reason"]
    assert [m["messageId"] for m in app.export()] == ["good-1", "good-2"]
    q = app.admin("GET", "/v1/quarantine")
    rows = [json.loads(line) for line in q.text.splitlines()]
    assert [r["reason"] for r in rows] == [x["reason"] for x in body["rejected"]]
    assert json.loads(rows[0]["payload"])["messageId"] == "bad-1"


def test_message_id_is_stored_once_forever(app: App) -> None:
    msg = {"type": "track", "event": "Paid", "userId": "u1", "messageId": "same"}
    assert app.send([msg]).json()["duplicates"] == 0
    assert app.send([msg]).json()["duplicates"] == 1
    assert app.send([msg, msg]).json()["duplicates"] == 2
    app.stop()
    app.start()  # a new app over the same database file
    assert app.send([msg]).json()["duplicates"] == 1
    assert [m["messageId"] for m in app.export()] == ["same"]


def test_a_backend_on_the_browser_key_is_warned_and_not_counted_as_a_visitor(app: App) -> None:
    msg = {"type": "track", "event": "Order Shipped", "userId": "u1", "messageId": "from-backend"}
    r = app.send([msg], key=app.write_key, headers={"User-Agent": "footfall-python/0.1.0"})
    assert r.status_code == 200 and r.json()["accepted"] == 1
    assert "public browser write key" in r.json()["warning"] and "server write key" in r.json()["warning"]
    browser_ua = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
    ok = app.send([{**msg, "messageId": "from-browser"}], key=app.write_key, headers={"User-Agent": browser_ua})
    assert "warning" not in ok.json()
    assert "warning" not in app.send([{**msg, "messageId": "server"}]).json()  # the server key
    stored = {m["messageId"]: m.get("context", {}) for m in app.export()}
    assert stored["from-backend"]["device"]["type"] == "bot" and stored["from-backend"]["bot"] is True
    assert stored["from-browser"]["device"]["type"] == "desktop"


def test_backpressure_when_the_store_falls_behind(collector_factory: Any) -> None:
    """While the store cannot commit, requests past --max-pending-rows get 503 at once (memory does not
    grow); the ones queued before are committed once it can, and nothing acknowledged is lost."""
    import sqlite3
    import threading

    from tests.collector.conftest import wait_for

    c = collector_factory("--max-pending-rows", "100")
    results: list[tuple[int, str, list[str]]] = []
    lock = sqlite3.connect(c.data_dir / "footfall.db", isolation_level=None, timeout=30)
    lock.execute("BEGIN IMMEDIATE")  # another writer holds the database: commits wait

    def send(worker: int) -> None:
        ids = [f"w{worker}-{i}" for i in range(20)]
        r = c.send([{"type": "track", "event": "E", "userId": "u", "messageId": m} for m in ids])
        results.append((r.status_code, r.text, ids))

    threads = [threading.Thread(target=send, args=(w,)) for w in range(30)]
    try:
        for t in threads:
            t.start()
        wait_for(lambda: any("the store is behind" in text for _, text, _ in results), "a request turned away")
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    behind = [text for status, text, _ in results if status == 503 and "the store is behind" in text]
    assert behind and {status for status, _, _ in results} <= {200, 503}
    stored = {m["messageId"] for m in c.export()}
    assert all(set(ids) <= stored for status, _, ids in results if status == 200)
    assert httpx.get(c.url + "/healthz").json()["counters"]["backpressure"] == len(behind)


def test_messages_without_a_message_id_get_distinct_time_ordered_version_7_uuids() -> None:
    import time
    import uuid

    from collector.ingest import _new_ids

    before = time.time_ns() // 1_000_000
    made = list(_new_ids(500))
    time.sleep(0.002)
    later = list(_new_ids(3))
    after = time.time_ns() // 1_000_000
    assert len(set(made + later)) == 503
    for text in made + later:
        parsed = uuid.UUID(text)
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122 and str(parsed) == text
        assert before <= parsed.int >> 80 <= after  # its first 48 bits: the time in ms
    assert max(made) < min(later)  # a later request's IDs sort after an earlier one's
