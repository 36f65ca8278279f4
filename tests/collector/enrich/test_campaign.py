"""Campaign (utm_*, click IDs) and referrer from the page URL, in process; odd values do not break it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.collector.conftest import App
from tests.collector.enrich.conftest import browser_page


def test_campaign_and_referrer(app: App) -> None:
    url = "https://shop.example/sale?utm_source=newsletter&utm_medium=email&utm_campaign=black-friday&gclid=abc&x=1"
    got = browser_page(app, context={"page": {"url": url, "referrer": "https://www.google.com/search?q=x"},
                                     "campaign": {"source": "set-by-client"}})["context"]  # fmt: skip
    assert got["campaign"] == {"source": "set-by-client", "medium": "email", "name": "black-friday", "gclid": "abc"}
    assert got["referrer"] == {"url": "https://www.google.com/search?q=x", "host": "google.com", "medium": "email"}
    cases = {"https://www.google.de/": "search", "https://duckduckgo.com/": "search", "https://t.co/x": "social",
             "https://www.linkedin.com/feed": "social", "https://mail.google.com/": "email",
             "https://shop.example/cart": "internal", "https://blog.example.org/": "other"}  # fmt: skip
    for ref, medium in cases.items():
        page = {"url": "https://shop.example/", "referrer": ref}
        assert browser_page(app, properties=page)["context"]["referrer"]["medium"] == medium, ref


@pytest.mark.parametrize("medium", [5, ["a"], {"x": 1}])
def test_odd_campaign_medium(app: App, medium: Any) -> None:
    """Found in review of odd and hostile input."""
    page = {"url": "https://a.example/", "referrer": "https://b.example/"}
    r = app.send([{"type": "page", "userId": "u", "context": {"campaign": {"medium": medium}, "page": page}}])
    assert r.status_code == 200, r.text
    assert app.export()[0]["context"]["referrer"]["medium"] == "other"


def test_malformed_page_url(app: App) -> None:
    """Found in review of odd and hostile input."""
    r = app.send([{"type": "page", "userId": "u", "context": {"page": {"url": "http://[abc?utm_source=x",
                                                                         "referrer": "http://[x"}}}])  # fmt: skip
    assert r.status_code == 200, r.text
    assert "campaign" not in app.export()[0]["context"]
