"""The sender's bookkeeping, without I/O, threads or an event loop: both workers drive it.

`Batches` holds the bounded buffer of encoded messages and decides when a batch goes: once it has
`flush_at` messages, `flush_interval` seconds after the sender first saw a message waiting, or at once
when a flush asked for it. A batch stops short of the collector's byte limit. It counts the messages
done with (stored, or reported), which is what a flush waits for.

The caller's side is `put()`: a length check and a `deque.append` (atomic under the GIL), so a tracking
call never waits for a lock the sender holds. It wakes the sender (`wake`, set by the worker) only when
the buffer reaches what the sender is waiting for (`want`), so most calls do not touch the sender at all.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Callable

# The collector takes 500 KB a batch; leave room for the envelope around the messages.
MAX_BATCH_BYTES = 500 * 1024 - 256
MAX_BATCH_MESSAGES = 2500  # the collector's limit of messages a request
NEVER = sys.maxsize


def _nothing() -> None:
    pass


class Batches:
    def __init__(self, limit: int, flush_at: int, flush_interval: float) -> None:
        self.buffer: deque[bytes] = deque()
        self.limit = limit
        self.flush_at = flush_at
        self.flush_interval = flush_interval
        self.want = NEVER  # the sender sleeps until the buffer holds this many messages
        self.wake: Callable[[], None] = _nothing
        self.flushing = False  # a flush is waiting: send what is there without waiting for the window
        self.window_ends: float | None = None
        self.inflight: list[bytes] = []  # the batch being sent: not done with yet, not in the buffer either
        self.done = 0  # messages done with: stored, or reported

    def put(self, message: bytes) -> bool:
        """Buffer one encoded message; False if the buffer is full (the caller counts the drop)."""
        buffer = self.buffer
        if len(buffer) >= self.limit:
            return False
        buffer.append(message)
        if len(buffer) >= self.want:
            self.wake()
        return True

    @property
    def pending(self) -> int:
        return len(self.inflight) + len(self.buffer)

    def flush(self) -> int:
        """Ask for what is buffered to go now; returns the `done` count that means all of it is done with."""
        self.flushing = True
        return self.done + self.pending

    def next_wait(self, now: float) -> tuple[int, float | None] | None:
        """None if a batch is due now (`take()` it); else (want, timeout): sleep until the buffer holds
        `want` messages, a flush or stop wakes the sender, or `timeout` seconds (None: no bound) pass."""
        if not self.buffer:
            self.flushing = False  # everything a flush was waiting for has been taken
            self.window_ends = None
            return 1, None
        if self.flushing or len(self.buffer) >= self.flush_at:
            return None
        if self.window_ends is None:
            self.window_ends = now + self.flush_interval
        remaining = self.window_ends - now
        return None if remaining <= 0 else (self.flush_at, remaining)

    def take(self) -> list[bytes]:
        """The next batch off the buffer: up to flush_at messages, short of the batch byte limit."""
        batch: list[bytes] = []
        size = 0
        buffer = self.buffer
        while buffer and len(batch) < min(self.flush_at, MAX_BATCH_MESSAGES):
            if batch and size + len(buffer[0]) + 1 > MAX_BATCH_BYTES:
                break
            message = buffer.popleft()
            batch.append(message)
            size += len(message) + 1
        self.inflight = batch
        self.window_ends = None
        return batch

    def finished(self) -> None:
        """The in-flight batch is done with (stored, or reported)."""
        self.done += len(self.inflight)
        self.inflight = []

    def drain(self) -> list[bytes]:
        """Everything in the buffer (not the in-flight batch), taken off it."""
        left = list(self.buffer)
        self.buffer.clear()
        return left

    def requeue(self, messages: list[bytes]) -> None:
        """Put messages back at the front of the buffer, in order (to send them again in fresh batches)."""
        self.buffer.extendleft(reversed(messages))
