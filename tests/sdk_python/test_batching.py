"""footfall/batching.py: the buffer and batch decisions both workers share, driven by hand (no I/O, no clock)."""

from __future__ import annotations

from footfall.batching import MAX_BATCH_BYTES, MAX_BATCH_MESSAGES, NEVER, Batches


def test_put_refuses_when_full_and_wakes_the_sender_only_at_what_it_waits_for() -> None:
    woken: list[int] = []
    batches = Batches(limit=3, flush_at=2, flush_interval=1.0)
    batches.wake = lambda: woken.append(len(batches.buffer))
    assert batches.want == NEVER
    assert batches.put(b"1")
    batches.want = 2
    assert batches.put(b"2") and batches.put(b"3")
    assert not batches.put(b"4")  # full: the caller counts the drop
    assert woken == [2, 3] and list(batches.buffer) == [b"1", b"2", b"3"]


def test_a_batch_goes_at_flush_at_or_when_the_window_ends() -> None:
    batches = Batches(limit=100, flush_at=3, flush_interval=2.0)
    assert batches.next_wait(now=10.0) == (1, None)  # nothing buffered: wait for a message
    batches.put(b"a")
    assert batches.next_wait(now=10.5) == (3, 2.0)  # the window starts when the sender first sees it
    assert batches.next_wait(now=12.0) == (3, 0.5)
    assert batches.next_wait(now=12.5) is None  # the window ended: due with one message
    assert batches.take() == [b"a"]
    for m in (b"b", b"c", b"d", b"e"):
        batches.put(m)
    assert batches.next_wait(now=20.0) is None  # flush_at reached: due at once
    assert batches.take() == [b"b", b"c", b"d"]
    assert batches.next_wait(now=20.0) == (3, 2.0)  # the rest starts a new window


def test_a_batch_stops_short_of_the_byte_limit() -> None:
    batches = Batches(limit=100, flush_at=100, flush_interval=1.0)
    message = b"x" * (30 * 1024)
    for _ in range(20):
        batches.put(message)
    first = batches.take()
    assert len(first) == MAX_BATCH_BYTES // (len(message) + 1)
    assert sum(len(m) + 1 for m in first) <= MAX_BATCH_BYTES
    assert len(batches.take()) == 20 - len(first)


def test_flush_makes_a_batch_due_and_counts_what_it_waits_for() -> None:
    batches = Batches(limit=100, flush_at=10, flush_interval=60.0)
    batches.put(b"a")
    batches.put(b"b")
    assert batches.take() == [b"a", b"b"]  # in flight
    batches.put(b"c")
    target = batches.flush()
    assert target == 3 and batches.pending == 3
    assert batches.next_wait(now=0.0) is None  # no waiting for the window
    batches.finished()
    assert batches.done == 2 and batches.take() == [b"c"]
    batches.finished()
    assert batches.done == target and batches.pending == 0
    assert batches.next_wait(now=0.0) == (1, None) and not batches.flushing  # all taken: the flush is over


def test_requeue_and_drain_keep_the_order() -> None:
    batches = Batches(limit=100, flush_at=2, flush_interval=1.0)
    for m in (b"1", b"2", b"3"):
        batches.put(m)
    batches.requeue(batches.take())
    assert list(batches.buffer) == [b"1", b"2", b"3"]
    batches.take()
    assert batches.drain() == [b"3"] and batches.inflight == [b"1", b"2"] and not batches.buffer


def test_a_batch_never_holds_more_messages_than_the_collector_takes_a_request() -> None:
    batches = Batches(limit=10_000, flush_at=5_000, flush_interval=1.0)
    for _ in range(6_000):
        batches.put(b"{}")
    assert len(batches.take()) == MAX_BATCH_MESSAGES == 2500
