"""Which IP a request came from (the socket peer, or forwarding headers from trusted proxies) and how much
of it is kept. The request tests need the real server: the peer address comes from its socket."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest

from collector.enrich.network import client_ip, parse_ip, stored_ip
from tests.collector.enrich.conftest import LONDON, browser_page


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
    nets = [ipaddress.ip_network(t) for t in trusted]
    assert str(client_ip(peer, xff, fwd, nets)) == expected


def test_stored_ip_policies() -> None:
    v4, v6 = parse_ip("81.2.69.142"), parse_ip("2001:db8:abcd:12:1:2:3:4")
    assert stored_ip(v4, "truncate") == "81.2.69.0" and stored_ip(v6, "truncate") == "2001:db8:abcd::"
    assert stored_ip(v4, "keep") == "81.2.69.142" and stored_ip(v4, "drop") is None


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
