"""PostgreSQL: several writers, one exactly-once pull (the reason the backend exists)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from collector.config import Settings
from collector.store import ExportFilter, create_store
from collector.store.base import BEGINNING, WriteBatch
from collector.types import StoredMessage
from tests.conftest import Collector, sending_for
from tests.pg import postgres_url  # noqa: F401  (a fixture)


def msg(mid: str) -> StoredMessage:
    return StoredMessage(mid, "track", "E", "u", None, 1, 1, f'{{"messageId":"{mid}"}}'.encode())


async def test_a_late_commit_is_not_skipped(postgres_url: str, tmp_path: Path) -> None:  # noqa: F811
    store = create_store(Settings(db=postgres_url, data_dir=tmp_path))
    await store.open()
    slow = await asyncpg.connect(postgres_url)
    try:
        tx = slow.transaction()
        await tx.start()  # another collector's commit, begun first and still open
        await slow.execute(
            "INSERT INTO messages (message_id, type, timestamp, received_at, body) VALUES ('slow', 'track', 1, 1, $1)",
            b'{"messageId":"slow"}',
        )
        await store.write(WriteBatch([msg("fast")]))  # begun later, committed first
        assert await store.read_messages(BEGINNING, 10, ExportFilter()) == []  # held back, not skipped
        await tx.commit()
        rows = await store.read_messages(BEGINNING, 10, ExportFilter())
        assert [body for _, body in rows] == [b'{"messageId":"slow"}', b'{"messageId":"fast"}']
        assert await store.read_messages(rows[-1][0], 10, ExportFilter()) == []
    finally:
        await slow.close()
        await store.close()


def test_two_collectors_one_database_exactly_once(collector_factory: Any, postgres_url: str) -> None:  # noqa: F811
    collectors: list[Collector] = [collector_factory("--db", postgres_url) for _ in range(2)]
    sent: set[str] = set()
    lock = threading.Lock()

    def send(c: Collector, worker: int) -> None:
        with httpx.Client(auth=(c.server_key, "")) as client:
            for b in range(30):
                batch = [{"type": "track", "event": "e", "userId": "u", "messageId": f"c{c.port}-w{worker}-{b}-{i}"}
                         for i in range(20)]  # fmt: skip
                assert client.post(c.url + "/v1/batch", json={"batch": batch}).status_code == 200
                with lock:
                    sent.update(m["messageId"] for m in batch)

    threads = [threading.Thread(target=send, args=(c, w)) for c in collectors for w in range(2)]
    for t in threads:
        t.start()
    pulled: list[str] = []
    cursor = None
    reader = collectors[0]
    while True:
        running = any(t.is_alive() for t in threads)
        r = reader.export_page(limit=53, **({"cursor": cursor} if cursor else {}))
        lines = r.text.splitlines()
        pulled += [httpx.Response(200, content=x).json()["messageId"] for x in lines]
        cursor = r.headers["Footfall-Cursor"]
        if not lines and not running:
            break
    for t in threads:
        t.join()
    assert len(pulled) == len(set(pulled)) == 2 * 2 * 30 * 20
    assert set(pulled) == sent


def test_erasure_on_one_collector_holds_against_a_sender_on_another(collector_factory: Any, postgres_url: str) -> None:  # noqa: F811
    """Suppression takes effect in every collector before the deletion starts: a sender on the second
    collector keeps sending for the user throughout, and nothing of the user is left."""
    eraser, other = (collector_factory("--db", postgres_url) for _ in range(2))
    with sending_for(other, "rita") as linked:
        r = httpx.delete(eraser.url + "/v1/users/rita", params={"suppress": "true"},
                         headers={"Authorization": f"Bearer {eraser.export_token}"}, timeout=120)  # fmt: skip
        assert r.status_code == 200, r.text
    assert eraser.export(userId="rita") == [] and other.export(userId="rita") == []
    left = {m.get("anonymousId") for m in eraser.export()}
    assert linked and not (left & linked), sorted(left & linked)[:5]


def test_a_waiting_export_on_one_collector_sees_what_another_stores(collector_factory: Any, postgres_url: str) -> None:  # noqa: F811
    """The notification path works across collectors: a commit elsewhere wakes nobody here, the waiter
    looks at the store every half second."""
    reader, writer = (collector_factory("--db", postgres_url) for _ in range(2))
    cursor = reader.export_page().headers["Footfall-Cursor"]
    got: list[httpx.Response] = []
    waiter = threading.Thread(target=lambda: got.append(reader.export_page(cursor=cursor, wait="30")))
    waiter.start()

    def waiting() -> bool:
        metrics = httpx.get(reader.url + "/metrics", headers={"Authorization": f"Bearer {reader.export_token}"})
        return "footfall_waiting_requests 1.0" in metrics.text

    deadline = time.monotonic() + 30
    while not waiting():  # so the message is stored while the export waits on the other collector
        assert time.monotonic() < deadline, "the export never waited"
        time.sleep(0.05)
    assert writer.send([{"type": "track", "event": "E", "userId": "u", "messageId": "elsewhere"}]).status_code == 200
    waiter.join(60)
    assert not waiter.is_alive()
    # the wait was 30 s: the page came with the message, not empty at the end of the wait
    assert [json.loads(x)["messageId"] for x in got[0].text.splitlines()] == ["elsewhere"]


def test_a_nul_character_is_rejected_not_a_failed_commit(collector_factory: Any, postgres_url: str) -> None:  # noqa: F811
    """A NUL in a text column once failed every commit on PostgreSQL, with everyone's requests in it."""
    c: Collector = collector_factory("--db", postgres_url)
    poisoned = [{"type": "track", "event": "a\u0000b", "userId": "u"},
                {"type": "track", "event": "", "userId": "x\u0000"},  # rejected, and its IDs unreadable as text
                {"type": "identify", "userId": "u", "traits": {"n\u0000": 1, "plan": "pro"}},
                {"type": "track", "event": "fine", "userId": "u", "messageId": "fine"}]  # fmt: skip
    r = c.send(poisoned)
    assert r.status_code == 200, r.text
    assert [x["index"] for x in r.json()["rejected"]] == [0, 1] and "NUL" in r.json()["rejected"][0]["reason"]
    assert "fine" in {m["messageId"] for m in c.export()}
    assert httpx.get(c.url + "/healthz").json()["status"] == "ok"
    assert c.admin_get("/v1/profiles/u").json()["traits"]["plan"]["value"] == "pro"


def test_moving_up_from_sqlite_export_then_import_into_postgresql(
    collector_factory: Any,
    postgres_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    """What the README gives as the way to move up: export from the SQLite collector, `footfall import` into
    PostgreSQL while a collector runs on it (through it, then directly); the same messages and profiles
    there, and again nothing twice."""
    from tests.collector.conftest import footfall
    from tests.collector.test_imports import comparable, counts, send_variety

    old: Collector = collector_factory()
    send_variety(old)
    out = tmp_path / "events.ndjson"
    done = footfall("export", "--url", old.url, "--export-token", old.export_token, "--out", str(out))
    assert done.returncode == 0, done.stderr
    new: Collector = collector_factory("--db", postgres_url)
    # Through the collector on PostgreSQL (its writer), then straight into the database: nothing twice.
    for expected_new, how in ((7, ("--url", new.url, "--server-key", new.server_key)), (0, ())):
        done = footfall("import", "--db", postgres_url, *how, str(out), timeout=120)
        assert done.returncode == 0, done.stderr
        assert ("importing through the collector" in done.stderr) == bool(how)
        assert counts(done.stdout)["stored"] == expected_new and counts(done.stdout)["rejected"] == 0
    assert comparable(new.export()) == comparable(old.export())
    assert new.admin_get("/v1/profiles/buyer").json() == old.admin_get("/v1/profiles/buyer").json()
