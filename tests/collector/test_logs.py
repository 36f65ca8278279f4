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


def test_the_access_log_writes_client_addresses_as_they_are_stored(collector_factory: Any) -> None:
    c: Collector = collector_factory("--access-log")
    c.send([{"type": "track", "event": "sentinel", "userId": "u"}])
    requests = [line for line in c.log().splitlines() if '"POST ' in line]
    assert requests and all("127.0.0.0 - " in line and "127.0.0.1" not in line for line in requests), requests


def test_json_logs_are_one_object_a_line_and_hold_no_secret(collector_factory: Any) -> None:
    import json

    c: Collector = collector_factory("--access-log", "--log-format", "json")
    r = httpx.post(f"{c.url}/v1/track?writeKey={c.write_key}", content=b'{"event":"E","userId":"u@example.com"}')
    assert r.status_code == 200
    c.send([{"type": "track", "event": "sentinel", "userId": "u"}])
    lines = [json.loads(line) for line in c.log().splitlines() if line.strip()]  # every line is JSON
    assert {"time", "level", "logger", "message"} <= lines[0].keys()
    assert any("POST /v1/track?writeKey=[redacted]" in line["message"] for line in lines)
    text = c.log()
    for secret in (c.server_key, c.export_token, "cookie-secret", "u@example.com"):  # the browser key is public
        assert secret not in text


def test_logged_paths_hold_no_keys_and_no_ids_of_people() -> None:
    """Found in review: encoded parameter names, `;` separators and admin paths let keys and IDs through."""
    from collector.logs import redact_query

    assert redact_query("/v1/track?write%4Bey=sk_secret&x=1") == "/v1/track?write%4Bey=[redacted]&x=1"
    assert redact_query("/v1/track?x=1;writeKey=sk_secret") == "/v1/track?x=1&writeKey=[redacted]"
    assert redact_query("/v1/profiles/alice%40example.com") == "/v1/profiles/[redacted]"
    assert redact_query("/v1/users/bob?suppress=true") == "/v1/users/[redacted]?suppress=true"
    assert redact_query("/live/events?id=ada&type=track") == "/live/events?id=[redacted]&type=track"
    assert (
        redact_query("/v1/export?userId=a&limit=3&cursor=djE6")
        == "/v1/export?userId=[redacted]&limit=3&cursor=[redacted]"
    )
