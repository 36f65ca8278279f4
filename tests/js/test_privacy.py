"""Privacy: Do-Not-Track and Global Privacy Control honoured by default, and the consent switch."""

from __future__ import annotations

from playwright.sync_api import Browser, Page

from tests.conftest import Collector
from tests.js.conftest import Site, events, flush_then_sentinel, local_id, pages, ready, sentinel, wait_for

GPC = "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})"
DNT = "Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => '1'})"


def test_dnt_and_gpc_mean_nothing_is_sent(ff: Collector, site: Site, browser: Browser) -> None:
    seen: list[str] = []
    for script in (GPC, DNT):
        ctx = browser.new_context()
        ctx.add_init_script(script)
        p = ctx.new_page()
        p.on("request", lambda r: "/v1/batch" in r.url and seen.append(r.url))
        p.goto(site.url + "/")
        ready(p)
        p.evaluate("footfall.track('Should Not Arrive'); footfall.identify('u1')")
        p.click("li:nth-of-type(2) button")
        flush_then_sentinel(p)
        assert seen == []
        assert p.evaluate("Object.keys(localStorage).length") == 0
        p.close()  # the page-hide flush: still nothing
        ctx.close()
    stored = sentinel(browser, site, ff)
    assert [m.get("event") for m in stored] == [None, "Sentinel"]  # the sentinel's page view and event
    assert seen == []
    # The site owner may override it.
    site.attrs = {"data-respect-dnt": "false"}
    ctx = browser.new_context()
    ctx.add_init_script(GPC)
    p = ctx.new_page()
    p.goto(site.url + "/")
    ready(p)
    p.evaluate("footfall.track('Sent Anyway')")
    assert events(wait_for(ff, lambda ms: bool(events(ms, "Sent Anyway"))), "Sent Anyway")
    ctx.close()


def test_consent_off_sends_nothing_and_forgets_ids(
    ff_same_site: Collector, site: Site, page: Page, browser: Browser
) -> None:
    ff = ff_same_site  # with the collector's cookie in play: opting in again must not bring the old ID back
    page.goto(site.url + "/")
    ready(page)
    before = local_id(page)
    page.evaluate("footfall.identify('user-7')")
    wait_for(ff, lambda ms: any(m["type"] == "identify" for m in ms))
    page.evaluate("footfall.consent(false)")
    requests: list[str] = []
    page.on("request", lambda r: "/v1/batch" in r.url and requests.append(r.post_data or ""))
    assert page.evaluate("[localStorage.getItem('ff_aid'), localStorage.getItem('ff_uid')]") == [None, None]
    assert "ff_aid" not in page.evaluate("document.cookie")
    page.evaluate("footfall.track('Opted Out')")
    page.click("li:nth-of-type(2) button")
    page.reload()  # the choice is remembered: no page view either
    ready(page)
    page.evaluate("footfall.track('Still Opted Out')")
    flush_then_sentinel(page)
    assert requests == []
    stored = sentinel(browser, site, ff)
    assert [m["type"] for m in stored if m.get("event") != "Sentinel"] == ["page", "identify", "page"]
    assert len(pages(stored)) == 2  # the first page view, and the sentinel's
    # Consent given again: a new anonymous ID, no user.
    page.evaluate("footfall.consent(true); footfall.track('Opted In')")
    [back] = events(wait_for(ff, lambda ms: bool(events(ms, "Opted In"))), "Opted In")
    assert back["anonymousId"] != before and "userId" not in back
