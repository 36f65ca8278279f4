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

from footfall.client import Calls, Stats
from footfall.options import Options
from footfall.worker import AsyncWorker

log = logging.getLogger("footfall")

_THREAD_ONLY = ("sync_mode", "flush_at_exit")


class AsyncClient(Calls):
    """A Footfall client for asyncio: `AsyncClient(write_key, host, **options)`.

    The options are `Client`'s, by keyword, except that `transport` is an `httpx.AsyncBaseTransport` and
    there is no `sync_mode` (await `flush()` instead) nor `flush_at_exit` (the loop's end sends what is left).
    """

    def __init__(self, write_key: str | None = None, host: str | None = None, **options: Any) -> None:
        for name in _THREAD_ONLY:
            if name in options:
                raise TypeError(f"AsyncClient takes no {name!r} option (see the AsyncClient docstring)")
        self.opts = Options.of(write_key, host, options)
        self.stats = Stats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid: int | None = None
        self._worker: AsyncWorker | None = None
        self._closing = False

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
            self.stats.dropped += 1
            log.warning("footfall: AsyncClient called outside a running event loop; use Client there")
            return False
        if loop is not self._loop or self._pid != os.getpid():
            # The first call on this loop (or in a child after fork): a sender of its own.
            self._loop, self._pid = loop, os.getpid()
            self._worker = AsyncWorker(self.opts, self._report, self._warn, loop)
        assert self._worker is not None
        if self._worker.submit(data):
            return True
        self.stats.dropped += 1
        if self.stats.dropped in (1, 10, 100) or self.stats.dropped % 1000 == 0:
            log.warning("footfall: queue full; %d dropped so far", self.stats.dropped)
        return False

    @property
    def pending(self) -> int:
        """Messages queued on the loop and not yet done with."""
        return self._worker.pending if self._worker is not None else 0

    def _current(self) -> AsyncWorker | None:
        """The worker, if it runs on the running loop (another loop's cannot be awaited here)."""
        return self._worker if self._loop is asyncio.get_running_loop() else None

    async def flush(self, timeout: float | None = 10.0) -> bool:
        """Send everything queued now; True once all of it is done with, False if `timeout` passed first."""
        worker = self._current()
        if worker is None:
            return True
        return await worker.flush(time.monotonic() + timeout if timeout is not None else float("inf"))

    async def shutdown(self, timeout: float | None = None) -> bool:
        """Flush, then stop the sender task, within `timeout` (default `shutdown_timeout`). What is still
        queued then is reported to `on_error` as `GaveUp`; later calls are dropped."""
        limit = self.opts.shutdown_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        flushed = await self.flush(limit)
        self._closing = True
        worker = self._current()
        if worker is not None:
            await worker.stop(deadline)
        return flushed
