"""The collector's `warning` field (e.g. a backend sending with the public browser key) is logged once per client."""

from __future__ import annotations

import logging

import footfall
import httpx
import pytest
from footfall.options import Options
from footfall.transport import Delivery

from tests.sdk_python.faults import AnsweringServer

WARNING = "this is the public browser key; backends should use the server key"
ANSWER = {"success": True, "accepted": 1, "duplicates": 0, "rejected": [], "warning": WARNING}


def test_an_answer_with_a_warning_passes_it_on() -> None:
    warnings: list[str] = []
    delivery = Delivery(
        [b"{}"], Options(write_key="sk", host="http://c.test", max_retries=0), lambda e, b: None, warnings.append
    )
    delivery.after(httpx.Response(200, json=ANSWER), None)
    delivery = Delivery(
        [b"{}"], Options(write_key="sk", host="http://c.test", max_retries=0), lambda e, b: None, warnings.append
    )
    delivery.after(httpx.Response(200, json={**ANSWER, "warning": None}), None)
    assert warnings == [WARNING] and not delivery.pending


def test_the_warning_is_logged_once_per_client(caplog: pytest.LogCaptureFixture) -> None:
    with AnsweringServer(ANSWER) as server, caplog.at_level(logging.WARNING, logger="footfall"):
        client = footfall.Client("wk_browser", host=server.url)
        for i in range(3):  # three batches, three answers with the warning
            assert client.track("u1", "Ping", message_id=f"w-{i}")
            assert client.flush(timeout=10)
        assert client.shutdown(timeout=10)
        assert server.requests == 3
        other = footfall.Client("wk_browser", host=server.url, sync_mode=True)
        assert other.track("u1", "Ping")
        other.shutdown()
    logged = [r for r in caplog.records if WARNING in r.getMessage()]
    assert [r.levelno for r in logged] == [logging.WARNING] * 2  # one for each client
    assert server.url in logged[0].getMessage()


async def test_the_async_client_logs_the_warning_once(caplog: pytest.LogCaptureFixture) -> None:
    with AnsweringServer(ANSWER) as server, caplog.at_level(logging.WARNING, logger="footfall"):
        async with footfall.AsyncClient("wk_browser", host=server.url) as client:
            for i in range(3):
                assert client.track("u1", "Ping", message_id=f"aw-{i}")
                assert await client.flush(timeout=10)
        assert server.requests == 3
    assert [r.levelno for r in caplog.records if WARNING in r.getMessage()] == [logging.WARNING]
