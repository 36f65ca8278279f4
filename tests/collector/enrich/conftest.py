"""What the enrichment tests share: a table of User-Agents, a GeoIP database with known answers, a page view."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from mmdb_writer import MmdbF64, MMDBWriter
from netaddr import IPSet

from tests.collector.conftest import App
from tests.conftest import Collector

DATA = Path(__file__).parent.parent.parent / "data" / "geoip"

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

LONDON = {"countryCode": "GB", "country": "United Kingdom", "regionCode": "ENG", "region": "England",
          "city": "London", "latitude": 51.5142, "longitude": -0.0931, "timeZone": "Europe/London"}  # fmt: skip


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


def post(c: App | Collector, path: str, **kw: Any) -> httpx.Response:
    """POST to the in-process app or to the real server alike."""
    return c.client.post(path, **kw) if isinstance(c, App) else httpx.post(c.url + path, **kw)


def browser_page(c: App | Collector, headers: dict[str, str] | None = None, **msg: Any) -> dict[str, Any]:
    """Send a page view with the browser key; the message as stored."""
    body = {"batch": [{"type": "page", "anonymousId": "a1", **msg}]}
    r = post(c, "/v1/batch", params={"writeKey": c.write_key}, json=body, headers=headers or {})
    assert r.status_code == 200, r.text
    return c.export()[-1]
