"""Group commit: requests wait for their messages to be committed, and share one transaction.

Each request hands its rows to `submit()` and awaits the result. One writer task takes everything
queued since its last commit and writes it in a single transaction, so under load a commit serves
many requests, and a request is never answered before its messages are durable.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from collector.store.base import Store
from collector.types import QuarantineRow, StoredMessage

log = logging.getLogger("footfall.store")

MAX_ROWS_PER_COMMIT = 20_000

_Pending = tuple[Sequence[StoredMessage], Sequence[QuarantineRow], "asyncio.Future[set[str]]"]


class StoreUnavailable(Exception):
    pass


class GroupCommitter:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.commits = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="footfall-group-commit")

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        if self._task is not None:
            self._queue.put_nowait(None)
            await self._task
            self._task = None

    async def submit(self, messages: Sequence[StoredMessage], quarantine: Sequence[QuarantineRow]) -> set[str]:
        """Returns the messageIds newly stored, once they are committed."""
        if self._task is None or self._task.done():
            raise StoreUnavailable("the store writer is not running")
        future: asyncio.Future[set[str]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((messages, quarantine, future))
        return await future

    async def _run(self) -> None:
        stopping = False
        while not stopping:
            item = await self._queue.get()
            if item is None:
                break
            group = [item]
            rows = len(item[0]) + len(item[1])
            while rows < MAX_ROWS_PER_COMMIT and not self._queue.empty():
                nxt = self._queue.get_nowait()
                if nxt is None:
                    stopping = True
                    break
                group.append(nxt)
                rows += len(nxt[0]) + len(nxt[1])
            await self._commit(group)

    async def _commit(self, group: list[_Pending]) -> None:
        messages = [m for g in group for m in g[0]]
        quarantine = [q for g in group for q in g[1]]
        try:
            inserted = await self.store.write(messages, quarantine)
        except Exception as exc:
            log.exception("commit of %d messages failed", len(messages))
            for _, _, future in group:
                if not future.done():
                    future.set_exception(StoreUnavailable(f"storage failed: {exc}"))
            return
        self.commits += 1
        for own, _, future in group:
            # A messageId sent twice within one group is new for the first request only.
            mine = {m.message_id for m in own} & inserted
            inserted -= mine
            if not future.done():
                future.set_result(mine)
