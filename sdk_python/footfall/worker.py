"""The background sender of one process: a bounded buffer, one daemon thread, a keep-alive HTTP client.

The caller's side is `submit()`: a length check and a `deque.append` (atomic under the GIL), so a
tracking call never waits for a lock the sender holds. The thread takes messages off the buffer into a
batch once it has `flush_at` messages, `flush_interval` has passed since the oldest one arrived, or a
flush asks for it now; a batch also stops short of the collector's byte limit. It sends the batch (see
`transport` for the retry table), then counts its messages done, which is what `flush()` waits for.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque

import httpx

from footfall.options import Options
from footfall.transport import MAX_BATCH_BYTES, Delivery, Report, Warn, headers

log = logging.getLogger("footfall")

_NEVER = sys.maxsize


def send_batch(
    http: httpx.Client, opts: Options, messages: list[bytes], report: Report, warn: Warn, stopping: threading.Event
) -> bool:
    """Deliver one batch on this thread, waiting between retries unless `stopping` is set; True if all stored."""
    delivery = Delivery(messages, opts.policy, report, warn)
    while delivery.pending:
        response: httpx.Response | None = None
        error: Exception | None = None
        try:
            response = http.post(opts.url, content=delivery.request())
        except httpx.HTTPError as exc:
            error = exc
        delay = delivery.after(response, error)
        if delivery.pending and delay and stopping.wait(delay):
            delivery.abandon("the client shut down while retrying")
    return delivery.ok


def http_client(opts: Options) -> httpx.Client:
    return httpx.Client(
        auth=(opts.write_key, ""),
        headers=headers(opts.write_key, opts.gzip),
        timeout=opts.timeout,
        transport=opts.transport,
    )


class Worker:
    def __init__(self, opts: Options, report: Report, warn: Warn) -> None:
        self.opts = opts
        self.report = report
        self.warn = warn
        self.buffer: deque[bytes] = deque()
        self.limit = opts.max_queue_size
        self.want = _NEVER  # the sender is waiting for this many buffered messages (wake it then)
        self.wake = threading.Event()
        self.flushing = False  # a flush is waiting: send what is there without waiting for the window
        self.stopping = threading.Event()
        self.lock = threading.Condition()  # guards done/inflight against flush's snapshot; flush waits on it
        self.done = 0  # messages done with: stored, or reported (written by the sender thread only)
        self.inflight = 0
        self.http = http_client(opts)
        self.thread = threading.Thread(target=self._run, name="footfall-sender", daemon=True)
        self.thread.start()

    def submit(self, message: bytes) -> bool:
        """Buffer one encoded message; False if the buffer is full (the caller counts the drop)."""
        buffer = self.buffer
        if len(buffer) >= self.limit:
            return False
        buffer.append(message)
        if len(buffer) >= self.want:
            self.wake.set()
        return True

    def pending(self) -> int:
        return self.inflight + len(self.buffer)

    def flush(self, deadline: float) -> bool:
        """Send what is buffered now; wait until all of it is done or `deadline` (time.monotonic) passes."""
        with self.lock:
            target = self.done + self.inflight + len(self.buffer)
            self.flushing = True
            self.wake.set()
            while self.done < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.lock.wait(remaining)
        return True

    def stop(self, deadline: float) -> list[bytes]:
        """Stop the thread (abandoning retries) by `deadline`; returns the messages it never took."""
        self.stopping.set()
        self.wake.set()
        self.thread.join(max(0.0, deadline - time.monotonic()))
        with self.lock:  # the sender takes batches under this lock: what is left here, it never takes
            left = list(self.buffer)
            self.buffer.clear()
        if not self.thread.is_alive():
            self.http.close()
        # else: stuck in a request that will time out and report its batch; a daemon, so exit is not held up
        return left

    def _run(self) -> None:
        while not self.stopping.is_set():
            self._wait_for_batch()
            if self.stopping.is_set():
                return
            batch = self._take()
            try:
                if batch:
                    send_batch(self.http, self.opts, batch, self.report, self.warn, self.stopping)
            except Exception:  # a bug here must not end the thread: log it, count the batch as lost, go on
                log.exception("footfall: failed to send a batch of %d messages", len(batch))
            finally:
                with self.lock:
                    self.done += len(batch)
                    self.inflight = 0
                    self.lock.notify_all()

    def _wait(self, want: int, timeout: float | None) -> None:
        """Sleep until the buffer holds `want` messages, a flush or stop, or `timeout`."""
        self.wake.clear()
        self.want = want
        if len(self.buffer) < want and not self.flushing and not self.stopping.is_set():
            self.wake.wait(timeout)
        self.want = _NEVER

    def _wait_for_batch(self) -> None:
        if not self.buffer:
            with self.lock:
                self.flushing = False  # everything a flush was waiting for has been taken
            self._wait(1, None)
        window_ends = time.monotonic() + self.opts.flush_interval
        while len(self.buffer) < self.opts.flush_at and not self.flushing and not self.stopping.is_set():
            remaining = window_ends - time.monotonic()
            if remaining <= 0:
                return
            self._wait(self.opts.flush_at, remaining)

    def _take(self) -> list[bytes]:
        """Up to flush_at messages off the buffer, stopping short of the batch byte limit."""
        batch: list[bytes] = []
        size = 0
        buffer = self.buffer
        with self.lock:
            while buffer and len(batch) < self.opts.flush_at:
                if size + len(buffer[0]) + 1 > MAX_BATCH_BYTES:
                    break
                message = buffer.popleft()
                batch.append(message)
                size += len(message) + 1
            self.inflight = len(batch)
        return batch
