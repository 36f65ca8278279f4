"""Identity: identify and reset, one anonymousId on a first visit, and the collector's cookie, which
decides the anonymousId when the browser keeps it (same site, or cross-site where third-party cookies
are allowed)."""

from __future__ import annotations

from playwright.sync_api import BrowserContext, Page

from tests.conftest import Collector
from tests.js.conftest import Site, events, local_id, pages, ready, wait_for


def test_identify_then_reset(ff_same_site: Collector, site: Site, page: Page) -> None:
    ff = ff_same_site
    page.goto(site.url + "/")
    ready(page)
    first = local_id(page)
    page.evaluate("footfall.identify('user-42', {email: 'u42@example.com', plan: 'pro'})")
    page.evaluate("footfall.track('While Signed In')")
    page.evaluate("footfall.reset()")
    page.evaluate("footfall.track('After Log Out')")
    stored = wait_for(ff, lambda ms: bool(events(ms, "After Log Out")))
    [ident] = [m for m in stored if m["type"] == "identify"]
    assert ident["userId"] == "user-42" and ident["anonymousId"] == first
    assert ident["traits"] == {"email": "u42@example.com", "plan": "pro"}
    [signed_in] = events(stored, "While Signed In")
    assert signed_in["userId"] == "user-42" and signed_in["anonymousId"] == first
    [after] = events(stored, "After Log Out")
    assert "userId" not in after
    second = after["anonymousId"]
    assert second != first and second == local_id(page)
    # The collector's cookie took the new ID too: after a reload the new ID stays.
    page.reload()
    views = pages(wait_for(ff, lambda ms: len(pages(ms)) == 2))
    assert views[1]["anonymousId"] == second and "userId" not in views[1]


def test_first_visit_with_several_messages_at_once_has_one_id(ff_same_site: Collector, site: Site, page: Page) -> None:
    requests: list[str] = []
    page.on("request", lambda r: "/v1/batch" in r.url and requests.append(r.url))
    page.goto(site.url + "/burst.html")
    ready(page)
    page.evaluate("burst()")
    stored = wait_for(ff_same_site, lambda ms: len(events(ms, "Burst")) == 45 and len(pages(ms)) == 1)
    assert len(requests) >= 2
    assert {m["anonymousId"] for m in stored} == {local_id(page)}


def check_collector_cookie_outlives_cleared_local_storage(ff: Collector, site: Site, context: BrowserContext) -> None:
    page = context.new_page()
    page.goto(site.url + "/")
    ready(page)
    first = local_id(page)
    wait_for(ff, lambda ms: len(pages(ms)) == 1)
    assert "ff_id" in [c["name"] for c in context.cookies(ff.url)]  # the collector's cookie
    # The visitor clears the site's storage (the collector's HttpOnly cookie is not the site's).
    page.evaluate("localStorage.clear()")
    context.clear_cookies(name="ff_aid")
    page.reload()
    ready(page)
    assert local_id(page) != first  # the tracker started over...
    views = pages(wait_for(ff, lambda ms: len(pages(ms)) == 2))
    assert views[1]["anonymousId"] == first  # ...and the collector's cookie brought the visitor back
    page.wait_for_function("id => localStorage.getItem('ff_aid') === id", arg=first)  # adopted


def test_collector_cookie_outlives_cleared_local_storage_same_site(
    ff_same_site: Collector, site: Site, context: BrowserContext
) -> None:
    check_collector_cookie_outlives_cleared_local_storage(ff_same_site, site, context)


def test_collector_cookie_outlives_cleared_local_storage_cross_site(
    ff: Collector, site: Site, third_party_cookies_context: BrowserContext
) -> None:
    check_collector_cookie_outlives_cleared_local_storage(ff, site, third_party_cookies_context)
