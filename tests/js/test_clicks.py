"""Clicks on links and buttons and on elements marked with `data-footfall-event`; never a form field's
value or the text of an editable area."""

from __future__ import annotations

import json

from playwright.sync_api import Page

from tests.conftest import Collector
from tests.js.conftest import Site, drained, events, pages, ready, wait_for


def test_link_button_and_data_attribute_clicks(ff: Collector, site: Site, page: Page) -> None:
    page.goto(site.url + "/")
    ready(page)
    page.fill("#email", "someone@example.com")
    page.fill("#secret", "my-secret-value")
    page.click("li:nth-of-type(2) b")  # inside the second button
    page.click("#plan-label")  # inside the data-footfall-event element
    page.click("input[type=submit]")
    page.click("#about")  # a link that leaves the page: sent as the page goes away
    page.wait_for_url("**/about.html")
    stored = wait_for(ff, lambda ms: len(events(ms, "Element Clicked")) >= 3 and len(pages(ms)) >= 2)

    button, submit, link = events(stored, "Element Clicked")
    assert button["properties"]["tag"] == "button"
    assert button["properties"]["text"] == "Buy now"
    assert button["properties"]["classes"] == ["buy"]
    assert submit["properties"]["tag"] == "input"
    assert link["properties"] == {
        "tag": "a",
        "id": "about",
        "classes": ["nav-link", "primary"],
        "href": site.url + "/about.html",
        "text": "About us",
        "selector": "a#about",
    }
    [plan] = events(stored, "Plan Chosen")
    assert plan["properties"]["plan"] == "pro" and plan["properties"]["billing_cycle"] == "yearly"
    assert plan["properties"]["text"] == "Pro plan"
    # The selectors find the elements they describe.
    page.go_back()
    assert page.evaluate(
        "s => document.querySelector(s) === document.querySelectorAll('button')[1]", button["properties"]["selector"]
    )
    # No input value is ever read.
    everything = json.dumps(stored)
    assert "my-secret-value" not in everything and "someone@example.com" not in everything


def test_click_capture_can_be_switched_off(ff: Collector, site: Site, page: Page) -> None:
    site.attrs = {"data-auto-clicks": "false"}
    page.goto(site.url + "/")
    ready(page)
    page.click("li:nth-of-type(2) button")
    page.click("#plan-label")  # marked by the site owner: still sent
    wait_for(ff, lambda ms: bool(events(ms, "Plan Chosen")))
    drained(page)  # every message of the page is stored
    assert events(ff.export(), "Element Clicked") == []


def test_typed_text_of_an_editable_area_is_not_captured(ff: Collector, site: Site, page: Page) -> None:
    """A link inside a rich-text editor: its text is what the visitor typed, so it is left out."""
    page.goto(site.url + "/router.html")
    ready(page)
    page.click("#editor-link")
    page.keyboard.type(" card 4111 1111")
    page.click("#editor-link")
    page.evaluate("footfall.track('Marker')")
    wait_for(ff, lambda ms: bool(events(ms, "Marker")))
    drained(page)  # every message of the page is stored
    stored = ff.export()
    clicks = events(stored, "Element Clicked")
    assert clicks and all(c["properties"]["tag"] == "a" and "text" not in c["properties"] for c in clicks)
    assert "4111" not in str(stored)
