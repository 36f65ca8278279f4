"""Export: pages, cursor, filters, bad queries, and exactly-once delivery while ingestion goes on."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.collector.conftest import App, wait_for
from tests.conftest import Collector


def fill(c: App | Collector, n: int, **fields: Any) -> list[str]:
    ids = [f"m{i}" for i in range(n)]
    batch = [{"type": "track", "event": f"E{i % 3}", "userId": f"u{i % 2}", "messageId": ids[i], **fields}
             for i in range(n)]  # fmt: skip
    assert c.send(batch).json()["accepted"] == n
    return ids


def test_pages_follow_the_cursor_and_end_empty(app: App) -> None:
    ids = fill(app, 25)
    seen: list[str] = []
    cursor = None
    for expected in (10, 10, 5, 0, 0):
        r = app.export_page(limit=10, **({"cursor": cursor} if cursor else {}))
        lines = [line for line in r.text.splitlines() if line]
        assert len(lines) == expected and r.headers["content-type"] == "application/x-ndjson"
        seen += [httpx.Response(200, content=line).json()["messageId"] for line in lines]
        cursor = r.headers["Footfall-Cursor"]
    assert seen == ids
    more = fill(app, 1, event="late")  # messageId m0 again: a duplicate, so nothing new
    assert more == ["m0"]
    app.send([{"type": "track", "event": "late", "userId": "u", "messageId": "late-1"}])
    r = app.export_page(cursor=cursor)
    assert [httpx.Response(200, content=x).json()["messageId"] for x in r.text.splitlines()] == ["late-1"]


def test_filters(app: App) -> None:
    fill(app, 12)
    app.send([{"type": "page", "userId": "u0", "messageId": "p1"}])
    assert len(app.export(type="page")) == 1
    assert {m["event"] for m in app.export(event="E1")} == {"E1"}
    assert {m["userId"] for m in app.export(userId="u1")} == {"u1"}
    now = datetime.now(UTC)
    assert len(app.export(since=(now - timedelta(minutes=1)).isoformat())) == 13
    assert app.export(since=(now + timedelta(minutes=1)).isoformat()) == []
    assert app.export(until=(now - timedelta(minutes=1)).isoformat()) == []


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({"since": "last week"}, "`since` is not an ISO 8601 time"),
        ({"type": "click"}, "`type` must be one of"),
        ({"user_id": "u"}, "unknown parameter `user_id`"),
    ],
)
def test_bad_queries_are_400(app: App, params: dict[str, str], text: str) -> None:
    """(A bad `cursor` or `limit` is paging's: test_paging.py.)"""
    r = app.export_page(**params)
    assert r.status_code == 400 and text in r.json()["error"]


@pytest.mark.parametrize("wait", [None, "0.3"])
def test_every_message_exactly_once_while_ingest_goes_on(collector: Collector, wait: str | None) -> None:
    """On the real server: senders and a puller on their own connections, concurrently (the puller's
    empty pages held by `wait`, or not)."""
    senders, batches, per_batch = 4, 40, 20
    sent: set[str] = set()
    lock = threading.Lock()
    done = threading.Event()

    def send(worker: int) -> None:
        with httpx.Client(auth=(collector.server_key, "")) as client:
            for b in range(batches):
                batch = [{"type": "track", "event": "e", "userId": "u", "messageId": f"w{worker}-b{b}-{i}"}
                         for i in range(per_batch)]  # fmt: skip
                r = client.post(collector.url + "/v1/batch", json={"batch": batch})
                assert r.status_code == 200
                with lock:
                    sent.update(m["messageId"] for m in batch)

    threads = [threading.Thread(target=send, args=(w,)) for w in range(senders)]
    for t in threads:
        t.start()
    pulled: list[str] = []
    cursor = None
    deadline = time.monotonic() + 120
    with httpx.Client(headers={"Authorization": f"Bearer {collector.export_token}"}) as client:
        while True:
            assert time.monotonic() < deadline, f"pulled {len(pulled)} messages before the deadline"
            finished = done.is_set()
            params: dict[str, Any] = {"limit": 37, **({"cursor": cursor} if cursor else {})}
            if wait:
                params["wait"] = wait
            r = client.get(collector.url + "/v1/export", params=params)
            lines = r.text.splitlines()
            pulled += [httpx.Response(200, content=x).json()["messageId"] for x in lines]
            cursor = r.headers["Footfall-Cursor"]
            if not lines:
                if finished:
                    break
                if not any(t.is_alive() for t in threads):
                    done.set()
                time.sleep(0.01)
    for t in threads:
        t.join(timeout=60)
        assert not t.is_alive()
    assert len(pulled) == len(set(pulled)) == senders * batches * per_batch
    assert set(pulled) == sent


def test_a_waiting_export_answers_when_messages_arrive_and_at_the_end_of_the_wait(app: App) -> None:
    import threading

    first = app.export_page()
    cursor = first.headers["Footfall-Cursor"]
    got: list[Any] = []
    waiter = threading.Thread(target=lambda: got.append(app.export_page(cursor=cursor, wait="30")))
    waiter.start()
    notifier = app.client.app.state.runtime.notifier  # type: ignore[attr-defined]
    wait_for(lambda: notifier.waiting > 0, "the export to wait")  # so the message comes while it waits
    app.send([{"type": "track", "event": "arrived", "userId": "u", "messageId": "late-1"}])
    waiter.join(60)
    assert not waiter.is_alive()
    r = got[0]
    # the wait was 30 s: the page came with the message (the request did not run out its wait empty)
    assert r.status_code == 200 and [json.loads(x)["messageId"] for x in r.text.splitlines()] == ["late-1"]
    after = r.headers["Footfall-Cursor"]
    empty = app.export_page(cursor=after, wait="0.5")  # nothing arrives: an empty page at the end of the wait
    assert empty.status_code == 200 and empty.text == "" and empty.headers["Footfall-Cursor"] == after
    assert app.export_page(wait="61").status_code == 400 and app.export_page(wait="x").status_code == 400
