"""Export: pages, cursor, filters, errors, and exactly-once delivery while ingestion goes on."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import Collector


def fill(c: Collector, n: int, **fields: Any) -> list[str]:
    ids = [f"m{i}" for i in range(n)]
    batch = [{"type": "track", "event": f"E{i % 3}", "userId": f"u{i % 2}", "messageId": ids[i], **fields}
             for i in range(n)]  # fmt: skip
    assert c.send(batch).json()["accepted"] == n
    return ids


def test_pages_follow_the_cursor_and_end_empty(collector: Collector) -> None:
    ids = fill(collector, 25)
    seen: list[str] = []
    cursor = None
    for expected in (10, 10, 5, 0, 0):
        r = collector.export_page(limit=10, **({"cursor": cursor} if cursor else {}))
        lines = [line for line in r.text.splitlines() if line]
        assert len(lines) == expected and r.headers["content-type"] == "application/x-ndjson"
        seen += [httpx.Response(200, content=line).json()["messageId"] for line in lines]
        cursor = r.headers["Footfall-Cursor"]
    assert seen == ids
    more = fill(collector, 1, event="late")  # messageId m0 again: a duplicate, so nothing new
    assert more == ["m0"]
    collector.send([{"type": "track", "event": "late", "userId": "u", "messageId": "late-1"}])
    r = collector.export_page(cursor=cursor)
    assert [httpx.Response(200, content=x).json()["messageId"] for x in r.text.splitlines()] == ["late-1"]


def test_filters(collector: Collector) -> None:
    fill(collector, 12)
    collector.send([{"type": "page", "userId": "u0", "messageId": "p1"}])
    assert len(collector.export(type="page")) == 1
    assert {m["event"] for m in collector.export(event="E1")} == {"E1"}
    assert {m["userId"] for m in collector.export(userId="u1")} == {"u1"}
    now = datetime.now(UTC)
    assert len(collector.export(since=(now - timedelta(minutes=1)).isoformat())) == 13
    assert collector.export(since=(now + timedelta(minutes=1)).isoformat()) == []
    assert collector.export(until=(now - timedelta(minutes=1)).isoformat()) == []


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({"cursor": "garbage"}, "`cursor` is not one this collector gave out"),
        ({"limit": "0"}, "`limit` must be a whole number from 1 to 10000"),
        ({"limit": "abc"}, "`limit`"),
        ({"since": "last week"}, "`since` is not an ISO 8601 time"),
        ({"type": "click"}, "`type` must be one of"),
        ({"user_id": "u"}, "unknown parameter `user_id`"),
    ],
)
def test_bad_queries_are_400(collector: Collector, params: dict[str, str], text: str) -> None:
    r = collector.export_page(**params)
    assert r.status_code == 400 and text in r.json()["error"]


def test_export_needs_the_token(collector: Collector) -> None:
    assert httpx.get(collector.url + "/v1/export").status_code == 401
    r = httpx.get(collector.url + "/v1/export", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and "export token" in r.json()["error"]
    r = httpx.get(collector.url + "/v1/export", headers={"Authorization": f"Basic {collector.write_key}"})
    assert r.status_code == 401


def test_every_message_exactly_once_while_ingest_goes_on(collector: Collector) -> None:
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
    with httpx.Client(headers={"Authorization": f"Bearer {collector.export_token}"}) as client:
        while True:
            finished = done.is_set()
            params: dict[str, Any] = {"limit": 37, **({"cursor": cursor} if cursor else {})}
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
        t.join()
    assert len(pulled) == len(set(pulled)) == senders * batches * per_batch
    assert set(pulled) == sent


def test_export_command_resumes_from_its_cursor_file(collector: Collector, tmp_path: Any) -> None:
    import json
    import subprocess
    import sys

    def run(*extra: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "collector", "export", "--url", collector.url, "--export-token",
               collector.export_token, "--data-dir", str(tmp_path / "cli"), "--page-size", "7",
               "--out", str(out), "--cursor-file", str(cursor), *extra]  # fmt: skip
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)

    out, cursor = tmp_path / "events.ndjson", tmp_path / "events.cursor"
    first = fill(collector, 20)
    assert run().returncode == 0
    collector.send([{"type": "track", "event": "late", "userId": "u", "messageId": "late-1"}])
    assert run().returncode == 0
    lines = [json.loads(line)["messageId"] for line in out.read_text().splitlines()]
    assert lines == [*first, "late-1"]
    assert run("--type", "page").returncode == 0 and len(out.read_text().splitlines()) == 21
    bad = subprocess.run([sys.executable, "-m", "collector", "export", "--url", collector.url, "--export-token",
                          "wrong", "--data-dir", str(tmp_path / "cli")], capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 1 and "export failed (401)" in bad.stderr
