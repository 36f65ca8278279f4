"""The script inside a host page: calls made before it loads are replayed, it defines one global and
throws nothing into the page, and it works where storage and cookies are blocked."""

from __future__ import annotations

from playwright.sync_api import Browser, Page

from tests.conftest import Collector
from tests.js.conftest import Site, events, pages, ready, wait_for


def test_calls_before_the_script_loads_are_replayed(ff: Collector, site: Site, page: Page) -> None:
    page.goto(site.url + "/stub.html")
    stored = wait_for(ff, lambda ms: bool(events(ms, "Before Load")) and len(pages(ms)) == 1)
    [ident] = [m for m in stored if m["type"] == "identify"]
    assert ident["userId"] == "early-user" and ident["traits"] == {"plan": "pro"}
    assert events(stored, "Before Load")[0]["userId"] == "early-user"
    assert pages(stored)[0]["userId"] == "early-user"
    assert page.evaluate("new Promise(r => footfall.ready(ff => r(ff === window.footfall)))")


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
