"""The referrer: every message carries the referrer of the page view it belongs to, as Segment's
analytics.js does with `document.referrer`, and never the page's own URL. After an SPA navigation the
page view's referrer is the app's previous URL, and so is the referrer of the messages that follow it.
The collector derives `context.referrer` (url, host, medium) from `context.page.referrer`."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

from tests.conftest import Collector
from tests.js.conftest import Site, events, pages, ready, wait_for

SEARCH = "https://www.google.com/search?q=footfall+mugs"
ORDER = "{order_id: 'o-7', total: 12.5, revenue: 10, currency: 'EUR', products: [{product_id: 'p1', quantity: 1}]}"


def referrer_of(message: dict[str, Any]) -> Any:
    return message["context"]["page"].get("referrer")


def test_purchase_on_a_page_reached_from_a_search_engine(ff: Collector, site: Site, page: Page) -> None:
    page.goto(site.url + "/", referer=SEARCH)
    ready(page)
    assert page.evaluate("document.referrer") == SEARCH
    page.evaluate(f"footfall.purchase({ORDER})")
    stored = wait_for(ff, lambda ms: bool(events(ms, "Order Completed")) and len(pages(ms)) == 1)
    [order] = events(stored, "Order Completed")
    [view] = pages(stored)
    for message in (view, order):
        assert referrer_of(message) == SEARCH
        assert message["context"]["referrer"] == {"url": SEARCH, "host": "google.com", "medium": "search"}
    assert view["properties"]["referrer"] == SEARCH


def test_click_on_a_directly_opened_page_has_no_referrer(ff: Collector, site: Site, page: Page) -> None:
    page.goto(site.url + "/")
    ready(page)
    page.click("li:nth-of-type(2) button")
    page.evaluate("footfall.identify('user-3'); footfall.page('Same URL again')")
    stored = wait_for(ff, lambda ms: bool(events(ms, "Element Clicked")) and len(pages(ms)) == 2)
    [click] = events(stored, "Element Clicked")
    [ident] = [m for m in stored if m["type"] == "identify"]
    first, again = pages(stored)
    assert again["name"] == "Same URL again"
    for message in (first, click, ident, again):
        assert referrer_of(message) == "", message  # the page's own URL is not where the visitor came from
        assert "referrer" not in message["context"], message
    assert first["properties"]["referrer"] == again["properties"]["referrer"] == ""


def test_after_an_spa_navigation_messages_carry_the_previous_app_url(ff: Collector, site: Site, page: Page) -> None:
    page.goto(site.url + "/app", referer=SEARCH)
    ready(page)
    page.evaluate("footfall.track('Before Navigation')")
    page.evaluate("go('/app/products', 'Products')")
    wait_for(ff, lambda ms: len(pages(ms)) == 2)  # the navigation's page view is recorded
    page.evaluate("footfall.track('After Navigation')")
    page.evaluate("go('/app/products/1', 'A product')")
    wait_for(ff, lambda ms: len(pages(ms)) == 3)
    page.evaluate("footfall.purchase(" + ORDER + ")")
    stored = wait_for(ff, lambda ms: bool(events(ms, "Order Completed")) and bool(events(ms, "After Navigation")))
    views = pages(stored)
    assert [referrer_of(v) for v in views] == [SEARCH, site.url + "/app", site.url + "/app/products"]
    assert [v["properties"]["referrer"] for v in views] == [referrer_of(v) for v in views]
    [before] = events(stored, "Before Navigation")
    [after] = events(stored, "After Navigation")
    [order] = events(stored, "Order Completed")
    assert referrer_of(before) == SEARCH and before["context"]["referrer"]["medium"] == "search"
    assert referrer_of(after) == site.url + "/app"
    assert after["context"]["page"]["url"] == site.url + "/app/products"
    assert after["context"]["referrer"] == {"url": site.url + "/app", "host": "localhost", "medium": "internal"}
    assert referrer_of(order) == site.url + "/app/products"
