"""Paging: the cursor codec and the `limit` parser, on every NDJSON pull, in process."""

from __future__ import annotations

import base64

import pytest

from tests.collector.conftest import App


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
