"""SQLite-only behaviour: the WAL stays bounded under steady load with a reader pulling throughout."""

from __future__ import annotations

import os
import threading
from typing import Any

import httpx

from tests.conftest import Collector


def test_the_wal_stays_bounded_under_steady_ingest_and_export(collector_factory: Any) -> None:
    """At 100 requests/s the WAL once grew from 64 MB to 559 MB in 40 s: checkpoints never finished."""
    c: Collector = collector_factory("--wal-limit-mb", "1")
    wal = c.data_dir / "footfall.db-wal"
    done = threading.Event()
    sizes: list[int] = []
    pad = "x" * 1000

    def send(worker: int) -> None:
        with httpx.Client(auth=(c.server_key, ""), timeout=30) as client:
            for i in range(150):  # 4 senders x 150 x 20 messages of about 1 KB: about 12 MB written
                batch = [{"type": "track", "event": "E", "userId": f"u{j}", "properties": {"pad": pad},
                          "messageId": f"w{worker}-{i}-{j}"} for j in range(20)]  # fmt: skip
                assert client.post(c.url + "/v1/batch", json={"batch": batch}).status_code == 200
                sizes.append(os.stat(wal).st_size if wal.exists() else 0)

    def pull() -> None:
        cursor = None
        while not done.is_set():
            r = c.export_page(limit=500, **({"cursor": cursor} if cursor else {}))
            cursor = r.headers["Footfall-Cursor"]

    senders = [threading.Thread(target=send, args=(w,)) for w in range(4)]
    reader = threading.Thread(target=pull)
    for t in [*senders, reader]:
        t.start()
    for t in senders:
        t.join(300)
    done.set()
    reader.join(60)
    assert not any(t.is_alive() for t in [*senders, reader])
    assert len(c.export()) == 4 * 150 * 20
    assert max(sizes) < 6 * 1024 * 1024, f"the WAL reached {max(sizes):,} bytes with a 1 MB limit"
