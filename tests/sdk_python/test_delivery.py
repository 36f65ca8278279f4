"""The retry table and the deadlines, against the real collector and real network faults in front of it."""

from __future__ import annotations

import threading
import time

import footfall

from tests.conftest import Collector
from tests.sdk_python.faults import FaultProxy, hanging_server
from tests.sdk_python.helpers import Errors, exported_until

FAST_RETRIES = {"retry_delay": 0.02, "max_retry_delay": 0.2, "max_retries": 100}


def test_collector_down_then_up_loses_nothing_within_the_queue_bound(collector: Collector) -> None:
    collector.stop()
    errors = Errors()
    client = footfall.Client(
        collector.server_key, host=collector.url, max_queue_size=200, flush_at=50, on_error=errors, **FAST_RETRIES
    )
    taken = [client.track("u1", "Ping", {"i": i}, message_id=f"down-{i}") for i in range(300)]
    queued = [f"down-{i}" for i, ok in enumerate(taken) if ok]
    # The queue holds 200 and the sender holds one batch of 50 while the collector is down: the rest is
    # refused at the call (False), counted, and never silently lost.
    assert 200 <= len(queued) <= 250 and client.stats.dropped == 300 - len(queued)
    assert not client.flush(timeout=0.3)  # still down: flush says it did not finish
    collector.start()
    assert client.flush(timeout=30)
    assert sorted(m["messageId"] for m in exported_until(collector, len(queued))) == sorted(queued)
    assert errors.calls == []
    client.shutdown()


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


def test_on_error_that_raises_does_not_stop_the_sender(collector: Collector) -> None:
    def explode(error: Exception, batch: list[dict[str, object]]) -> None:
        raise RuntimeError("user callback bug")

    client = footfall.Client(collector.server_key, host=collector.url, on_error=explode)
    client.track("u1", "Order Completed", {"total": 5})
    assert client.flush(timeout=10)
    client.track("u1", "Ping", message_id="after")
    assert client.flush(timeout=10)
    assert [m["messageId"] for m in collector.export()] == ["after"]
    client.shutdown()


def test_flush_and_shutdown_return_by_their_deadline_when_the_collector_hangs() -> None:
    with hanging_server() as url:
        errors = Errors()
        client = footfall.Client("sk", host=url, timeout=30, on_error=errors)
        for i in range(5):
            client.track("u1", "Ping", message_id=f"hang-{i}")
        started = time.monotonic()
        assert client.flush(timeout=0.5) is False
        assert client.shutdown(timeout=0.5) is False
        assert time.monotonic() - started < 5  # generous: the request itself would wait 30 s
        assert client.track("u1", "Ping") is False  # after shutdown: refused, counted
        assert client.stats.dropped == 1


def test_shutdown_during_retries_reports_what_it_gives_up(collector: Collector) -> None:
    collector.stop()
    errors = Errors()
    client = footfall.Client(collector.server_key, host=collector.url, on_error=errors, retry_delay=0.05)
    for i in range(3):
        client.track("u1", "Ping", message_id=f"late-{i}")
    assert client.shutdown(timeout=1) is False
    assert sorted(m["messageId"] for m in errors.messages) == ["late-0", "late-1", "late-2"]
    assert all(isinstance(e, footfall.GaveUp) for e, _ in errors.calls)


def test_many_threads_share_one_client_and_nothing_is_lost(collector: Collector) -> None:
    client = footfall.Client(collector.server_key, host=collector.url, flush_at=37)

    def work(t: int) -> None:
        for i in range(500):
            assert client.track(f"u{t}", "Ping", {"i": i}, message_id=f"t{t}-{i}")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert client.flush(timeout=30)
    assert client.pending == 0
    assert len({m["messageId"] for m in exported_until(collector, 2000)}) == 2000
    client.shutdown()


def test_a_lone_message_goes_after_flush_interval_without_a_flush(collector: Collector) -> None:
    client = footfall.Client(collector.server_key, host=collector.url, flush_interval=0.2)
    client.track("u1", "Ping", message_id="by-time")
    assert [m["messageId"] for m in exported_until(collector, 1, timeout=10)] == ["by-time"]
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
