"""Rate limits: token buckets per client IP and per write key (collector/ratelimit.py)."""

from __future__ import annotations

from typing import Any

import pytest


def test_one_client_at_full_speed_does_not_starve_another(collector_factory: Any) -> None:
    import httpx

    c = collector_factory(
        "--rate-limit-per-ip", "5", "--rate-limit-per-ip-burst", "5", "--trusted-proxies", "127.0.0.1"
    )
    msg = {"type": "track", "event": "E", "anonymousId": "a"}

    def post(ip: str, key: str) -> httpx.Response:
        return httpx.post(c.url + "/v1/track", json=msg, auth=(key, ""), headers={"X-Forwarded-For": ip})

    greedy = [post("203.0.113.1", c.write_key) for _ in range(12)]
    refused = [r for r in greedy if r.status_code == 429]
    assert refused and all(r.status_code in (200, 429) for r in greedy)
    assert int(refused[0].headers["Retry-After"]) >= 1 and "rate_limit_per_ip" in refused[0].json()["error"]
    assert post("203.0.113.2", c.write_key).status_code == 200  # another visitor is not held back
    assert all(post("203.0.113.1", c.server_key).status_code == 200 for _ in range(12))  # servers: no IP limit
    assert httpx.get(c.url + "/healthz").json()["counters"]["rate_limited"] == len(refused)


def test_a_write_key_can_be_limited_too(collector_factory: Any) -> None:
    c = collector_factory("--rate-limit-per-key", "1", "--rate-limit-per-key-burst", "2")
    codes = [c.send([{"type": "track", "event": "E", "userId": "u"}]).status_code for _ in range(4)]
    assert codes[:2] == [200, 200] and 429 in codes[2:]


def test_token_buckets_refill_and_forget_the_oldest() -> None:
    from collector.ratelimit import TokenBuckets

    now = [0.0]
    buckets = TokenBuckets(2.0, 3.0, max_keys=2, clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)  # one token comes in half a second
    now[0] = 0.5
    assert buckets.take("a") == 0.0
    buckets.take("b")
    buckets.take("c")  # "a" is forgotten: memory stays bounded, and "a" comes back with a full bucket
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]


def test_a_request_costs_more_with_more_messages_and_failing_ones_count(collector_factory: Any) -> None:
    """Found in review: the buckets counted requests (2,500 messages cost as much as one), and only
    requests that got as far as a valid body."""
    import httpx

    c = collector_factory("--rate-limit-per-ip", "1", "--rate-limit-per-ip-burst", "30")
    many = [{"type": "track", "event": "E", "anonymousId": "a"}] * 580  # 1 + 29 tokens: the whole burst
    first = httpx.post(c.url + "/v1/batch", json={"batch": many}, auth=(c.write_key, ""))
    assert first.status_code == 200, first.text
    assert httpx.post(c.url + "/v1/track", json=many[0], auth=(c.write_key, "")).status_code == 429
    other = collector_factory("--rate-limit-per-ip", "1", "--rate-limit-per-ip-burst", "5")
    codes = [httpx.post(other.url + "/v1/track", json=many[0], auth=("not-a-key", "")).status_code for _ in range(8)]
    assert codes[:5] == [401] * 5 and 429 in codes[5:]  # bad keys spend the bucket too


def test_ipv6_clients_are_limited_by_their_64() -> None:
    import ipaddress

    from collector.config import Settings
    from collector.ratelimit import RateLimits

    limits = RateLimits(Settings(rate_limit_per_ip=1, rate_limit_per_ip_burst=3))
    refused = [limits.check_address("browser", ipaddress.ip_address(f"2001:db8:1:2::{i:x}")) for i in range(10)]
    assert refused[:3] == [None] * 3 and all(r is not None for r in refused[3:])  # one /64, one bucket
    assert limits.check_address("browser", ipaddress.ip_address("2001:db8:1:3::1")) is None
    assert limits.check_address("server", ipaddress.ip_address("2001:db8:1:2::1")) is None


def test_the_browser_key_is_never_limited_as_a_whole(collector_factory: Any) -> None:
    """Found in review: a per-key limit on the public key let anyone block every visitor."""
    import httpx

    c = collector_factory("--rate-limit-per-key", "1", "--rate-limit-per-key-burst", "1", "--rate-limit-per-ip", "0")
    codes = {httpx.post(c.url + "/v1/track", json={"type": "track", "event": "E", "anonymousId": "a"},
                        auth=(c.write_key, "")).status_code for _ in range(5)}  # fmt: skip
    assert codes == {200}
