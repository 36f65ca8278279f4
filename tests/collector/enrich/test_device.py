"""Device, OS, browser and the bot flag from a User-Agent; bots flagged or dropped."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from collector.enrich.device import is_http_library, parse_user_agent
from tests.collector.conftest import App
from tests.collector.enrich.conftest import UA_TABLE, browser_page


@pytest.mark.parametrize(("ua", "kind", "os_name", "browser", "brand"), UA_TABLE, ids=lambda v: str(v)[:24])
def test_user_agent_table(ua: str, kind: str, os_name: str, browser: str, brand: str | None) -> None:
    got = parse_user_agent(ua)
    assert got["device"]["type"] == kind
    assert got["os"]["name"] == os_name and got["browser"]["name"] == browser
    if brand:
        assert got["device"]["brand"] == brand
    assert got.get("bot", False) is (kind == "bot")


@pytest.mark.parametrize(
    "ua",
    ["footfall-python/0.1.0", "analytics-python/2.3.3", "analytics-node-next/1.0", "node", "undici",
     "python-httpx/0.28.1", "Java-http-client/17.0.2", "Java/1.8.0_392", "okhttp/4.12.0", "axios/1.7.2",
     "Go-http-client/2.0", ""],
)  # fmt: skip
def test_http_libraries_and_sdks_are_not_desktop_visitors(ua: str) -> None:
    assert is_http_library(ua)
    if ua:
        got = parse_user_agent(ua)
        assert got["device"]["type"] == "bot" and got["bot"] is True, got


def test_browsers_are_not_http_libraries() -> None:
    assert not [ua for ua, kind, *_ in UA_TABLE if kind != "bot" and is_http_library(ua)]


def test_browser_device_comes_from_the_request(app: App) -> None:
    got = browser_page(app, {"User-Agent": UA_TABLE[5][0]})["context"]
    assert got["userAgent"] == UA_TABLE[5][0]
    assert got["device"]["type"] == "tablet" and got["os"]["name"] == "iOS" and "bot" not in got


def test_bots_flagged_or_dropped(app_factory: Callable[..., App]) -> None:
    c = app_factory()
    assert browser_page(c, {"User-Agent": "curl/8.5.0"})["context"]["bot"] is True
    d = app_factory(bots="drop")
    body = {"batch": [{"type": "page", "anonymousId": "a"}]}
    r = d.client.post("/v1/batch", params={"writeKey": d.write_key}, json=body,
                      headers={"User-Agent": UA_TABLE[7][0]})  # fmt: skip
    assert r.status_code == 200 and r.json()["dropped"] == 1 and r.json()["accepted"] == 0
    assert d.export() == []
    assert d.client.get("/healthz").json()["counters"]["bots_dropped"] == 1
