"""footfall/transport.py: the retry table, against the real collector and real network faults in front of it."""

from __future__ import annotations

import time

import footfall
import httpx
from footfall.options import Options
from footfall.transport import Delivery

from tests.conftest import Collector
from tests.sdk_python.faults import FaultProxy
from tests.sdk_python.helpers import (
    ANSWER,
    FAST_RETRIES,
    WARNING,
    Errors,
    exported_until,
)


def test_429_and_500_are_retried_until_stored(collector: Collector) -> None:
    faults = [(429, {"Retry-After": "0"}), (500, {}), (503, {"Retry-After": "0"}), (429, {})]
    with FaultProxy(collector.url, faults) as proxy:
        errors = Errors()
        client = footfall.Client(collector.server_key, host=proxy.url, on_error=errors, **FAST_RETRIES)
        for i in range(20):
            client.track("u1", "Ping", message_id=f"retry-{i}")
        assert client.flush(timeout=20)
        assert proxy.seen[:4] == [429, 500, 503, 429] and proxy.seen[4:] and set(proxy.seen[4:]) == {200}
        assert len(exported_until(collector, 20)) == 20
        assert errors.calls == []
        client.shutdown()


def test_retry_after_is_honoured(collector: Collector) -> None:
    with FaultProxy(collector.url, [(429, {"Retry-After": "1"})]) as proxy:
        client = footfall.Client(collector.server_key, host=proxy.url, retry_delay=0.01)
        started = time.monotonic()
        client.track("u1", "Ping")
        assert client.flush(timeout=20)
        assert time.monotonic() - started >= 1.0  # a lower bound: the server asked for a second
        client.shutdown()


def test_retries_run_out_and_are_reported(collector: Collector) -> None:
    with FaultProxy(collector.url, [(500, {})] * 3) as proxy:
        errors = Errors()
        client = footfall.Client(collector.server_key, host=proxy.url, on_error=errors, max_retries=2, retry_delay=0.01)
        client.track("u1", "Ping", message_id="given-up")
        assert client.flush(timeout=10)
        [(error, batch)] = errors.calls
        assert isinstance(error, footfall.GaveUp) and "500" in str(error)
        assert [m["messageId"] for m in batch] == ["given-up"]
        assert client.stats.failed == 1 and proxy.seen == [500, 500, 500]
        client.shutdown()


def test_400_is_dropped_and_reported_not_retried(collector: Collector) -> None:
    errors = Errors()
    client = footfall.Client("not-a-key", host=collector.url, on_error=errors, **FAST_RETRIES)
    client.track("u1", "Ping", message_id="unauthorised")
    assert client.flush(timeout=10)
    [(error, batch)] = errors.calls
    assert isinstance(error, footfall.APIError) and error.status == 401
    assert batch[0]["messageId"] == "unauthorised"
    client.shutdown()

    # A 400: the collector refuses every message of the batch (here, an order without its required fields).
    errors = Errors()
    with FaultProxy(collector.url, []) as proxy:
        client = footfall.Client(collector.server_key, host=proxy.url, on_error=errors, **FAST_RETRIES)
        client.track("u1", "Order Completed", {"total": 5}, message_id="bad-order")
        assert client.flush(timeout=10)
        assert proxy.seen == [400]  # sent once, not retried
        [(error, batch)] = errors.calls
        assert isinstance(error, footfall.APIError) and error.status == 400 and "order_id" in str(error)
        assert [m["messageId"] for m in batch] == ["bad-order"]
        client.shutdown()
    assert collector.export() == []


def test_messages_rejected_in_a_200_are_reported_and_the_rest_stored(collector: Collector) -> None:
    errors = Errors()
    client = footfall.Client(collector.server_key, host=collector.url, on_error=errors)
    client.track("u1", "Ping", message_id="good-1")
    client.track("u1", "Order Completed", {"total": 5}, message_id="bad-1")
    client.track("u1", "Ping", message_id="good-2")
    assert client.flush(timeout=10)
    assert sorted(m["messageId"] for m in exported_until(collector, 2)) == ["good-1", "good-2"]
    [(error, batch)] = errors.calls
    assert isinstance(error, footfall.Rejected) and error.rejections[0]["messageId"] == "bad-1"
    assert [m["messageId"] for m in batch] == ["bad-1"]
    client.shutdown()


def test_413_splits_the_batch_and_sends_both_halves(collector: Collector) -> None:
    with FaultProxy(collector.url, [(413, {})]) as proxy:
        errors = Errors()
        client = footfall.Client(collector.server_key, host=proxy.url, on_error=errors)
        for i in range(10):
            client.track("u1", "Ping", message_id=f"split-{i}")
        assert client.flush(timeout=10)
        assert proxy.seen == [413, 200, 200] and errors.calls == []
        assert len(exported_until(collector, 10)) == 10
        client.shutdown()


def test_given_up_names_the_collector_and_what_the_last_attempt_met(collector: Collector) -> None:
    collector.stop()
    errors = Errors()
    client = footfall.Client(collector.server_key, host=collector.url, on_error=errors, max_retries=2, retry_delay=0)
    client.track("u1", "Ping")
    assert client.flush(timeout=10)
    [(error, _)] = errors.calls
    assert isinstance(error, footfall.GaveUp)
    assert str(error) == f"gave up after 2 retries sending to {collector.url}: last attempt: connection refused"
    client.shutdown()

    collector.start()
    faults = [(503, {}, "storage unavailable")] * 3
    with FaultProxy(collector.url, faults) as proxy:
        errors = Errors()
        client = footfall.Client(collector.server_key, host=proxy.url, on_error=errors, max_retries=2, retry_delay=0)
        client.track("u1", "Ping")
        assert client.flush(timeout=10)
        [(error, _)] = errors.calls
        assert isinstance(error, footfall.GaveUp)
        last = "503 Service Unavailable (storage unavailable)"
        assert str(error) == f"gave up after 2 retries sending to {proxy.url}: last attempt: {last}"
        client.shutdown()


def test_401_says_the_write_key_is_not_the_collectors(collector: Collector) -> None:
    errors = Errors()
    client = footfall.Client("not-a-key", host=collector.url, on_error=errors)
    client.track("u1", "Ping")
    assert client.flush(timeout=10)
    [(error, _)] = errors.calls
    assert isinstance(error, footfall.APIError) and error.status == 401
    assert error.message == f"the write key is not one of this collector's keys ({collector.url})"
    client.shutdown()


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
