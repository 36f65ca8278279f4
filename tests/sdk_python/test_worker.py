"""footfall/worker.py, the thread sender through `Client`: batches by size and time, many threads, a collector that
is down or hangs, and the deadlines of flush() and shutdown()."""

from __future__ import annotations

import threading

import footfall

from tests.conftest import Collector
from tests.sdk_python.faults import hanging_server
from tests.sdk_python.helpers import (
    FAST_RETRIES,
    Errors,
    exported_until,
    wait_until,
)


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


def test_flush_and_shutdown_return_by_their_deadline_when_the_collector_hangs() -> None:
    errors = Errors()
    said: dict[str, bool] = {}
    with hanging_server() as url:
        client = footfall.Client("sk", host=url, timeout=600, on_error=errors)  # the request would wait 10 min
        for i in range(5):
            client.track("u1", "Ping", message_id=f"hang-{i}")

        def close() -> None:
            said["flush"] = client.flush(timeout=0.5)
            said["shutdown"] = client.shutdown(timeout=0.5)

        closer = threading.Thread(target=close, daemon=True)
        closer.start()
        closer.join(120)  # only a hang guard, far below the request's own 600 s
        assert not closer.is_alive(), "flush() and shutdown() waited for the hanging request"
        assert said == {"flush": False, "shutdown": False}  # they say they did not finish
        assert client.track("u1", "Ping") is False  # after shutdown: refused, counted
        assert client.stats.dropped == 1
    # The server is gone, so the stuck request fails; the shut-down sender gives its batch up, reported.
    assert wait_until(lambda: len(errors.messages) >= 5)
    assert sorted(m["messageId"] for m in errors.messages) == [f"hang-{i}" for i in range(5)]
    assert all(isinstance(e, footfall.GaveUp) for e, _ in errors.calls)


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
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    assert client.flush(timeout=30)
    assert client.pending == 0
    assert len({m["messageId"] for m in exported_until(collector, 2000)}) == 2000
    client.shutdown()


def test_a_lone_message_goes_after_flush_interval_without_a_flush(collector: Collector) -> None:
    client = footfall.Client(collector.server_key, host=collector.url, flush_interval=0.2)
    client.track("u1", "Ping", message_id="by-time")
    assert [m["messageId"] for m in exported_until(collector, 1, timeout=10)] == ["by-time"]
    client.shutdown()


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
