"""Caches keyed by client text stay bounded in bytes: long keys are worked out, not remembered."""

from __future__ import annotations

from collections.abc import Callable

from collector.enrich import campaign, device
from collector.enrich.memo import MAX_KEY, memo
from tests.collector.conftest import App


def test_only_short_keys_are_remembered() -> None:
    calls: list[str] = []

    @memo(10)
    def length(text: str) -> int:
        calls.append(text)
        return len(text)

    short, long = "a" * MAX_KEY, "b" * (MAX_KEY + 1)
    assert [length(short), length(short), length(long), length(long)] == [MAX_KEY, MAX_KEY, MAX_KEY + 1, MAX_KEY + 1]
    assert calls == [short, long, long]  # the short one once, the long one every time
    assert length.cache_info().currsize == 1  # type: ignore[attr-defined]


def test_unique_long_urls_and_user_agents_do_not_grow_the_caches() -> None:
    """Unique 28 KB page URLs and 60 KB User-Agents once grew memory by hundreds of megabytes."""
    before = (campaign.campaign.cache_info().currsize, device.parse_user_agent.cache_info().currsize)  # type: ignore[attr-defined]
    for i in range(200):
        campaign.campaign(f"https://shop.example/?utm_source=x&pad={i}{'p' * 28_000}")
        campaign.referrer(f"https://ref.example/{i}{'r' * 28_000}", "https://shop.example/", None)
    for i in range(20):
        device.parse_user_agent(f"Mozilla/5.0 (X11; Linux x86_64) Firefox/{i} " + "u" * 60_000)
    after = (campaign.campaign.cache_info().currsize, device.parse_user_agent.cache_info().currsize)  # type: ignore[attr-defined]
    assert after == before


def test_a_huge_user_agent_is_cut_before_it_is_parsed(app_factory: Callable[..., App]) -> None:
    from collector.enrich import MAX_USER_AGENT

    c = app_factory()
    ua = "Mozilla/5.0 (X11; Linux x86_64) Firefox/125.0 " + "x" * 4_000_000
    r = c.client.post("/v1/track", json={"type": "track", "event": "E", "anonymousId": "a"},
                      auth=(c.write_key, ""), headers={"User-Agent": ua})  # fmt: skip
    assert r.status_code == 200, r.text
    stored = c.export()[0]["context"]
    assert stored["userAgent"] == ua[:MAX_USER_AGENT] and stored["browser"]["name"] == "Firefox"
