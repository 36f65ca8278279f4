"""The Enricher as a whole (enrich/__init__.py), in process: what a backend may say, and switching it off."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.collector.conftest import App
from tests.collector.enrich.conftest import UA_TABLE, browser_page
from tests.conftest import Collector


def test_server_key_may_say_the_ip(app_factory: Callable[..., App], city_db: Path) -> None:
    c = app_factory(geoip_db=city_db, ip_policy="keep")
    c.send([{"type": "track", "event": "Paid", "userId": "u", "context": {"ip": "81.2.69.142",
            "userAgent": UA_TABLE[3][0]}}])  # fmt: skip
    got = c.export()[0]["context"]
    assert got["ip"] == "81.2.69.142" and got["location"]["city"] == "London"
    assert got["device"] == {"type": "mobile", "brand": "Apple", "model": "iPhone"}
    c.send([{"type": "track", "event": "Paid", "userId": "u"}])
    assert "context" not in c.export()[1]  # no IP or UA said: nothing made up (the peer is the backend)


def test_enrichment_can_be_switched_off(app_factory: Callable[..., App]) -> None:
    c = app_factory(enrich=False)
    got = browser_page(c, {"User-Agent": "curl/8.5.0"}, context={"page": {"url": "https://x/?utm_source=y"}})
    assert set(got["context"]) == {"page"}


# --- security: what a stranger can and cannot do -------------------------------------------------
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
