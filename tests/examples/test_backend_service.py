"""examples/backend_service: the page hands the tracker's anonymousId to the backend with the order; the
backend records the order with the server key; the customer's profile holds the browser's page view and
click and the server's order."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from tests.conftest import Collector, free_port
from tests.examples.conftest import EXAMPLES, profile, wait_for


def test_browser_and_server_messages_make_one_profile(collector: Collector, run_example: Any, page: Page) -> None:
    port = free_port()
    backend = run_example(
        str(EXAMPLES / "backend_service" / "app.py"),
        "--collector", collector.url, "--write-key", collector.write_key, "--server-key", collector.server_key,
        "--port", str(port),
    )  # fmt: skip
    shop = f"http://localhost:{port}"
    backend.wait_until_serving(shop + "/")

    page.goto(shop + "/")
    # The browser's page view, stored with the browser key before any order: an anonymous visitor.
    [page_view] = wait_for(collector, lambda ms: any(m["type"] == "page" for m in ms))
    anonymous_id = page_view["anonymousId"]
    assert "userId" not in page_view

    page.get_by_label("Customer ID").fill("grace")
    page.get_by_label("Mugs").fill("2")
    page.get_by_label("T-shirts").fill("1")
    page.get_by_role("button", name="Place order").click()
    expect(page.get_by_text("Thank you!")).to_be_visible()
    order_id = page.locator("#result").inner_text().split()[3].rstrip(",")
    assert order_id.startswith("o-")

    def clicked_and_ordered(messages: list[dict[str, Any]]) -> bool:
        events = [m.get("event") for m in messages]
        return "Element Clicked" in events and "Order Completed" in events

    messages = wait_for(collector, clicked_and_ordered)
    [click] = [m for m in messages if m.get("event") == "Element Clicked"]
    assert click["anonymousId"] == anonymous_id
    assert "userId" not in click  # the browser never said who it was: the server did
    assert click["properties"]["text"] == "Place order"

    [order] = [m for m in messages if m.get("event") == "Order Completed"]
    assert order["userId"] == "grace"
    assert order["anonymousId"] == anonymous_id
    assert order["context"]["library"]["name"] == "footfall-python"
    assert order["properties"]["order_id"] == order_id
    assert order["properties"]["total"] == 50.0
    assert order["properties"]["currency"] == "EUR"
    assert [(p["product_id"], p["quantity"]) for p in order["properties"]["products"]] == [("mug", 2), ("tee", 1)]
    assert order["context"]["userAgent"] == page.evaluate("navigator.userAgent")  # the visitor's, not httpx's

    grace = profile(collector, "grace")
    assert grace["linkedIds"] == [anonymous_id]
    assert grace["pageViews"] == 1
    assert grace["messages"]["byEvent"] == {"Element Clicked": 1, "Order Completed": 1}
    assert grace["orders"] == {"count": 1, "revenue": {"EUR": 50.0}}
