"""Browser tests of the JS tracker: Debian's Chromium driven by Playwright, a customer site on
http://localhost:A and the real collector on http://127.0.0.1:B (another origin, another site). The
tests assert on what the collector stored.

Chromium blocks third-party cookies by default, so with the collector on another site the tracker's
own ID decides. The tests about the collector's cookie run either with the collector on
http://localhost:B (another origin but the same site, so its SameSite=Lax cookie is kept;
`ff_same_site`), or cross-site in a browser profile that allows third-party cookies
(`third_party_cookies_context`).

No test sleeps and then asserts that something did not happen: it waits for a sentinel instead (a
later message stored by the collector, a page's emptied queue, or a later request of the same page),
and every wait has a deadline.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.conftest import Collector

FIXTURES = Path(__file__).parent / "fixtures"
CHROMIUM = "/usr/lib/chromium/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run", "--disable-sync", "--disable-quic", "--disable-dev-shm-usage",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
]  # fmt: skip


class Site:
    """The customer's site: serves tests/js/fixtures/*.html with the script tag filled in.

    `{{SCRIPT}}` in a fixture becomes the tracker's script tag for the current collector, with
    `data-*` attributes from `attrs`. Any path that is not a file serves `spa.html`, as an SPA's
    server would.
    """

    def __init__(self) -> None:
        site = self
        self.collector_url = ""
        self.attrs: dict[str, str] = {}

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0].split("#")[0].lstrip("/") or "index.html"
                file = FIXTURES / path
                if not file.is_file() or file.parent != FIXTURES:
                    file = FIXTURES / "spa.html"
                body = file.read_text().replace("{{SCRIPT}}", site.script_tag()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://localhost:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def script_tag(self) -> str:
        attrs = {"data-write-key": "wk_test", **self.attrs}
        extra = "".join(f' {k}="{v}"' for k, v in attrs.items())
        return f'<script async src="{self.collector_url}/footfall.js"{extra}></script>'


@pytest.fixture(scope="package")
def site() -> Iterator[Site]:
    s = Site()
    yield s
    s.server.shutdown()
    s.server.server_close()


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    b = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    yield b
    b.close()


@pytest.fixture
def third_party_cookies_context(playwright: Playwright, tmp_path: Path) -> Iterator[BrowserContext]:
    """A browser profile that keeps third-party cookies.

    Chromium blocks them by default, in `new_context()` (incognito) and in a fresh profile alike:
    the collector's `SameSite=None; Secure` cookie from http://127.0.0.1:B is refused with the
    reason "UserPreferences" (its Secure flag is accepted there). The profile preference
    `profile.cookie_controls_mode = 0` ("allow third-party cookies") lets it through.
    """
    profile = tmp_path / "profile"
    (profile / "Default").mkdir(parents=True)
    (profile / "Default" / "Preferences").write_text(json.dumps({"profile": {"cookie_controls_mode": 0}}))
    ctx = playwright.chromium.launch_persistent_context(
        profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    yield ctx
    ctx.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context()
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A page of a fresh browser context; the test fails if the page throws anything."""
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    yield p
    assert errors == [], f"the page threw: {errors}"


@pytest.fixture
def ff(collector_factory: Any, site: Site) -> Collector:
    """A collector that sets a cross-site cookie, wired into the site's script tag."""
    c: Collector = collector_factory("--cookie-samesite", "none", "--allowed-origins", site.url)
    site.collector_url = c.url
    site.attrs = {}
    return c


def wait_for(
    collector: Collector, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 10
) -> list[dict[str, Any]]:
    """Poll the collector's export until `predicate(messages)` holds; return the messages."""
    deadline = time.monotonic() + timeout
    while True:
        messages = collector.export()
        if predicate(messages):
            return messages
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; the collector holds {len(messages)} messages: {messages}")
        time.sleep(0.1)


def local_id(page: Page) -> Any:
    """The anonymousId the tracker keeps in the site's localStorage."""
    return page.evaluate("localStorage.getItem('ff_aid')")


def ready(page: Page) -> None:
    """Wait until the tracker has loaded."""
    page.wait_for_function("window.footfall && window.footfall.version")


def events(messages: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [m for m in messages if m.get("event") == name]


def pages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m["type"] == "page"]


@pytest.fixture
def ff_same_site(collector_factory: Any, site: Site) -> Collector:
    """A collector on http://localhost:B: another origin than the site, but the same site, so its
    SameSite=Lax cookie is kept. (Chromium blocks the cross-site cookie of a collector on 127.0.0.1.)"""
    c: Collector = collector_factory()
    c.url = c.url.replace("127.0.0.1", "localhost")
    site.collector_url = c.url
    site.attrs = {}
    return c


def drained(page: Page) -> None:
    """Wait until the page's queue is empty: the collector has answered for every message the page made.

    A message leaves the queue only when the collector's answer for it has arrived, so after this
    everything the page sent before the call is stored (or was refused for good)."""
    page.wait_for_function("!localStorage.getItem('ff_q')")


def flush_then_sentinel(page: Page) -> None:
    """Ask the tracker to send now, then wait for a later request of the same page.

    A synthetic `pagehide` makes the tracker call send() at once, and send() starts its fetch, if any,
    before returning. The sentinel is a request the page makes afterwards (to the site itself); once
    its answer is in, every request the tracker started before it has been seen by `page.on("request")`.
    """
    with page.expect_response(lambda r: r.url.endswith("/plain.html?sentinel")):
        page.evaluate("dispatchEvent(new Event('pagehide')); fetch('/plain.html?sentinel')")


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


def batch_responses(page: Page) -> list[dict[str, Any]]:
    """Collect the JSON answers of /v1/batch seen by this page."""
    seen: list[dict[str, Any]] = []

    def on_response(r: Any) -> None:
        if "/v1/batch" in r.url:
            with contextlib.suppress(Exception):  # the page went away before the body was read
                seen.append(r.json())

    page.on("response", on_response)
    return seen
