"""footfall/aio.py: AsyncClient, the same calls and guarantees on an asyncio event loop (its `AsyncWorker`)."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import textwrap

import footfall
import httpx
import pytest

from tests.conftest import Collector
from tests.sdk_python.faults import AnsweringServer, FaultProxy, hanging_server
from tests.sdk_python.helpers import (
    ANSWER,
    SDK_ROOT,
    WARNING,
    Errors,
    exported_until,
)


async def test_every_call_type_lands(collector: Collector) -> None:
    async with footfall.AsyncClient(collector.server_key, host=collector.url) as client:
        assert client.track("u1", "Signed Up", {"plan": "pro"}, message_id="a-track")
        assert client.page("u1", None, "Home", message_id="a-page")
        assert client.screen("u1", name="Home", message_id="a-screen")
        assert client.identify("u1", {"plan": "pro"}, message_id="a-identify")
        assert client.group("u1", "acme", message_id="a-group")
        assert client.alias("a1", "u1", message_id="a-alias")
        assert client.purchase("u1", "o-1", 10, "USD", message_id="a-purchase")
        assert await client.flush(timeout=10)
    got = await asyncio.to_thread(exported_until, collector, 7)
    assert len({m["messageId"] for m in got}) == 7
    assert all(m["context"]["library"]["name"] == "footfall-python" for m in got)


async def test_bad_calls_return_false() -> None:
    client = footfall.AsyncClient("sk", send=False)
    assert client.track(None, "Ping") is False and client.stats.invalid == 1
    with pytest.raises(footfall.InvalidCall):
        footfall.AsyncClient("sk", send=False, debug=True).track("u1")


async def test_500_and_429_then_success(collector: Collector) -> None:
    with FaultProxy(collector.url, [(500, {}), (429, {"Retry-After": "0"})]) as proxy:
        errors = Errors()
        client = footfall.AsyncClient(collector.server_key, host=proxy.url, on_error=errors, retry_delay=0.02)
        for i in range(10):
            client.track("u1", "Ping", message_id=f"a-retry-{i}")
        assert await client.flush(timeout=20)
        assert proxy.seen[:2] == [500, 429] and errors.calls == []
        await client.shutdown()
    assert len(await asyncio.to_thread(exported_until, collector, 10)) == 10


async def test_400_is_reported(collector: Collector) -> None:
    errors = Errors()
    async with footfall.AsyncClient("not-a-key", host=collector.url, on_error=errors) as client:
        client.track("u1", "Ping", message_id="a-401")
        assert await client.flush(timeout=10)
    [(error, batch)] = errors.calls
    assert isinstance(error, footfall.APIError) and error.status == 401 and batch[0]["messageId"] == "a-401"


async def test_flush_returns_by_its_deadline_when_the_collector_hangs() -> None:
    with hanging_server() as url:
        client = footfall.AsyncClient("sk", host=url, timeout=30)
        client.track("u1", "Ping")
        assert await client.flush(timeout=0.3) is False
        assert await asyncio.wait_for(client.shutdown(timeout=0.5), 5) is False


def test_queued_messages_are_sent_when_asyncio_run_ends(collector: Collector) -> None:
    source = """
        import asyncio, os, footfall
        client = footfall.AsyncClient(os.environ["FF_KEY"], host=os.environ["FF_HOST"], flush_interval=60)
        async def main():
            client.track("u1", "Job Done", message_id="async-exit")
        asyncio.run(main())  # no flush: the loop's end cancels the sender, which sends what it holds
        """
    env = {**os.environ, "PYTHONPATH": SDK_ROOT, "FF_KEY": collector.server_key, "FF_HOST": collector.url}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert [m["messageId"] for m in exported_until(collector, 1)] == ["async-exit"]


async def test_given_up_names_the_collector_and_the_refused_connection(collector: Collector) -> None:
    await asyncio.to_thread(collector.stop)
    errors = Errors()
    async with footfall.AsyncClient(
        collector.server_key, host=collector.url, on_error=errors, max_retries=1, retry_delay=0
    ) as client:
        client.track("u1", "Ping")
        assert await client.flush(timeout=10)
    [(error, _)] = errors.calls
    assert str(error) == f"gave up after 1 retries sending to {collector.url}: last attempt: connection refused"


async def test_async_shutdown_reports_the_batch_it_was_retrying() -> None:
    asked = asyncio.Event()

    def always_busy(request: httpx.Request) -> httpx.Response:
        asked.set()
        return httpx.Response(503, headers={"Retry-After": "5"})

    errors = Errors()
    client = footfall.AsyncClient("sk", host="http://collector.test", on_error=errors,
                                  transport=httpx.MockTransport(always_busy))  # fmt: skip
    for i in range(3):
        client.track("u1", "Ping", message_id=f"busy-{i}")
    await asyncio.wait_for(asked.wait(), 10)  # the batch has left, and now waits 5 s to be retried
    assert await client.shutdown(timeout=1) is False
    assert sorted(m["messageId"] for m in errors.messages) == ["busy-0", "busy-1", "busy-2"]


async def test_async_flush_does_not_wait_for_messages_queued_after_it() -> None:
    answered = asyncio.Event()

    def ok(request: httpx.Request) -> httpx.Response:
        answered.set()
        return httpx.Response(200, json={"success": True, "accepted": 1, "duplicates": 0, "rejected": []})

    client = footfall.AsyncClient("sk", host="http://collector.test", transport=httpx.MockTransport(ok))
    stop = asyncio.Event()

    async def steady() -> None:
        while not stop.is_set():
            client.track("u1", "Tick")
            await asyncio.sleep(0.005)

    load = asyncio.create_task(steady())
    try:
        await asyncio.wait_for(answered.wait(), 10)  # the sender is busy with the steady load
        assert await client.flush(timeout=5) is True  # before: waited for every later message too
    finally:
        stop.set()
        await load
        await client.shutdown(timeout=2)


async def test_the_async_client_logs_the_warning_once(caplog: pytest.LogCaptureFixture) -> None:
    with AnsweringServer(ANSWER) as server, caplog.at_level(logging.WARNING, logger="footfall"):
        async with footfall.AsyncClient("wk_browser", host=server.url) as client:
            for i in range(3):
                assert client.track("u1", "Ping", message_id=f"aw-{i}")
                assert await client.flush(timeout=10)
        assert server.requests == 3
    assert [r.levelno for r in caplog.records if WARNING in r.getMessage()] == [logging.WARNING]
