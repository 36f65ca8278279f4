"""What a stranger can and cannot do (issue: security and privacy). Each test failed on the code before."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.conftest import Collector


def _fill(c: Collector, n: int) -> None:
    batch = [{"type": "track", "event": "E", "userId": "u", "messageId": f"m{i}"} for i in range(n)]
    assert c.send(batch).json()["accepted"] == n


@pytest.mark.parametrize("path", ["/v1/export", "/v1/quarantine", "/v1/links"])
def test_forged_or_edited_cursors_are_refused(collector: Collector, path: str) -> None:
    _fill(collector, 3)
    forged = base64.urlsafe_b64encode(b"v1:999999").decode().rstrip("=")  # past the end: was an empty page forever
    for cursor in (forged, base64.urlsafe_b64encode(b"v1:1").decode().rstrip("=")):
        r = collector.admin_get(path, cursor=cursor)
        assert r.status_code == 400 and "not one this collector gave out" in r.text, (cursor, r.text)
    first = collector.admin_get(path, limit=1)
    good = first.headers["Footfall-Cursor"]
    assert collector.admin_get(path, cursor=good).status_code == 200
    edited = good[:-1] + ("A" if good[-1] != "A" else "B")
    assert collector.admin_get(path, cursor=edited).status_code == 400


def test_profiles_cursor_is_authenticated_too(collector: Collector) -> None:
    _fill(collector, 1)
    forged = base64.urlsafe_b64encode(b"u1:").decode().rstrip("=")
    assert collector.admin_get("/v1/profiles", cursor=forged).status_code == 400


def test_cursors_survive_a_secret_rotation_and_not_a_foreign_secret(collector_factory: Any, tmp_path: Any) -> None:
    old = collector_factory("--cookie-secret", "old-secret", data_dir=tmp_path / "d")
    _fill(old, 4)
    cursor = old.admin_get("/v1/export", limit=2).headers["Footfall-Cursor"]
    old.stop()
    rotated = collector_factory("--cookie-secret", "old-secret,new-secret", data_dir=tmp_path / "d")
    r = rotated.admin_get("/v1/export", cursor=cursor)
    assert r.status_code == 200 and len(r.text.splitlines()) == 2
    rotated.stop()
    foreign = collector_factory("--cookie-secret", "someone-else", data_dir=tmp_path / "d")
    assert foreign.admin_get("/v1/export", cursor=cursor).status_code == 400


def test_the_browser_key_cannot_claim_a_user_agent_or_an_ip(collector: Collector) -> None:
    import httpx

    iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X)"
    msg = {"type": "track", "event": "E", "userId": "u", "messageId": "claims",
           "context": {"userAgent": iphone, "ip": "81.2.69.142"}}  # fmt: skip
    r = httpx.post(collector.url + "/v1/batch", json={"batch": [msg]}, auth=(collector.write_key, ""),
                   headers={"User-Agent": ""})  # fmt: skip
    assert r.status_code == 200, r.text
    stored = collector.export()[0]["context"]
    assert "userAgent" not in stored and "device" not in stored
    assert stored["ip"] == "127.0.0.0"  # the socket peer, truncated; not what the message said
    server = {**msg, "messageId": "server-claims"}  # a backend says for whom it sends
    assert collector.send([server]).status_code == 200
    kept = collector.export()[1]["context"]
    assert kept["userAgent"].startswith("Mozilla/5.0 (iPhone") and kept["ip"] == "81.2.69.0"
