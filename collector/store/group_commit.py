"""Group commit: requests wait for their messages to be committed, and share one transaction.

Each request hands its rows to `submit()` and awaits the result. One writer task takes everything
queued since its last commit and writes it in a single transaction, so under load a commit serves
many requests, and a request is never answered before its messages are durable. Maintenance writes
(expiry, erasure) go through the same task with `exclusive()`, between two commits, in small steps.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from collector.store.base import CommitUnknown, Store, StoreBusy, WriteBatch

log = logging.getLogger("footfall.store")

MAX_ROWS_PER_COMMIT = 20_000
# Bytes of message bodies a commit: one request's may pass it; no more are added after. (With 32 KB
# messages, 20,000 rows were 650 MB, held several times over while being handed to SQLite's writer.)
MAX_BYTES_PER_COMMIT = 16 * 1024 * 1024
# Messages of a background batch a commit: a live request waits for at most one such commit (a few ms).
BACKGROUND_SLICE = 250
T = TypeVar("T")


class StoreUnavailable(Exception):
    pass


class _Background:
    """A batch (an import's chunk) written a slice at a time, each slice a commit of its own, after the
    requests queued when its turn comes."""

    def __init__(self, batch: WriteBatch, future: asyncio.Future[set[str]]) -> None:
        self.batch = batch
        self.future = future
        self.passed = False  # requests went first once; next time this slice goes, so it is never starved
        self.written = 0  # messages written so far
        self.inserted: set[str] = set()

    def next_slice(self) -> WriteBatch:
        b, start = self.batch, self.written
        self.written += BACKGROUND_SLICE
        messages = b.messages[start : self.written]
        if start:
            return WriteBatch(messages)
        return WriteBatch(messages, b.quarantine, b.links, b.traits, b.guarded_links)  # the rest with the first

    @property
    def finished(self) -> bool:
        return self.written >= len(self.batch.messages)


class _Exclusive:
    def __init__(self, job: Callable[[], Awaitable[Any]], future: asyncio.Future[Any]) -> None:
        self.job = job
        self.future = future


_Item = tuple[WriteBatch, "asyncio.Future[set[str]]"] | _Background | _Exclusive | None


class GroupCommitter:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.commits = 0
        self.pending = 0  # rows submitted and not yet committed (or failed): what backpressure watches
        self.on_commit: Callable[[int, float], None] | None = None  # told (rows, seconds) of each commit
        self.failure: str | None = None  # why the last commit failed, until one succeeds again
        self.failing_since: float | None = None  # time.time() of the first failure in a row

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()  # (asking for it each request costs a getpid() call)
        self._task = self._loop.create_task(self._run(), name="footfall-group-commit")

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        if self._task is not None:
            self._queue.put_nowait(None)
            await self._task
            self._task = None

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        if self._task is None or self._task.done() or self._loop is None:
            raise StoreUnavailable("the store writer is not running")
        return self._loop

    async def submit(self, batch: WriteBatch, *, background: bool = False) -> set[str]:
        """Returns the messageIds newly stored, once they are committed. A `background` batch (an import's
        chunk) is committed on its own, BACKGROUND_SLICE messages a commit, each slice after the requests
        queued when its turn comes: a live request waits for at most one short background commit, not for
        a commit swollen by an import."""
        future: asyncio.Future[set[str]] = self._running_loop().create_future()
        self._queue.put_nowait(_Background(batch, future) if background else (batch, future))
        self.pending += len(batch)
        return await future

    async def exclusive(self, job: Callable[[], Awaitable[T]]) -> T:
        """Run `job` (one short store operation) on the writer, between two group commits."""
        future: asyncio.Future[T] = self._running_loop().create_future()
        self._queue.put_nowait(_Exclusive(job, future))
        return await future

    async def _run(self) -> None:
        carried: list[_Item] = []  # a stop or an exclusive job met while gathering a group
        while True:
            item = carried.pop() if carried else await self._queue.get()
            if item is None:
                if self._queue.empty():
                    return
                self._queue.put_nowait(None)  # background batches are still being written: after them
                continue
            if isinstance(item, _Exclusive):
                await self._exclusive(item)
                continue
            if isinstance(item, _Background):
                if not item.passed and not self._queue.empty():
                    item.passed = True
                    self._queue.put_nowait(item)  # behind the requests queued now
                else:
                    await self._commit_slice(item)
                continue
            # One turn of the event loop first: the requests whose bodies have arrived meanwhile join this
            # commit instead of waiting for the next (under load, fewer and larger commits: a commit costs
            # the event loop the same work whatever its size).
            await asyncio.sleep(0)
            group = [item]
            rows, size = len(item[0]), item[0].body_bytes()
            while rows < MAX_ROWS_PER_COMMIT and size < MAX_BYTES_PER_COMMIT and not self._queue.empty():
                nxt = self._queue.get_nowait()
                if not isinstance(nxt, tuple):
                    carried.append(nxt)  # handled after this group's commit, in queue order
                    break
                group.append(nxt)
                rows, size = rows + len(nxt[0]), size + nxt[0].body_bytes()
            await self._commit(group)

    async def _commit_slice(self, item: _Background) -> None:
        part = item.next_slice()
        done: asyncio.Future[set[str]] = asyncio.get_running_loop().create_future()
        await self._commit([(part, done)])
        if done.exception() is not None:  # the import stops; what was committed before stays
            if not item.future.done():
                item.future.set_exception(done.exception())  # type: ignore[arg-type]
            self.pending -= max(0, len(item.batch.messages) - item.written)  # the slices never written
            return
        item.inserted |= done.result()
        item.batch.refused_users |= part.refused_users
        if item.finished:
            if not item.future.done():
                item.future.set_result(item.inserted)
        else:
            item.passed = False
            self._queue.put_nowait(item)  # the next slice, after the requests that came meanwhile

    async def _exclusive(self, item: _Exclusive) -> None:
        try:
            result = await item.job()
        except Exception as exc:
            if not item.future.done():
                item.future.set_exception(exc)
        else:
            if not item.future.done():
                item.future.set_result(result)

    async def _commit(self, group: list[tuple[WriteBatch, asyncio.Future[set[str]]]]) -> None:
        try:
            await self._write(group)
        finally:
            self.pending -= sum(len(batch) for batch, _ in group)

    async def _write(self, group: list[tuple[WriteBatch, asyncio.Future[set[str]]]]) -> None:
        combined = WriteBatch()
        for batch, _ in group:
            combined.extend(batch)
        started = time.perf_counter()
        try:
            inserted = await self.store.write(combined)
        except Exception as exc:
            # One request's rows may be what failed: the others must not fail with it. (Not when the store
            # was busy: each of them would wait as long again; nor when the commit may have been made.)
            if len(group) > 1 and not isinstance(exc, (StoreBusy, CommitUnknown)):
                log.warning("commit of %d requests failed (%s); writing them one by one", len(group), exc)
                for one in group:
                    await self._write([one])
                return
            log.exception("commit of %d messages failed", len(combined.messages))
            self.failure = f"{type(exc).__name__}: {exc}"
            self.failing_since = self.failing_since or time.time()
            for _, future in group:
                if not future.done():
                    future.set_exception(StoreUnavailable(f"storage failed: {exc}"))
            return
        self.commits += 1
        self.failure = self.failing_since = None
        if self.on_commit is not None:
            self.on_commit(len(combined), time.perf_counter() - started)
        for batch, future in group:
            if combined.refused_users:
                batch.refused_users = combined.refused_users & {m.user_id for m in batch.messages}
            # A messageId sent twice within one group is new for the first request only.
            mine = {m.message_id for m in batch.messages} & inserted
            inserted -= mine
            if not future.done():
                future.set_result(mine)
        try:
            await self.store.after_commit()  # the requests are answered: the store may tidy up now
        except Exception:
            log.exception("store maintenance after a commit failed; will try again after the next")
