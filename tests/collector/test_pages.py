"""The page at `/` and the live view's server side (pages.py), on the real server; the browser tests are in
tests/js/test_live_view.py."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import Collector


def test_behind_a_trusted_proxy_the_snippet_and_redirects_keep_https(collector_factory: Any) -> None:
    """Found in review: behind nginx (TLS) the snippet said http:// and /live redirected to http://."""
    c: Collector = collector_factory("--trusted-proxies", "127.0.0.1")
    proxied = {"Host": "collect.example.com", "X-Forwarded-Proto": "https"}
    home = httpx.get(c.url + "/", headers=proxied)
    assert "https://collect.example.com/footfall.js" in home.text
    live = httpx.get(c.url + "/live", headers=proxied)
    assert live.status_code == 307 and live.headers["location"] == "/live/"  # relative: the scheme stays
    untrusted = collector_factory()  # without a trusted proxy, the header is not believed
    assert "http://collect.example.com/footfall.js" in httpx.get(untrusted.url + "/", headers=proxied).text


def test_a_new_export_token_ends_the_live_sessions_of_the_old(collector_factory: Any, tmp_path: Path) -> None:
    """Found in review: a live-view session outlived a rotation of a leaked token."""
    data = tmp_path / "d"
    old = collector_factory("--export-token", "ex_old_token_1234", data_dir=data)
    with httpx.Client(base_url=old.url) as browser:
        assert browser.post("/live/login", data={"token": "ex_old_token_1234"}).status_code == 303
        old.send([{"type": "identify", "userId": "u-x", "traits": {"a": 1}}])
        assert browser.get("/live/profile/u-x").status_code == 200
        cookie = browser.cookies.get("ff_live")
    old.stop()
    new = collector_factory("--export-token", "ex_new_token_5678", data_dir=data, port=old.port)
    with httpx.Client(base_url=new.url, cookies={"ff_live": cookie or ""}) as browser:
        assert browser.get("/live/profile/u-x").status_code == 401


def test_sign_in_tries_are_limited_per_address(collector: Collector) -> None:
    """Found in review: 300 wrong tokens took 1.5 s."""
    with httpx.Client(base_url=collector.url) as browser:
        codes = [browser.post("/live/login", data={"token": f"guess-{i}"}).status_code for i in range(12)]
        assert codes[:10] == [401] * 10 and codes[10:] == [429, 429]
        assert browser.post("/live/login", data={"token": collector.export_token}).status_code == 429  # even right


def test_open_live_streams_are_bounded_and_a_closed_one_frees_its_place(collector: Collector) -> None:
    """Found in review: every open /live/events stream looked at the store four times a second, with no
    bound on how many were open."""
    from collector.pages import MAX_STREAMS

    limits = httpx.Limits(max_connections=MAX_STREAMS + 5)
    with httpx.Client(base_url=collector.url, limits=limits, timeout=10) as browser, ExitStack() as streams:
        assert browser.post("/live/login", data={"token": collector.export_token}).status_code == 303
        opened = []
        for _ in range(MAX_STREAMS):
            stream = streams.enter_context(browser.stream("GET", "/live/events"))
            assert stream.status_code == 200
            chunks = stream.iter_raw()  # kept: a dropped iterator closes its connection when collected
            assert next(chunks).startswith(b"event: hello")
            opened.append((stream, chunks))
        refused = browser.get("/live/events")
        assert refused.status_code == 503 and "live views" in refused.json()["error"]
        assert refused.headers["retry-after"]
        opened[0][0].close()  # the server sees the client go and gives its place back
        deadline = time.monotonic() + 10
        while (code := _status_of_one_more(browser)) == 503 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert code == 200


def _status_of_one_more(browser: httpx.Client) -> int:
    with browser.stream("GET", "/live/events") as stream:
        return stream.status_code
