"""Delivery: batching, sending as the page goes away, the queue that survives failures and reloads,
retries and Retry-After, keepalive's size cap, and no message of a new anonymousId overtaking an old one."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from playwright.sync_api import BrowserContext, Page

from tests.conftest import Collector
from tests.js.conftest import Site, batch_responses, events, flush_then_sentinel, local_id, pages, ready, wait_for


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
    flush_then_sentinel(page)  # the tracker was asked to send, and did not
    assert requests == []
    assert page.evaluate("JSON.parse(localStorage.getItem('ff_q')).length") == 3
    assert ff.export() == []


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
    requests: list[str] = []
    page.on("request", lambda r: "/v1/batch" in r.url and requests.append(r.post_data or ""))
    page.evaluate("footfall.track('Old')")
    page.wait_for_function("document.readyState === 'complete'")
    deadline = time.monotonic() + 10
    while not held and time.monotonic() < deadline:
        page.wait_for_timeout(100)  # lets Playwright run the route handler
    assert held, "the batch with 'Old' never left"
    # The 20th message asks for a send at once, and so does the flush: a 'New' batch would leave now.
    page.evaluate("footfall.reset(); for (let i = 0; i < 20; i++) footfall.track('New')")
    flush_then_sentinel(page)
    assert not any("New" in body for body in requests)
    assert events(ff.export(), "New") == []
    held[0].continue_()
    page.unroute("**/v1/batch*")  # later requests go straight out (no handler needs this thread)
    stored = wait_for(ff, lambda ms: len(events(ms, "New")) == 20 and bool(events(ms, "Old")))
    assert events(stored, "Old")[0]["anonymousId"] == first
    assert {m["anonymousId"] for m in events(stored, "New")} == {local_id(page)} != {first}
