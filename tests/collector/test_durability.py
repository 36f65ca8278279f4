"""An acknowledged message survives kill -9 of the collector."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from tests.conftest import Collector


def test_acknowledged_messages_survive_sigkill(collector_factory: Any) -> None:
    c: Collector = collector_factory()
    acknowledged: list[str] = []
    stop = threading.Event()

    def send(worker: int) -> None:
        with httpx.Client(auth=(c.server_key, ""), timeout=5) as client:
            n = 0
            while not stop.is_set():
                batch = [{"type": "track", "event": "e", "userId": "u", "messageId": f"w{worker}-{n}-{i}"}
                         for i in range(10)]  # fmt: skip
                n += 1
                try:
                    r = client.post(c.url + "/v1/batch", json={"batch": batch})
                except httpx.HTTPError:
                    return  # the collector died under us: this batch was never acknowledged
                if r.status_code == 200:
                    acknowledged.extend(m["messageId"] for m in batch)

    threads = [threading.Thread(target=send, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 2000:
        assert time.monotonic() < deadline, f"only {len(acknowledged)} messages acknowledged before the deadline"
        time.sleep(0.01)
    c.kill()
    stop.set()
    for t in threads:
        t.join(timeout=30)
        assert not t.is_alive()
    c.start()
    stored = {m["messageId"] for m in c.export()}
    missing = [m for m in acknowledged if m not in stored]
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged messages lost"
