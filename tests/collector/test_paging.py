"""Paging: the cursor codec and the `limit` parser, on every NDJSON pull, in process."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.collector.conftest import App
from tests.conftest import Collector


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({"cursor": "garbage"}, "`cursor` is not one this collector gave out"),
        ({"limit": "0"}, "`limit` must be a whole number from 1 to 10000"),
        ({"limit": "abc"}, "`limit`"),
    ],
)
def test_bad_cursor_or_limit_is_400(app: App, params: dict[str, str], text: str) -> None:
    r = app.export_page(**params)
    assert r.status_code == 400 and text in r.json()["error"]


@pytest.mark.parametrize("path", ["/v1/export", "/v1/quarantine", "/v1/links", "/v1/profiles"])
@pytest.mark.parametrize(
    "query",
    ["limit=%C2%B2", "cursor=" + base64.urlsafe_b64encode(b"v1:" + b"9" * 40).decode(), "cursor=%C3%A9", "cursor=@@"],
)
def test_odd_admin_queries_are_400(app: App, path: str, query: str) -> None:
    """Found in review: each once gave a 500."""
    r = app.admin("GET", f"{path}?{query}")
    assert r.status_code == 400, (r.status_code, r.text)
    assert r.json()["error"]


# --- security: what a stranger can and cannot do -------------------------------------------------
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
    # a character inside the signature (the last one of base64 may carry only padding bits)
    edited = good[:-5] + ("A" if good[-5] != "A" else "B") + good[-4:]
    assert collector.admin_get(path, cursor=edited).status_code == 400


def test_profiles_cursor_is_authenticated_too(collector: Collector) -> None:
    _fill(collector, 1)
    forged = base64.urlsafe_b64encode(b"u1:").decode().rstrip("=")
    assert collector.admin_get("/v1/profiles", cursor=forged).status_code == 400


def test_cursors_survive_a_secret_rotation_and_not_a_foreign_secret(collector_factory: Any, tmp_path: Any) -> None:
    old = collector_factory("--cookie-secret", "old-secret-0123456", data_dir=tmp_path / "d")
    _fill(old, 4)
    cursor = old.admin_get("/v1/export", limit=2).headers["Footfall-Cursor"]
    old.stop()
    rotated = collector_factory("--cookie-secret", "old-secret-0123456,new-secret-0123456", data_dir=tmp_path / "d")
    r = rotated.admin_get("/v1/export", cursor=cursor)
    assert r.status_code == 200 and len(r.text.splitlines()) == 2
    rotated.stop()
    foreign = collector_factory("--cookie-secret", "someone-else-01234", data_dir=tmp_path / "d")
    assert foreign.admin_get("/v1/export", cursor=cursor).status_code == 400


def test_a_cursor_of_one_pull_is_refused_by_another(collector: Collector) -> None:
    """Found in review: a quarantine or links cursor given to the export started it at the wrong place."""
    _fill(collector, 3)
    collector.send([{"type": "identify", "anonymousId": "a", "userId": "u"}, {"type": "track", "event": ""}])
    cursors = {path: collector.admin_get(path, limit=1).headers["Footfall-Cursor"]
               for path in ("/v1/export", "/v1/quarantine", "/v1/links")}  # fmt: skip
    for given, cursor in cursors.items():
        for path in cursors:
            status = collector.admin_get(path, cursor=cursor).status_code
            assert status == (200 if path == given else 400), (given, path)
