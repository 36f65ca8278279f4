"""examples/static_site: click through the shop in Chromium, buy, sign in; the collector has it all, and
the user's profile holds the order placed before the sign-in."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from tests.conftest import Collector, free_port
from tests.examples.conftest import EXAMPLES, profile, wait_for


def test_the_shop_records_page_views_a_click_a_purchase_and_the_sign_in(
    collector: Collector, run_example: Any, page: Page
) -> None:
    port = free_port()
    shop = run_example(
        str(EXAMPLES / "static_site" / "serve.py"),
        "--collector", collector.url, "--write-key", collector.write_key, "--port", str(port),
    )  # fmt: skip
    site = f"http://localhost:{port}"
    shop.wait_until_serving(site + "/")

    page.goto(site + "/")
    page.get_by_role("link", name="Footfall mug").click()
    expect(page.get_by_role("heading", name="Footfall mug")).to_be_visible()
    page.get_by_role("button", name="Add to wishlist").click()
    page.get_by_role("button", name="Add to cart").click()
    page.get_by_role("link", name="Go to the cart").click()
    expect(page.get_by_text("1 x Footfall mug")).to_be_visible()
    page.get_by_role("button", name="Place order").click()
    order_id = page.locator("#order-id").inner_text()
    assert order_id.startswith("o-")
    page.get_by_role("link", name="Sign in").click()
    page.get_by_label("User name").fill("ada")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Signed in as ada")).to_be_visible()
    anonymous_id = page.evaluate("localStorage.getItem('ff_aid')")
    assert anonymous_id

    def everything_in(messages: list[dict[str, Any]]) -> bool:
        return any(m["type"] == "identify" for m in messages) and any(
            m.get("event") == "Order Completed" for m in messages
        )

    messages = wait_for(collector, everything_in)
    assert {m["anonymousId"] for m in messages} == {anonymous_id}
    paths = [m["properties"]["path"] for m in messages if m["type"] == "page"]
    assert paths == ["/", "/product.html", "/cart.html", "/login.html"]

    clicks = [m["properties"] for m in messages if m.get("event") == "Element Clicked"]
    add_to_cart = [c for c in clicks if c.get("id") == "add-to-cart"]
    assert len(add_to_cart) == 1
    assert add_to_cart[0]["tag"] == "button"
    assert add_to_cart[0]["text"] == "Add to cart"
    [wishlist] = [m["properties"] for m in messages if m.get("event") == "Wishlist Product Added"]
    assert wishlist["product_id"] == "mug"
    assert wishlist["text"] == "Add to wishlist"
    sign_in = [c for c in clicks if c["tag"] == "button" and c.get("text") == "Sign in"]
    assert len(sign_in) == 1
    assert "ada@example.com" not in str(clicks)  # what was typed into a field is never sent

    [order] = [m for m in messages if m.get("event") == "Order Completed"]
    assert order["properties"] == {
        "order_id": order_id,
        "total": 12.5,
        "currency": "EUR",
        "products": [{"product_id": "mug", "sku": "MUG-1", "name": "Footfall mug", "price": 12.5, "quantity": 1}],
    }
    assert "userId" not in order  # bought before signing in

    [identify] = [m for m in messages if m["type"] == "identify"]
    assert identify["userId"] == "ada"
    assert identify["traits"] == {"email": "ada@example.com"}

    ada = profile(collector, "ada")
    assert ada["linkedIds"] == [anonymous_id]
    assert ada["orders"] == {"count": 1, "revenue": {"EUR": 12.5}}
    assert ada["pageViews"] == 4
    assert ada["traits"]["email"]["value"] == "ada@example.com"
