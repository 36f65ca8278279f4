"""Location from an IP with a MaxMind database, on the real server (the address comes through a trusted
proxy at the socket; the once-only notice is in the server's log)."""

from __future__ import annotations

from typing import Any

from tests.collector.enrich.conftest import DATA, browser_page
from tests.conftest import Collector


def test_maxmind_test_databases(collector_factory: Any) -> None:
    c = collector_factory("--geoip-db", str(DATA / "GeoLite2-City-Test.mmdb"), "--trusted-proxies", "127.0.0.1",
                          "--ip-policy", "drop")  # fmt: skip
    got = browser_page(c, {"X-Forwarded-For": "81.2.69.142"})["context"]
    assert (got["location"]["countryCode"], got["location"]["city"]) == ("GB", "London") and "ip" not in got
    c2 = collector_factory("--geoip-db", str(DATA / "GeoLite2-Country-Test.mmdb"), "--trusted-proxies", "127.0.0.1")
    got = browser_page(c2, {"X-Forwarded-For": "2001:218::1"})["context"]["location"]
    assert got["countryCode"] == "JP" and "city" not in got


def test_without_a_database_it_runs_and_says_so_once(collector: Collector) -> None:
    got = browser_page(collector)
    assert "location" not in got["context"]
    browser_page(collector)
    assert collector.log().count("no --geoip-db configured") == 1
