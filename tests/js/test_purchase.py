"""Purchases: `footfall.purchase()` sends Segment's "Order Completed"."""

from __future__ import annotations

from playwright.sync_api import Page

from tests.conftest import Collector
from tests.js.conftest import Site, events, ready, wait_for


def test_purchase(ff: Collector, site: Site, page: Page) -> None:
    page.goto(site.url + "/")
    ready(page)
    page.evaluate(
        """footfall.purchase({order_id: 'o-1001', total: 59.9, revenue: 50, currency: 'EUR',
            products: [{product_id: 'p1', sku: 'SKU-1', name: 'Mug', price: 29.95, quantity: 2}]})"""
    )
    [order] = events(wait_for(ff, lambda ms: bool(events(ms, "Order Completed"))), "Order Completed")
    assert order["type"] == "track"
    assert order["properties"]["order_id"] == "o-1001" and order["properties"]["total"] == 59.9
    assert order["properties"]["currency"] == "EUR"
    assert order["properties"]["products"][0]["quantity"] == 2
