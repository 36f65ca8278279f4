"""Bugs found in review, each reproduced here: calls that raised into the host or returned True for a
message the collector refuses, and messages lost silently at shutdown or cancellation."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import footfall
import httpx
import pytest

from tests.sdk_python.faults import hanging_server
from tests.sdk_python.helpers import Errors


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.track("u", "E", {"x": Decimal("Infinity")}),
        lambda c: c.track("u", "E", {"x": Decimal("sNaN")}),
        lambda c: c.purchase("u", "o1", 10**400, "EUR"),
        lambda c: c.purchase("u", "o1", Decimal("Infinity"), "EUR"),
        lambda c: c.track("null", "E"),
        lambda c: c.track("undefined", "E"),
        lambda c: c.track(" ", "E"),
        lambda c: c.track("u" * 300, "E"),
        lambda c: c.track("u", "E" * 300),
        lambda c: c.group("u", "None"),
        lambda c: c.alias("null", "u"),
        lambda c: c.purchase("u", "o1", 10, "EUR", properties={"tax": "1.50"}),
        lambda c: c.purchase("u", "o1", 10, "EUR", properties={"products": [{"price": "9.99"}]}),
    ],
)
def test_calls_the_collector_would_refuse_return_false_and_never_raise(call: Any) -> None:
    client = footfall.Client("sk", host="http://127.0.0.1:9", send=False)
    assert call(client) is False
    assert client.stats.invalid == 1
    debug = footfall.Client("sk", host="http://127.0.0.1:9", send=False, debug=True)
    with pytest.raises(footfall.InvalidCall):
        call(debug)


def test_shutdown_reports_what_it_could_not_send_to_a_hanging_collector() -> None:
    with hanging_server() as url:
        errors = Errors()
        client = footfall.Client("sk", host=url, timeout=30, flush_at=1, on_error=errors)
        for i in range(5):
            client.track("u1", "Ping", message_id=f"hang-{i}")
        assert client.shutdown(timeout=1) is False
        reported = {m["messageId"] for m in errors.messages}
        assert len(reported) >= 4 and reported <= {f"hang-{i}" for i in range(5)}  # 1 may be in the stuck request
        assert all(isinstance(e, footfall.GaveUp) for e, _ in errors.calls)


async def test_async_shutdown_reports_the_batch_it_was_retrying() -> None:
    def always_busy(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, headers={"Retry-After": "5"})

    errors = Errors()
    client = footfall.AsyncClient("sk", host="http://collector.test", on_error=errors,
                                  transport=httpx.MockTransport(always_busy))  # fmt: skip
    for i in range(3):
        client.track("u1", "Ping", message_id=f"busy-{i}")
    await asyncio.sleep(0.8)  # the batch has left and waits to be retried
    assert await client.shutdown(timeout=1) is False
    assert sorted(m["messageId"] for m in errors.messages) == ["busy-0", "busy-1", "busy-2"]


async def test_async_flush_does_not_wait_for_messages_queued_after_it() -> None:
    def ok(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"success": True, "accepted": 1, "duplicates": 0, "rejected": []})

    client = footfall.AsyncClient("sk", host="http://collector.test", transport=httpx.MockTransport(ok))
    stop = asyncio.Event()

    async def steady() -> None:
        while not stop.is_set():
            client.track("u1", "Tick")
            await asyncio.sleep(0.005)

    load = asyncio.create_task(steady())
    await asyncio.sleep(0.2)
    try:
        assert await client.flush(timeout=5) is True  # before: waited for every later message too
    finally:
        stop.set()
        await load
        await client.shutdown(timeout=2)
