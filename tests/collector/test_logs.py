"""Logging: the access log (on the real server, uvicorn's) never holds a write key."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.conftest import Collector


def test_the_access_log_never_writes_a_write_key(collector_factory: Any) -> None:
    c: Collector = collector_factory("--access-log")
    r = httpx.post(f"{c.url}/v1/track?writeKey={c.write_key}&x=1", content=b'{"event":"E","userId":"u"}')
    assert r.status_code == 200, r.text
    c.send([{"type": "track", "event": "sentinel", "userId": "u"}])  # logged after the request above
    log = c.log()
    assert re.search(r"POST /v1/track\?writeKey=\[redacted\]&x=1 ", log), log
    requests = [line for line in log.splitlines() if '"POST ' in line]
    assert len(requests) == 2 and not [line for line in requests if c.write_key in line], requests
