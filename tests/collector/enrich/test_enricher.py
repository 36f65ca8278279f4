"""The Enricher as a whole (enrich/__init__.py), in process: what a backend may say, and switching it off."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.collector.conftest import App
from tests.collector.enrich.conftest import UA_TABLE, browser_page


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
