"""The tracker in a real browser against the real collector, asserting on what the collector stored.

The site is on http://localhost:A and the collector on http://127.0.0.1:B: another site. Chromium
blocks third-party cookies by default, so there the tracker's own ID decides. The tests about the
collector's cookie run either with the collector on http://localhost:B (another origin but the same
site, so its SameSite=Lax cookie is kept; `ff_same_site`), or cross-site in a browser profile that
allows third-party cookies (`third_party_cookies_context`).
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page

from tests.conftest import Collector
from tests.js.conftest import Site, events, pages, ready, wait_for

GPC = "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})"
DNT = "Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => '1'})"


def local_id(page: Page) -> Any:
    return page.evaluate("localStorage.getItem('ff_aid')")


def batch_responses(page: Page) -> list[dict[str, Any]]:
    """Collect the JSON answers of /v1/batch seen by this page."""
    seen: list[dict[str, Any]] = []

    def on_response(r: Any) -> None:
        if "/v1/batch" in r.url:
            with contextlib.suppress(Exception):  # the page went away before the body was read
                seen.append(r.json())

    page.on("response", on_response)
    return seen


def test_page_view_on_load(ff: Collector, site: Site, page: Page) -> None:
    page.goto(site.url + "/?utm_source=news")
    [view] = pages(wait_for(ff, lambda ms: len(pages(ms)) == 1))
    props = view["properties"]
    assert props["url"] == site.url + "/?utm_source=news"
    assert (props["path"], props["search"], props["title"]) == ("/", "?utm_source=news", "Shop home")
    assert view["context"]["page"]["url"] == props["url"]
    assert view["context"]["library"] == {"name": "footfall.js", "version": "0.1.0"}
    assert view["context"]["locale"] and view["context"]["screen"]["width"] > 0
    assert view["anonymousId"] == local_id(page)
    assert view["messageId"] and view["timestamp"].endswith("Z")
    # Enriched by the collector from the request: the browser, and the campaign from the page URL.
    assert view["context"]["userAgent"] == page.evaluate("navigator.userAgent")
    assert view["context"]["browser"]["name"] == "HeadlessChrome" and view["context"]["bot"] is True
    assert view["context"]["campaign"] == {"source": "news"}


def test_spa_navigations_once_per_url(ff: Collector, site: Site, page: Page) -> None:
    page.goto(site.url + "/app")
    ready(page)
    page.evaluate("go('/app/products', 'Products')")
    page.evaluate("history.pushState({}, '', '/app/products')")  # the same URL again: no page view
    page.evaluate("history.replaceState({}, '', '/app/products/1')")
    page.evaluate("location.hash = 'reviews'")  # a hash change is not a page view by default
    page.go_back()  # popstate to /app/products/1: the same URL without its hash, no page view
    page.go_back()  # popstate to /app/products
    views = pages(wait_for(ff, lambda ms: len(pages(ms)) >= 4))
    paths = [v["properties"]["path"] for v in views]
    assert paths == ["/app", "/app/products", "/app/products/1", "/app/products"]
    second = views[1]["properties"]
    assert second["title"] == "Products"  # read after the router set it
    assert second["referrer"] == site.url + "/app"
    # Nothing more arrives: a marker event sent last is stored after every page view.
    page.evaluate("footfall.track('Marker')")
    stored = wait_for(ff, lambda ms: bool(events(ms, "Marker")))
    assert len(pages(stored)) == 4


def test_hash_changes_count_when_switched_on(ff: Collector, site: Site, page: Page) -> None:
    site.attrs = {"data-hash": "true"}
    page.goto(site.url + "/app")
    ready(page)
    page.evaluate("location.hash = 'a'")
    page.evaluate("location.hash = 'b'")
    views = pages(wait_for(ff, lambda ms: len(pages(ms)) >= 3))
    assert [v["properties"]["url"].rpartition("/")[2] for v in views] == ["app", "app#a", "app#b"]


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
    stored = wait_for(ff, lambda ms: bool(events(ms, "Plan Chosen")))
    assert events(stored, "Element Clicked") == []


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


def test_message_sent_on_tab_close_arrives(ff: Collector, site: Site, page: Page) -> None:
    page.goto(site.url + "/")
    ready(page)
    page.evaluate("footfall.track('Last Words')")  # waits a second for more messages: closing beats it
    page.close()
    assert events(wait_for(ff, lambda ms: bool(events(ms, "Last Words"))), "Last Words")


def test_collector_down_then_up_queued_messages_arrive_once(ff: Collector, site: Site, page: Page) -> None:
    answers = batch_responses(page)
    page.goto(site.url + "/")
    ready(page)
    wait_for(ff, lambda ms: len(pages(ms)) == 1)
    ff.kill()
    with page.expect_event("requestfailed", lambda r: "/v1/batch" in r.url):
        page.evaluate("for (let i = 0; i < 3; i++) footfall.track('While Down', {i})")
    assert page.evaluate("localStorage.getItem('ff_q')").count("While Down") == 3
    ff.start()
    stored = wait_for(ff, lambda ms: len(events(ms, "While Down")) == 3, timeout=30)
    assert sorted(m["properties"]["i"] for m in events(stored, "While Down")) == [0, 1, 2]
    page.wait_for_function("!localStorage.getItem('ff_q')")
    assert sum(a.get("duplicates", 0) for a in answers) == 0  # and none was sent twice
    assert Counter(m["messageId"] for m in stored).most_common(1)[0][1] == 1


def test_sent_when_back_online(ff: Collector, site: Site, page: Page, context: BrowserContext) -> None:
    page.goto(site.url + "/")
    ready(page)
    wait_for(ff, lambda ms: len(pages(ms)) == 1)
    context.set_offline(True)
    with page.expect_event("requestfailed", lambda r: "/v1/batch" in r.url):
        page.evaluate("footfall.track('Offline Purchase Intent')")
    assert "Offline Purchase Intent" in page.evaluate("localStorage.getItem('ff_q')")
    context.set_offline(False)
    assert events(wait_for(ff, lambda ms: bool(events(ms, "Offline Purchase Intent"))), "Offline Purchase Intent")


def test_queue_survives_a_reload(ff: Collector, site: Site, page: Page) -> None:
    page.goto(site.url + "/")
    ready(page)
    wait_for(ff, lambda ms: len(pages(ms)) == 1)
    page.route("**/v1/batch*", lambda route: route.abort("connectionrefused"))
    page.evaluate("footfall.track('Queued', {n: 1}); footfall.track('Queued', {n: 2})")
    page.wait_for_function("(localStorage.getItem('ff_q') || '').split('Queued').length == 3")
    queued = page.evaluate("JSON.parse(localStorage.getItem('ff_q')).map(m => m.messageId)")
    page.unroute("**/v1/batch*")
    page.reload()  # on the next page the queue is sent, under the same messageIds
    stored = wait_for(ff, lambda ms: len(events(ms, "Queued")) == 2 and len(pages(ms)) == 2)
    assert sorted(m["messageId"] for m in events(stored, "Queued")) == sorted(queued)


def test_retry_after_is_honoured(ff: Collector, site: Site, page: Page) -> None:
    page.route(
        "**/v1/batch*",
        lambda route: route.fulfill(
            status=503,
            headers={
                "Retry-After": "3600",
                "Access-Control-Allow-Origin": site.url,
                "Access-Control-Allow-Credentials": "true",
                "Access-Control-Expose-Headers": "Retry-After",
            },
            body='{"success": false, "error": "storage unavailable"}',
        ),
    )
    page.goto(site.url + "/")
    ready(page)
    page.wait_for_function("localStorage.getItem('ff_wait')")
    wait_until = page.evaluate("+localStorage.getItem('ff_wait') - Date.now()")
    assert 3500_000 < wait_until <= 3600_000
    # The wait outlives the page: after a reload nothing is sent, even with the collector back.
    page.unroute("**/v1/batch*")
    requests: list[str] = []
    page.on("request", lambda r: "/v1/batch" in r.url and requests.append(r.url))
    page.reload()
    ready(page)
    page.evaluate("footfall.track('Patient')")
    page.evaluate("() => new Promise(r => setTimeout(r, 1500))")  # past the batching delay
    assert requests == []
    assert page.evaluate("JSON.parse(localStorage.getItem('ff_q')).length") == 3
    assert ff.export() == []


def sentinel(browser: Browser, site: Site, ff: Collector) -> list[dict[str, Any]]:
    """Send a marker from a clean browser and wait for it: whatever else was sent has been stored."""
    ctx = browser.new_context()
    p = ctx.new_page()
    p.goto(site.url + "/about.html")
    ready(p)
    p.evaluate("footfall.track('Sentinel')")
    try:
        return wait_for(ff, lambda ms: bool(events(ms, "Sentinel")))
    finally:
        ctx.close()


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
    assert page.evaluate("[localStorage.getItem('ff_aid'), localStorage.getItem('ff_uid')]") == [None, None]
    assert "ff_aid" not in page.evaluate("document.cookie")
    page.evaluate("footfall.track('Opted Out')")
    page.click("li:nth-of-type(2) button")
    page.reload()  # the choice is remembered: no page view either
    ready(page)
    page.evaluate("footfall.track('Still Opted Out')")
    stored = sentinel(browser, site, ff)
    assert [m["type"] for m in stored if m.get("event") != "Sentinel"] == ["page", "identify", "page"]
    assert len(pages(stored)) == 2  # the first page view, and the sentinel's
    # Consent given again: a new anonymous ID, no user.
    page.evaluate("footfall.consent(true); footfall.track('Opted In')")
    [back] = events(wait_for(ff, lambda ms: bool(events(ms, "Opted In"))), "Opted In")
    assert back["anonymousId"] != before and "userId" not in back


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


def test_calls_before_the_script_loads_are_replayed(ff: Collector, site: Site, page: Page) -> None:
    page.goto(site.url + "/stub.html")
    stored = wait_for(ff, lambda ms: bool(events(ms, "Before Load")) and len(pages(ms)) == 1)
    [ident] = [m for m in stored if m["type"] == "identify"]
    assert ident["userId"] == "early-user" and ident["traits"] == {"plan": "pro"}
    assert events(stored, "Before Load")[0]["userId"] == "early-user"
    assert pages(stored)[0]["userId"] == "early-user"
    assert page.evaluate("new Promise(r => footfall.ready(ff => r(ff === window.footfall)))")


def test_works_with_storage_and_cookies_blocked(ff: Collector, site: Site, browser: Browser) -> None:
    ctx = browser.new_context()
    ctx.add_init_script(
        """
        const no = { get() { throw new DOMException('blocked', 'SecurityError') }, set() {
          throw new DOMException('blocked', 'SecurityError') } };
        Object.defineProperty(window, 'localStorage', no);
        Object.defineProperty(Document.prototype, 'cookie', no);
        """
    )
    p = ctx.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    p.goto(site.url + "/")
    ready(p)
    p.evaluate("footfall.track('No Storage'); footfall.identify('u9'); footfall.track('Still Works')")
    stored = wait_for(ff, lambda ms: bool(events(ms, "Still Works")) and len(pages(ms)) == 1)
    assert len({m["anonymousId"] for m in stored}) == 1
    assert events(stored, "Still Works")[0]["userId"] == "u9"
    assert errors == []
    ctx.close()


def test_one_global_and_no_exceptions_escape(ff: Collector, site: Site, page: Page) -> None:
    page.goto(site.url + "/plain.html")
    before = set(page.evaluate("Object.getOwnPropertyNames(window)"))
    page.evaluate(
        """src => new Promise(r => { const s = document.createElement('script'); s.src = src;
           s.dataset.writeKey = 'wk_test'; s.onload = r; document.head.append(s) })""",
        ff.url + "/footfall.js",
    )
    ready(page)
    after = set(page.evaluate("Object.getOwnPropertyNames(window)"))
    assert after - before == {"footfall"}
    # Bad input never throws into the page.
    page.evaluate(
        """footfall.track(); footfall.identify({toString: null}); footfall.page(undefined, null);
           footfall.ready(() => { throw new Error('a callback bug') }); footfall.purchase(null)"""
    )


def test_back_and_forward_page_views_get_their_own_title(ff: Collector, site: Site, page: Page) -> None:
    page.goto(site.url + "/router.html")
    ready(page)
    page.evaluate("go('/about')")
    page.evaluate("go('/pricing')")
    page.go_back()
    wait_for(ff, lambda ms: len(pages(ms)) >= 4)  # each navigation recorded before the next one
    page.go_forward()
    views = pages(wait_for(ff, lambda ms: len(pages(ms)) >= 5))
    got = [(v["properties"]["path"], v["properties"]["title"]) for v in views[1:]]
    assert got == [(p, "Title of " + p) for p in ("/about", "/pricing", "/about", "/pricing")]


def test_typed_text_of_an_editable_area_is_not_captured(ff: Collector, site: Site, page: Page) -> None:
    """A link inside a rich-text editor: its text is what the visitor typed, so it is left out."""
    page.goto(site.url + "/router.html")
    ready(page)
    page.click("#editor-link")
    page.keyboard.type(" card 4111 1111")
    page.click("#editor-link")
    page.evaluate("footfall.track('Marker')")
    stored = wait_for(ff, lambda ms: bool(events(ms, "Marker")))
    clicks = events(stored, "Element Clicked")
    assert clicks and all(c["properties"]["tag"] == "a" and "text" not in c["properties"] for c in clicks)
    assert "4111" not in str(stored)


def test_a_large_batch_of_non_ascii_text_is_delivered(ff: Collector, site: Site, page: Page) -> None:
    """25 messages of 1,500 CJK characters: about 120 KB of UTF-8, over the 64 KB keepalive cap."""
    page.goto(site.url + "/")
    ready(page)
    page.evaluate("for (let i = 0; i < 25; i++) footfall.track('CJK ' + i, {blob: '漢'.repeat(1500)})")
    page.evaluate("for (let i = 0; i < 5; i++) footfall.track('Plain ' + i)")
    stored = wait_for(ff, lambda ms: len([m for m in ms if m.get("event", "").startswith(("CJK", "Plain"))]) == 30)
    assert events(stored, "CJK 24")[0]["properties"]["blob"] == "漢" * 1500


def test_after_reset_no_message_overtakes_one_from_before(ff_same_site: Collector, site: Site, page: Page) -> None:
    """A slow network: the last batch before a log-out is still on its way when the next ones are ready."""
    ff = ff_same_site
    page.goto(site.url + "/")
    ready(page)
    wait_for(ff, lambda ms: len(pages(ms)) == 1)
    first = local_id(page)
    held: list[Any] = []

    def hold_old(route: Any) -> None:
        if not held and "Old" in (route.request.post_data or ""):
            held.append(route)  # answered below, after the new ID's messages had every chance to leave
        else:
            route.continue_()

    page.route("**/v1/batch*", hold_old)
    page.evaluate("footfall.track('Old')")
    page.wait_for_function("document.readyState === 'complete'")
    for _ in range(50):
        if held:
            break
        page.wait_for_timeout(100)
    assert held, "the batch with 'Old' never left"
    page.evaluate("footfall.reset(); for (let i = 0; i < 20; i++) footfall.track('New')")
    page.wait_for_timeout(2500)  # batching delay and more: a 'New' batch would have left by now
    assert events(ff.export(), "New") == []
    held[0].continue_()
    page.unroute("**/v1/batch*")  # later requests go straight out (no handler needs this thread)
    stored = wait_for(ff, lambda ms: len(events(ms, "New")) == 20 and bool(events(ms, "Old")))
    assert events(stored, "Old")[0]["anonymousId"] == first
    assert {m["anonymousId"] for m in events(stored, "New")} == {local_id(page)} != {first}
