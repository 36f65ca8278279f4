"""The background sender of one process: a bounded queue, one daemon thread, a keep-alive HTTP client.

The caller's side is `submit()`, which never blocks. The thread takes messages off the queue into a
batch until it has `flush_at` messages, would pass the batch byte limit, `flush_interval` has passed
since the batch's first message, or a flush asks for it now; then it sends the batch (see
`transport` for the retry table) and marks its messages done, which is what `flush()` waits for.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time

import httpx

from footfall.options import Options
from footfall.transport import MAX_BATCH_BYTES, Delivery, Report, headers

log = logging.getLogger("footfall")


class _Marker:
    """A queue item that is not a message: a flush asked for now, or the thread asked to stop."""


_FLUSH = _Marker()
_STOP = _Marker()


def send_batch(
    http: httpx.Client, opts: Options, messages: list[bytes], report: Report, stopping: threading.Event
) -> bool:
    """Deliver one batch on this thread, waiting between retries unless `stopping` is set; True if all stored."""
    delivery = Delivery(messages, opts.policy, report)
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
    def __init__(self, opts: Options, report: Report) -> None:
        self.opts = opts
        self.report = report
        self.queue: queue.Queue[bytes | _Marker] = queue.Queue(opts.max_queue_size)
        self.stopping = threading.Event()
        self.http = http_client(opts)
        self.thread = threading.Thread(target=self._run, name="footfall-sender", daemon=True)
        self.thread.start()

    def submit(self, message: bytes) -> bool:
        """Queue one encoded message; False if the queue is full (the caller counts the drop)."""
        try:
            self.queue.put_nowait(message)
        except queue.Full:
            return False
        return True

    def pending(self) -> int:
        return self.queue.unfinished_tasks

    def flush(self, deadline: float) -> bool:
        """Send what is queued now; wait until all of it is done or `deadline` (time.monotonic) passes."""
        with contextlib.suppress(queue.Full):  # a full queue makes full batches, which go at once anyway
            self.queue.put_nowait(_FLUSH)
        done = self.queue.all_tasks_done
        with done:
            while self.queue.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                done.wait(remaining)
        return True

    def stop(self, deadline: float) -> list[bytes]:
        """Stop the thread (abandoning retries) by `deadline`; returns the messages it never took."""
        self.stopping.set()
        with contextlib.suppress(queue.Full):
            self.queue.put(_STOP, timeout=max(0.0, deadline - time.monotonic()))
        self.thread.join(max(0.0, deadline - time.monotonic()))
        if self.thread.is_alive():
            return []  # stuck in a request that will time out; it is a daemon, so exit is not held up
        self.http.close()
        left: list[bytes] = []
        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return left
            if not isinstance(item, _Marker):
                left.append(item)
            self.queue.task_done()

    def _run(self) -> None:
        carry: bytes | None = None
        stop = False
        while not stop:
            batch, carry, stop = self._collect(carry)
            try:
                if batch:
                    send_batch(self.http, self.opts, batch, self.report, self.stopping)
            except Exception:  # a bug here must not end the thread: log it, count the batch as lost, go on
                log.exception("footfall: failed to send a batch of %d messages", len(batch))
            finally:
                for _ in batch:
                    self.queue.task_done()

    def _collect(self, carry: bytes | None) -> tuple[list[bytes], bytes | None, bool]:
        """The next batch, the message that did not fit in it, and whether to stop after sending it."""
        batch = [carry] if carry is not None else []
        size = len(carry) + 1 if carry is not None else 0
        deadline = time.monotonic() + self.opts.flush_interval
        while len(batch) < self.opts.flush_at:
            try:
                item = self.queue.get(timeout=max(0.0, deadline - time.monotonic())) if batch else self.queue.get()
            except queue.Empty:
                break
            if not batch:
                deadline = time.monotonic() + self.opts.flush_interval
            if isinstance(item, _Marker):
                self.queue.task_done()
                if item is _STOP:
                    return batch, None, True
                if batch:
                    break
                continue
            if size + len(item) + 1 > MAX_BATCH_BYTES:
                return batch, item, False
            batch.append(item)
            size += len(item) + 1
        return batch, None, False
