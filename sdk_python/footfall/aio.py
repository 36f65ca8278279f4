"""`AsyncClient`: the same calls for asyncio services, sent by a task on the running event loop.

The tracking calls are plain (not `async`) methods, as with `Client`: they validate, encode and queue,
and never block or raise. Call them from the event loop's thread. `flush()` and `shutdown()` are
coroutines. When the loop ends with `asyncio.run()` still holding queued messages, the sender task's
cancellation sends them first, bounded by `shutdown_timeout`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any

import httpx

from footfall.client import Calls, Stats
from footfall.errors import GaveUp
from footfall.options import DEFAULT_HOST, OnError, Options
from footfall.transport import MAX_BATCH_BYTES, Delivery, headers

log = logging.getLogger("footfall")


class _Marker:
    """A queue item that is not a message: a flush asked for now."""


_FLUSH = _Marker()


class AsyncClient(Calls):
    """A Footfall client for asyncio. Same options as `Client`, except `transport` is an
    `httpx.AsyncBaseTransport` and there is no `sync_mode` (await `flush()` instead)."""

    def __init__(
        self,
        write_key: str | None = None,
        host: str | None = None,
        *,
        on_error: OnError | None = None,
        debug: bool = False,
        send: bool = True,
        max_queue_size: int = 10_000,
        flush_at: int = 100,
        flush_interval: float = 0.5,
        gzip: bool = True,
        timeout: float = 15.0,
        max_retries: int = 10,
        retry_delay: float = 0.5,
        max_retry_delay: float = 30.0,
        shutdown_timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.opts = Options(
            write_key,  # type: ignore[arg-type]  # checked by Options
            host or DEFAULT_HOST,
            on_error=on_error,
            debug=debug,
            send=send,
            max_queue_size=max_queue_size,
            flush_at=flush_at,
            flush_interval=flush_interval,
            gzip=gzip,
            timeout=timeout,
            max_retries=max_retries,
            retry_delay=retry_delay,
            max_retry_delay=max_retry_delay,
            shutdown_timeout=shutdown_timeout,
            flush_at_exit=True,
            transport=transport,
        )
        self.stats = Stats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid: int | None = None
        self._queue: asyncio.Queue[bytes | _Marker] | None = None
        self._task: asyncio.Task[None] | None = None
        self._http: httpx.AsyncClient | None = None
        self._inflight: list[bytes] = []
        self._closing = False
        self._queued = 0  # messages put on this loop's queue, and messages done with (sent or reported):
        self._finished = 0  # flush() waits for the second to reach what the first was when it was called
        self._progress: asyncio.Event | None = None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    def _submit(self, data: bytes) -> bool:
        if not self.opts.send:
            return True
        if self._closing:
            self.stats.dropped += 1
            log.warning("footfall: call after shutdown() ignored")
            return False
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return self._invalid_context()
        if loop is not self._loop or self._pid != os.getpid():
            self._start(loop)
        assert self._queue is not None
        try:
            self._queue.put_nowait(data)
            self._queued += 1
        except asyncio.QueueFull:
            self.stats.dropped += 1
            if self.stats.dropped in (1, 10, 100) or self.stats.dropped % 1000 == 0:
                log.warning("footfall: queue full; %d dropped so far", self.stats.dropped)
            return False
        return True

    def _invalid_context(self) -> bool:
        self.stats.dropped += 1
        log.warning("footfall: AsyncClient called outside a running event loop; use Client there")
        return False

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        """The first call on this loop (or in a child after fork): a new queue, HTTP client and sender task."""
        self._loop = loop
        self._pid = os.getpid()
        self._queue = asyncio.Queue(self.opts.max_queue_size)
        self._queued = self._finished = 0
        self._progress = asyncio.Event()
        self._http = httpx.AsyncClient(
            auth=(self.opts.write_key, ""),
            headers=headers(self.opts.write_key, self.opts.gzip),
            timeout=self.opts.timeout,
            transport=self.opts.transport,
        )
        self._task = loop.create_task(self._run(self._queue, self._http), name="footfall-sender")

    @property
    def pending(self) -> int:
        """Messages queued on the loop and not yet done with (approximate while a batch is being built)."""
        return (self._queue.qsize() if self._queue is not None else 0) + len(self._inflight)

    async def flush(self, timeout: float | None = 10.0) -> bool:
        """Send everything queued now; True once all of it is done with, False if `timeout` passed first."""
        q, progress = self._queue, self._progress
        if q is None or progress is None or self._loop is not asyncio.get_running_loop():
            return True
        if not q.full():
            q.put_nowait(_FLUSH)
        target = self._queued  # what was queued when flush was called; later messages are not waited for

        async def reached() -> None:
            while self._finished < target:
                progress.clear()
                await progress.wait()

        try:
            await asyncio.wait_for(reached(), timeout)
        except TimeoutError:
            return False
        return True

    async def shutdown(self, timeout: float | None = None) -> bool:
        """Flush, then stop the sender task, within `timeout` (default `shutdown_timeout`)."""
        limit = self.opts.shutdown_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        flushed = await self.flush(limit)
        self._closing = True
        task, http = self._task, self._http
        if task is not None and self._loop is asyncio.get_running_loop():
            task.cancel()
            await asyncio.wait([task], timeout=max(0.0, deadline - time.monotonic()))
        if http is not None:
            await http.aclose()
        return flushed

    async def _run(self, q: asyncio.Queue[bytes | _Marker], http: httpx.AsyncClient) -> None:
        carry: bytes | None = None
        try:
            while True:
                carry = await self._collect(q, carry)
                batch = self._inflight
                try:
                    await self._send(http, batch, None)
                except Exception:
                    log.exception("footfall: failed to send a batch of %d messages", len(batch))
                # Not in a `finally`: a cancellation must find the batch still in self._inflight.
                self._inflight = []
                for _ in batch:
                    q.task_done()
                self._done_with(len(batch))
        except asyncio.CancelledError:
            # self._inflight: the batch being built (its first message is `carry`) or being sent
            # (then `carry`, the message that did not fit, is not in it yet).
            left = list(self._inflight)
            if carry is not None and not (left and left[0] is carry):
                left.append(carry)
            await self._last_send(q, http, left)
            raise

    def _done_with(self, n: int) -> None:
        self._finished += n
        if self._progress is not None:
            self._progress.set()

    async def _last_send(self, q: asyncio.Queue[bytes | _Marker], http: httpx.AsyncClient, left: list[bytes]) -> None:
        """Cancelled: by shutdown() (give up what is left), or by the loop ending (send it, bounded)."""
        self._inflight = []
        while not q.empty():
            item = q.get_nowait()
            if not isinstance(item, _Marker):
                left.append(item)
        if not left:
            return
        if self._closing:
            self._report(GaveUp("the client shut down before they were sent"), left)
            return
        deadline = time.monotonic() + self.opts.shutdown_timeout
        try:
            for i in range(0, len(left), self.opts.flush_at):
                await asyncio.wait_for(
                    self._send(http, left[i : i + self.opts.flush_at], deadline), max(0.0, deadline - time.monotonic())
                )
        except (TimeoutError, asyncio.CancelledError):
            log.warning("footfall: event loop ended with messages not yet delivered")

    async def _collect(self, q: asyncio.Queue[bytes | _Marker], carry: bytes | None) -> bytes | None:
        """Fill `self._inflight` with the next batch (kept there so a cancellation loses nothing);
        returns the message that did not fit."""
        batch = self._inflight = [carry] if carry is not None else []
        size = len(carry) + 1 if carry is not None else 0
        deadline = time.monotonic() + self.opts.flush_interval
        while len(batch) < self.opts.flush_at:
            if batch:
                try:
                    item = await asyncio.wait_for(q.get(), max(0.0, deadline - time.monotonic()))
                except TimeoutError:
                    break
            else:
                item = await q.get()
                deadline = time.monotonic() + self.opts.flush_interval
            if isinstance(item, _Marker):
                q.task_done()
                if batch:
                    break
                continue
            if size + len(item) + 1 > MAX_BATCH_BYTES:
                return item
            batch.append(item)
            size += len(item) + 1
        return None

    async def _send(self, http: httpx.AsyncClient, batch: list[bytes], deadline: float | None) -> Any:
        delivery = Delivery(batch, self.opts.policy, self._report, self._warn)
        while delivery.pending:
            response: httpx.Response | None = None
            error: Exception | None = None
            try:
                response = await http.post(self.opts.url, content=delivery.request())
            except httpx.HTTPError as exc:
                error = exc
            delay = delivery.after(response, error)
            if delivery.pending and delay:
                if deadline is not None and time.monotonic() + delay > deadline:
                    delivery.abandon("the event loop ended while retrying")
                else:
                    await asyncio.sleep(delay)
        return delivery.ok
