"""The group committer on a real SQLite store: live requests go before an import's chunks, which are never
starved."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from collector.store.base import WriteBatch
from collector.store.group_commit import GroupCommitter
from collector.store.sqlite import SqliteStore
from collector.types import StoredMessage


def batch(*ids: str) -> WriteBatch:
    return WriteBatch([StoredMessage(i, "track", "E", "u", None, 1, 1, b"{}", "test") for i in ids])


@contextlib.asynccontextmanager
async def committing(path: Path, **options: Any) -> AsyncIterator[tuple[SqliteStore, GroupCommitter]]:
    """A store on `path` (SqliteStore's `options`) with its group committer running; both stopped after."""
    store = SqliteStore(f"sqlite:///{path}", **options)
    await store.open()
    committer = GroupCommitter(store)
    committer.start()
    try:
        yield store, committer
    finally:
        await committer.stop()
        await store.close()


def commit_order(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT message_id FROM messages ORDER BY seq")]


def test_a_background_batch_waits_for_the_requests_queued_and_then_goes(tmp_path: Path) -> None:
    """Found measuring: live requests committed together with 1,000-row import chunks waited for them."""
    path = tmp_path / "f.db"

    async def run() -> list[set[str]]:
        first, second = asyncio.Event(), asyncio.Event()
        async with committing(path) as (_, committer):
            # The writer is busy (a job holds it) while an import's chunk and then two requests queue.
            busy = asyncio.create_task(committer.exclusive(first.wait))
            await asyncio.sleep(0)
            imported = asyncio.create_task(committer.submit(batch("import-1", "import-2"), background=True))
            await asyncio.sleep(0)
            live = [asyncio.create_task(committer.submit(batch(f"live-{i}"))) for i in range(2)]
            await asyncio.sleep(0)
            busy_again = asyncio.create_task(committer.exclusive(second.wait))  # after the requests' commit
            await asyncio.sleep(0)
            first.set()
            await asyncio.wait_for(asyncio.shield(live[0]), 10)
            # A request that comes now, while the chunk waits its turn, does not pass it again.
            live.append(asyncio.create_task(committer.submit(batch("live-late"))))
            await asyncio.sleep(0)
            second.set()
            await busy
            await busy_again
            results = [await imported]
            results += [await task for task in live]
            return results

    results = asyncio.run(run())
    assert results == [{"import-1", "import-2"}, {"live-0"}, {"live-1"}, {"live-late"}]
    # The queued requests before the import's chunk; a request that came later does not pass it again.
    assert commit_order(path) == ["live-0", "live-1", "import-1", "import-2", "live-late"]


def test_a_large_background_batch_is_written_in_slices_with_requests_between(tmp_path: Path) -> None:
    """A live request waits for one slice's commit, not for a whole import chunk's."""
    from collector.store.group_commit import BACKGROUND_SLICE

    path = tmp_path / "f.db"
    size = 2 * BACKGROUND_SLICE + 7
    commits: list[int] = []

    async def run() -> tuple[set[str], set[str]]:
        live: list[asyncio.Future[set[str]]] = []
        async with committing(path) as (_, committer):

            def arrive(rows: int, seconds: float) -> None:  # a request arrives while the first slice commits
                commits.append(rows)
                if len(commits) == 1:
                    live.append(asyncio.ensure_future(committer.submit(batch("live"))))

            committer.on_commit = arrive
            imported = await committer.submit(batch(*(f"import-{i}" for i in range(size))), background=True)
            return imported, await live[0]

    imported, live = asyncio.run(run())
    assert imported == {f"import-{i}" for i in range(size)} and live == {"live"}
    assert sorted(commits) == sorted([BACKGROUND_SLICE, BACKGROUND_SLICE, 7, 1]) and commits[0] == BACKGROUND_SLICE
    order = commit_order(path)
    assert len(order) == size + 1 and BACKGROUND_SLICE <= order.index("live") < size  # between two slices


def test_a_commit_takes_requests_up_to_a_size_in_bytes(tmp_path: Path) -> None:
    """Found in review: a commit took up to 20,000 rows whatever their size (650 MB of 32 KB messages),
    held several times over while handed to the writer. Now it stops adding requests past
    MAX_BYTES_PER_COMMIT (the request that passes it still goes, whole)."""
    from collector.store.group_commit import MAX_BYTES_PER_COMMIT

    path = tmp_path / "f.db"
    body = b"x" * (MAX_BYTES_PER_COMMIT // 8)
    commits: list[int] = []

    async def run() -> list[set[str]]:
        async with committing(path, writer_process=True) as (_, committer):
            committer.on_commit = lambda rows, seconds: commits.append(rows)
            big = [WriteBatch([StoredMessage(f"m{i}", "track", "E", "u", None, 1, 1, body, "t")]) for i in range(20)]
            huge = WriteBatch([StoredMessage("huge", "track", "E", "u", None, 1, 1, body * 10, "t")])
            return list(await asyncio.gather(*(committer.submit(b) for b in [*big, huge])))

    results = asyncio.run(run())
    assert results == [{f"m{i}"} for i in range(20)] + [{"huge"}]
    # 8 of them reach the size; the last 4 are under it, and the huge one (past it alone) goes with them
    assert commits == [8, 8, 5], commits
    assert len(commit_order(path)) == 21


def test_a_writer_that_stops_answering_is_killed_and_its_requests_fail_not_written_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found in review: a writer gone before it answers may have committed; writing its requests again one
    by one stored their quarantine rows twice. Now they fail (StoreUnavailable: a 503, which clients retry;
    messageIds keep a stored message from being stored twice). A writer that stops answering (here,
    SIGSTOP) is killed after ANSWER_SECONDS, and the next write has a new one."""
    import os
    import signal

    from collector.store import sqlite_writer
    from collector.store.group_commit import StoreUnavailable
    from collector.types import QuarantineRow

    monkeypatch.setattr(sqlite_writer, "ANSWER_SECONDS", 1.0)
    path = tmp_path / "f.db"

    async def run() -> tuple[list[object], set[str]]:
        async with committing(path, writer_process=True) as (store, committer):
            assert store._commits is not None and store._commits.pid is not None
            stopped = store._commits.pid
            os.kill(stopped, signal.SIGSTOP)
            bad = [QuarantineRow(1, "bad", b"{}", f"q{i}") for i in range(2)]
            requests = [WriteBatch(batch(f"m{i}").messages, [bad[i]]) for i in range(2)]
            outcomes = await asyncio.gather(*(committer.submit(r) for r in requests), return_exceptions=True)
            assert store._commits.pid is None or store._commits.pid != stopped
            return outcomes, await committer.submit(batch("after"))

    outcomes, after = asyncio.run(run())
    assert all(isinstance(o, StoreUnavailable) and "did not answer" in str(o) for o in outcomes), outcomes
    assert after == {"after"}
    assert commit_order(path) == ["after"]
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM quarantine").fetchone() == (0,)
