"""The background sender of one process (or one event loop): two implementations of one interface.

Both drive the same `batching.Batches` (the bounded buffer, when a batch goes, what is done) and the
same `transport.Delivery` (the retry table); they differ only in how they wait and send:

- `ThreadWorker`: one daemon thread and a keep-alive `httpx.Client`; `flush` and `stop` block.
- `AsyncWorker`: one task on the running event loop and an `httpx.AsyncClient`; `flush` and `stop` are
  coroutines.

The interface: `submit(message) -> bool` (the caller's side: never blocks), `pending`,
`flush(deadline) -> bool` (send what is buffered now; True once it is all done with, False when the
`time.monotonic()` deadline passes first), `stop(deadline) -> list[bytes]` (stop sending, abandoning
retries; returns the messages never sent, for the client to report).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import httpx

from footfall.batching import NEVER, Batches
from footfall.errors import GaveUp
from footfall.options import Options
from footfall.transport import Delivery, Report, Warn, headers

log = logging.getLogger("footfall")


def http_client(opts: Options) -> httpx.Client:
    return httpx.Client(
        auth=(opts.write_key, ""),
        headers=headers(opts.write_key, opts.gzip),
        timeout=opts.timeout,
        transport=opts.transport,
    )


def send_batch(
    http: httpx.Client, opts: Options, messages: list[bytes], report: Report, warn: Warn, stopping: threading.Event
) -> bool:
    """Deliver one batch on this thread, waiting between retries unless `stopping` is set; True if all stored."""
    delivery = Delivery(messages, opts, report, warn)
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


async def send_batch_async(
    http: httpx.AsyncClient, opts: Options, messages: list[bytes], report: Report, warn: Warn, deadline: float | None
) -> bool:
    """Deliver one batch on the event loop; a retry that would wait past `deadline` is given up instead."""
    delivery = Delivery(messages, opts, report, warn)
    while delivery.pending:
        response: httpx.Response | None = None
        error: Exception | None = None
        try:
            response = await http.post(opts.url, content=delivery.request())
        except httpx.HTTPError as exc:
            error = exc
        delay = delivery.after(response, error)
        if delivery.pending and delay:
            if deadline is not None and time.monotonic() + delay > deadline:
                delivery.abandon("the event loop ended while retrying")
            else:
                await asyncio.sleep(delay)
    return delivery.ok


class ThreadWorker:
    def __init__(self, opts: Options, report: Report, warn: Warn) -> None:
        self.opts = opts
        self.report = report
        self.warn = warn
        self.batches = Batches(opts.max_queue_size, opts.flush_at, opts.flush_interval)
        self.submit = self.batches.put  # the caller's whole cost: no lock, no wake-up unless one is due
        self.wake = threading.Event()
        self.batches.wake = self.wake.set
        self.stopping = threading.Event()
        self.lock = threading.Condition()  # guards the batches' counts against flush's snapshot; flush waits on it
        self.http = http_client(opts)
        self.thread = threading.Thread(target=self._run, name="footfall-sender", daemon=True)
        self.thread.start()

    @property
    def pending(self) -> int:
        return self.batches.pending

    def flush(self, deadline: float) -> bool:
        with self.lock:
            target = self.batches.flush()
            self.wake.set()
            while self.batches.done < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.lock.wait(remaining)
        return True

    def stop(self, deadline: float) -> list[bytes]:
        self.stopping.set()
        self.wake.set()
        self.thread.join(max(0.0, deadline - time.monotonic()))
        with self.lock:  # the sender takes batches under this lock: what is left here, it never takes
            left = self.batches.drain()
        if not self.thread.is_alive():
            self.http.close()
        # else: stuck in a request that will time out and report its batch; a daemon, so exit is not held up
        return left

    def _run(self) -> None:
        batches = self.batches
        while not self.stopping.is_set():
            with self.lock:
                wait = batches.next_wait(time.monotonic())
                batch = batches.take() if wait is None else []
            if wait is not None:
                self._sleep(*wait)
                continue
            try:
                send_batch(self.http, self.opts, batch, self.report, self.warn, self.stopping)
            except Exception:  # a bug here must not end the thread: log it, count the batch as lost, go on
                log.exception("footfall: failed to send a batch of %d messages", len(batch))
            finally:
                with self.lock:
                    batches.finished()
                    self.lock.notify_all()

    def _sleep(self, want: int, timeout: float | None) -> None:
        """Until the buffer holds `want` messages, a flush or stop, or `timeout`."""
        self.wake.clear()
        self.batches.want = want
        if len(self.batches.buffer) < want and not self.batches.flushing and not self.stopping.is_set():
            self.wake.wait(timeout)
        self.batches.want = NEVER


class AsyncWorker:
    """Runs on the event loop it was made on; call it from that loop's thread only."""

    def __init__(self, opts: Options, report: Report, warn: Warn, loop: asyncio.AbstractEventLoop) -> None:
        self.opts = opts
        self.report = report
        self.warn = warn
        self.loop = loop
        self.batches = Batches(opts.max_queue_size, opts.flush_at, opts.flush_interval)
        self.submit = self.batches.put
        self.wake = asyncio.Event()
        self.batches.wake = self.wake.set
        self.progress = asyncio.Event()  # set whenever a batch is done with
        self.stopping = False  # stop() cancelled the task: give up what is left instead of sending it
        self.http = httpx.AsyncClient(
            auth=(opts.write_key, ""),
            headers=headers(opts.write_key, opts.gzip),
            timeout=opts.timeout,
            transport=opts.transport,
        )
        self.task = loop.create_task(self._run(), name="footfall-sender")

    @property
    def pending(self) -> int:
        return self.batches.pending

    async def flush(self, deadline: float) -> bool:
        target = self.batches.flush()  # what is there now; later messages are not waited for
        self.wake.set()

        async def reached() -> None:
            while self.batches.done < target:
                self.progress.clear()
                await self.progress.wait()

        remaining = deadline - time.monotonic()
        try:
            await asyncio.wait_for(reached(), max(0.0, remaining) if remaining != float("inf") else None)
        except TimeoutError:
            return False
        return True

    async def stop(self, deadline: float) -> list[bytes]:
        """Cancel the task (it reports what it held as given up) and close the connections."""
        self.stopping = True
        self.task.cancel()
        await asyncio.wait([self.task], timeout=max(0.0, deadline - time.monotonic()))
        await self.http.aclose()
        return []

    async def _run(self) -> None:
        batches = self.batches
        try:
            while True:
                wait = batches.next_wait(time.monotonic())
                if wait is not None:
                    await self._sleep(*wait)
                    continue
                batch = batches.take()
                try:
                    await send_batch_async(self.http, self.opts, batch, self.report, self.warn, None)
                except Exception:
                    log.exception("footfall: failed to send a batch of %d messages", len(batch))
                # Not in a `finally`: a cancellation must find the batch still in flight.
                batches.finished()
                self.progress.set()
        except asyncio.CancelledError:
            await self._last_send()
            raise

    async def _sleep(self, want: int, timeout: float | None) -> None:
        self.wake.clear()
        self.batches.want = want
        try:
            if len(self.batches.buffer) < want and not self.batches.flushing:
                await asyncio.wait_for(self.wake.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            self.batches.want = NEVER

    async def _last_send(self) -> None:
        """Cancelled: by stop() (give up what is left), or by the loop ending (send it, bounded)."""
        batches = self.batches
        batches.requeue(batches.inflight)  # the batch being sent, if any, goes again first
        batches.inflight = []
        if not batches.buffer:
            return
        if self.stopping:
            self.report(GaveUp("the client shut down before they were sent"), batches.drain())
            return
        deadline = time.monotonic() + self.opts.shutdown_timeout
        try:
            while batches.buffer:
                batch = batches.take()
                await asyncio.wait_for(
                    send_batch_async(self.http, self.opts, batch, self.report, self.warn, deadline),
                    max(0.0, deadline - time.monotonic()),
                )
                batches.finished()
        except (TimeoutError, asyncio.CancelledError):
            log.warning("footfall: event loop ended with messages not yet delivered")
