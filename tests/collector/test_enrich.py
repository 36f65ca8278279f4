"""Enrichment: device, location, which IP, bots, campaign/referrer and time, through the real server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from mmdb_writer import MmdbF64, MMDBWriter
from netaddr import IPSet

from collector.enrich.device import parse_user_agent
from collector.enrich.network import client_ip, parse_ip, stored_ip
from tests.conftest import Collector

DATA = Path(__file__).parent.parent / "data" / "geoip"

UA_TABLE = [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
     "Safari/537.36", "desktop", "Windows", "Chrome", None),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 "
     "Safari/605.1.15", "desktop", "Mac OS X", "Safari", "Apple"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0", "desktop", "Windows",
     "Firefox", None),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.5 Mobile/15E148 Safari/604.1", "mobile", "iOS", "Mobile Safari", "Apple"),
    ("Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile "
     "Safari/537.36", "mobile", "Android", "Chrome Mobile", "Samsung"),
    ("Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 "
     "Mobile/15E148 Safari/604.1", "tablet", "iOS", "Mobile Safari", "Apple"),
    ("Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
     "Safari/537.36", "tablet", "Android", "Chrome", None),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot", "Other", "Googlebot", None),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "bot", "Other", "bingbot", None),
    ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", "bot", "Other", "AhrefsBot", None),
    ("curl/8.5.0", "bot", "Other", "curl", None),
    ("python-requests/2.31.0", "bot", "Other", "Python Requests", None),
    ("Go-http-client/1.1", "bot", "Other", "Go-http-client", None),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 "
     "Safari/537.36", "bot", "Linux", "HeadlessChrome", None),
    ("Mozilla/5.0 (Linux; Android 10; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.230 Mobile "
     "Safari/537.36", "mobile", "Android", "Chrome Mobile", None),
]  # fmt: skip


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
    from collector.enrich.device import is_http_library

    assert is_http_library(ua)
    if ua:
        got = parse_user_agent(ua)
        assert got["device"]["type"] == "bot" and got["bot"] is True, got


def test_browsers_are_not_http_libraries() -> None:
    from collector.enrich.device import is_http_library

    assert not [ua for ua, kind, *_ in UA_TABLE if kind != "bot" and is_http_library(ua)]


@pytest.mark.parametrize(
    ("peer", "xff", "fwd", "trusted", "expected"),
    [
        ("203.0.113.9", "81.2.69.142", None, [], "203.0.113.9"),  # untrusted peer: headers ignored
        ("10.0.0.2", "81.2.69.142", None, ["10.0.0.0/8"], "81.2.69.142"),
        ("10.0.0.2", "6.6.6.6, 81.2.69.142, 10.0.0.7", None, ["10.0.0.0/8"], "81.2.69.142"),  # spoofed left hop
        ("10.0.0.2", None, 'for=81.2.69.142;proto=https, for="10.0.0.3"', ["10.0.0.0/8"], "81.2.69.142"),
        ("10.0.0.2", None, 'for="[2001:db8::7]:4711"', ["10.0.0.0/8"], "2001:db8::7"),
        ("::ffff:10.0.0.2", "::ffff:81.2.69.142", None, ["10.0.0.0/8"], "81.2.69.142"),  # mapped, both sides
        ("10.0.0.2", "not-an-ip, 10.0.0.9", None, ["10.0.0.0/8"], "10.0.0.9"),
    ],
)
def test_client_ip(peer: str, xff: str | None, fwd: str | None, trusted: list[str], expected: str) -> None:
    import ipaddress

    nets = [ipaddress.ip_network(t) for t in trusted]
    assert str(client_ip(peer, xff, fwd, nets)) == expected


def test_stored_ip_policies() -> None:
    v4, v6 = parse_ip("81.2.69.142"), parse_ip("2001:db8:abcd:12:1:2:3:4")
    assert stored_ip(v4, "truncate") == "81.2.69.0" and stored_ip(v6, "truncate") == "2001:db8:abcd::"
    assert stored_ip(v4, "keep") == "81.2.69.142" and stored_ip(v4, "drop") is None


@pytest.fixture(scope="module")
def city_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A GeoLite2-City-shaped database written here, with known answers."""
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-City", languages=["en"])
    writer.insert_network(IPSet(["81.2.69.0/24"]), {
        "country": {"iso_code": "GB", "names": {"en": "United Kingdom"}},
        "subdivisions": [{"iso_code": "ENG", "names": {"en": "England"}}],
        "city": {"names": {"en": "London"}},
        "location": {"latitude": MmdbF64(51.5142), "longitude": MmdbF64(-0.0931), "time_zone": "Europe/London"},
    })  # fmt: skip
    writer.insert_network(IPSet(["2a02:8070::/32"]), {
        "country": {"iso_code": "DE", "names": {"en": "Germany"}},
        "city": {"names": {"en": "Berlin"}},
        "location": {"latitude": MmdbF64(52.52), "longitude": MmdbF64(13.405), "time_zone": "Europe/Berlin"},
    })  # fmt: skip
    path = tmp_path_factory.mktemp("geo") / "city.mmdb"
    writer.to_db_file(str(path))
    return path


def browser_page(c: Collector, headers: dict[str, str] | None = None, **msg: Any) -> dict[str, Any]:
    body = {"batch": [{"type": "page", "anonymousId": "a1", **msg}]}
    r = httpx.post(c.url + "/v1/batch", params={"writeKey": c.write_key}, json=body, headers=headers or {})
    assert r.status_code == 200, r.text
    return c.export()[-1]


LONDON = {"countryCode": "GB", "country": "United Kingdom", "regionCode": "ENG", "region": "England",
          "city": "London", "latitude": 51.5142, "longitude": -0.0931, "timeZone": "Europe/London"}  # fmt: skip


def test_location_through_a_trusted_proxy(collector_factory: Any, city_db: Path) -> None:
    c = collector_factory("--geoip-db", str(city_db), "--trusted-proxies", "127.0.0.1")
    got = browser_page(c, {"X-Forwarded-For": "81.2.69.142"})
    assert got["context"]["location"] == LONDON
    assert got["context"]["ip"] == "81.2.69.0"
    got = browser_page(c, {"Forwarded": 'for="[2a02:8070:1:2::5]"'})
    assert got["context"]["location"]["city"] == "Berlin" and got["context"]["ip"] == "2a02:8070:1::"
    got = browser_page(c, {"X-Forwarded-For": "::ffff:81.2.69.142"})
    assert got["context"]["location"]["city"] == "London"


def test_untrusted_forwarding_headers_are_ignored(collector_factory: Any, city_db: Path) -> None:
    c = collector_factory("--geoip-db", str(city_db))
    got = browser_page(c, {"X-Forwarded-For": "81.2.69.142"}, context={"ip": "81.2.69.142"})
    assert "location" not in got["context"]
    assert got["context"]["ip"] == "127.0.0.0"  # the socket peer, truncated; the browser's own claim ignored


def test_server_key_may_say_the_ip(collector_factory: Any, city_db: Path) -> None:
    c = collector_factory("--geoip-db", str(city_db), "--ip-policy", "keep")
    c.send([{"type": "track", "event": "Paid", "userId": "u", "context": {"ip": "81.2.69.142",
            "userAgent": UA_TABLE[3][0]}}])  # fmt: skip
    got = c.export()[0]["context"]
    assert got["ip"] == "81.2.69.142" and got["location"]["city"] == "London"
    assert got["device"] == {"type": "mobile", "brand": "Apple", "model": "iPhone"}
    c.send([{"type": "track", "event": "Paid", "userId": "u"}])
    assert "context" not in c.export()[1]  # no IP or UA said: nothing made up (the peer is the backend)


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


def test_browser_device_comes_from_the_request(collector: Collector) -> None:
    got = browser_page(collector, {"User-Agent": UA_TABLE[5][0]})["context"]
    assert got["userAgent"] == UA_TABLE[5][0]
    assert got["device"]["type"] == "tablet" and got["os"]["name"] == "iOS" and "bot" not in got


def test_bots_flagged_or_dropped(collector_factory: Any) -> None:
    c = collector_factory()
    assert browser_page(c, {"User-Agent": "curl/8.5.0"})["context"]["bot"] is True
    d = collector_factory("--bots", "drop")
    body = {"batch": [{"type": "page", "anonymousId": "a"}]}
    r = httpx.post(d.url + "/v1/batch", params={"writeKey": d.write_key}, json=body,
                   headers={"User-Agent": UA_TABLE[7][0]})  # fmt: skip
    assert r.status_code == 200 and r.json()["dropped"] == 1 and r.json()["accepted"] == 0
    assert d.export() == []
    assert httpx.get(d.url + "/healthz").json()["counters"]["bots_dropped"] == 1


def test_campaign_and_referrer(collector: Collector) -> None:
    url = "https://shop.example/sale?utm_source=newsletter&utm_medium=email&utm_campaign=black-friday&gclid=abc&x=1"
    got = browser_page(collector, context={"page": {"url": url, "referrer": "https://www.google.com/search?q=x"},
                                           "campaign": {"source": "set-by-client"}})["context"]  # fmt: skip
    assert got["campaign"] == {"source": "set-by-client", "medium": "email", "name": "black-friday", "gclid": "abc"}
    assert got["referrer"] == {"url": "https://www.google.com/search?q=x", "host": "google.com", "medium": "email"}
    cases = {"https://www.google.de/": "search", "https://duckduckgo.com/": "search", "https://t.co/x": "social",
             "https://www.linkedin.com/feed": "social", "https://mail.google.com/": "email",
             "https://shop.example/cart": "internal", "https://blog.example.org/": "other"}  # fmt: skip
    for ref, medium in cases.items():
        page = {"url": "https://shop.example/", "referrer": ref}
        assert browser_page(collector, properties=page)["context"]["referrer"]["medium"] == medium, ref


def test_enrichment_can_be_switched_off(collector_factory: Any) -> None:
    c = collector_factory("--no-enrich")
    got = browser_page(c, {"User-Agent": "curl/8.5.0"}, context={"page": {"url": "https://x/?utm_source=y"}})
    assert set(got["context"]) == {"page"}


def iso(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def test_timestamp_corrected_for_clock_skew(collector: Collector) -> None:
    now = datetime.now(UTC)
    client_now = now + timedelta(hours=3)  # the client's clock is 3 hours fast
    happened = client_now - timedelta(seconds=40)
    body = {"batch": [{"type": "track", "event": "e", "userId": "u", "timestamp": iso(happened)}],
            "sentAt": iso(client_now)}  # fmt: skip
    r = httpx.post(collector.url + "/v1/batch", auth=(collector.server_key, ""), json=body)
    assert r.status_code == 200
    got = collector.export()[0]
    corrected = datetime.fromisoformat(got["timestamp"])
    assert abs((corrected - (now - timedelta(seconds=40))).total_seconds()) < 5
    assert got["originalTimestamp"] == iso(happened)


def test_absurd_times_are_not_believed(collector: Collector) -> None:
    now = datetime.now(UTC)
    times = {"future": now + timedelta(days=400), "ancient": datetime(1970, 1, 1, tzinfo=UTC),
             "old": now - timedelta(days=200)}  # fmt: skip
    for name, when in times.items():
        for key in (collector.server_key, collector.write_key):
            httpx.post(collector.url + "/v1/batch", auth=(key, ""), json={"batch": [
                {"type": "track", "event": name, "anonymousId": "a", "timestamp": iso(when)}]})  # fmt: skip
    got = {(m["event"], "browser" if "ip" in m.get("context", {}) else "server"): m for m in collector.export()}

    def believed(event: str, source: str) -> bool:
        return abs((datetime.fromisoformat(got[(event, source)]["timestamp"]) - times[event]).total_seconds()) < 1

    assert not believed("future", "server") and not believed("future", "browser")
    assert not believed("ancient", "server") and not believed("ancient", "browser")
    assert believed("old", "server") and not believed("old", "browser")  # backends may import history
