"""What a person sees, in Chromium: the page at `/` and the live view (sign-in, stream, profile lookup).

Screenshots go to artifacts/screenshots/ (not committed) for a person to look at.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.conftest import Collector

SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_the_home_page_gives_the_snippet_and_no_secret(page: Page, collector: Collector) -> None:
    page.goto(collector.url + "/")
    expect(page.locator("h1")).to_have_text("Footfall collector")
    expect(page.locator("#status")).to_contain_text("ok")
    snippet = page.locator("#snippet").inner_text()
    assert f'data-write-key="{collector.write_key}"' in snippet and f"{collector.url}/footfall.js" in snippet
    content = page.content()
    assert collector.server_key not in content and collector.export_token not in content
    shot(page, "home")


def test_the_live_view_shows_messages_as_they_arrive_and_profiles(page: Page, collector: Collector) -> None:
    c = collector
    page.goto(c.url + "/live")
    page.fill("#token", "not-the-token")
    page.click("button[type=submit]")
    expect(page.locator("#error")).to_contain_text("not this collector's export token")
    assert c.export_token not in page.url
    page.fill("#token", c.export_token)
    page.click("button[type=submit]")
    expect(page.locator("#state")).to_have_text("connected", timeout=20_000)
    assert c.export_token not in page.url  # the token lives in the session cookie, never in the URL

    c.send([{"type": "page", "anonymousId": "visitor-9", "properties": {"path": "/shoes"}},
            {"type": "identify", "anonymousId": "visitor-9", "userId": "ada", "traits": {"email": "ada@example.com"}},
            {"type": "track", "event": "Order Completed", "userId": "ada", "properties": {
                "order_id": "o-1", "total": 59.9, "currency": "EUR"}}])  # fmt: skip
    c.send([{"type": "track", "event": "", "userId": "ada"}])  # rejected: the live view shows why
    messages = page.locator("#messages li")
    expect(messages).to_have_count(3, timeout=20_000)
    expect(page.locator("#messages")).to_contain_text("Order Completed")
    expect(page.locator("#rejected")).to_contain_text("`event` is empty", timeout=20_000)
    expect(page.locator("#counts")).to_contain_text("track")

    page.fill("#lookup input", "ada")
    page.click("#lookup button")
    summary = page.locator("#profile-summary")
    expect(summary).to_contain_text("visitor-9")
    expect(summary).to_contain_text("59.9 EUR")
    shot(page, "live")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: one column
    shot(page, "live-phone")
    page.set_viewport_size({"width": 1280, "height": 720})

    page.fill("#filters input[name=event]", "Order Completed")
    page.click("#filters button")
    expect(page.locator("#state")).to_have_text("connected", timeout=20_000)
    c.send([{"type": "track", "event": "Order Completed", "userId": "bob", "properties": {
        "order_id": "o-2", "total": 5, "currency": "USD"}}, {"type": "page", "anonymousId": "x"}])  # fmt: skip
    expect(page.locator("#messages")).to_contain_text("bob", timeout=20_000)


def test_the_stream_and_profiles_refuse_strangers(page: Page, collector: Collector) -> None:
    for path in ("/live/events", "/live/profile/ada"):
        response = page.request.get(collector.url + path)
        assert response.status == 401
