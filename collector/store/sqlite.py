"""SQLite backend (aiosqlite): WAL, versioned migrations, one writer connection and one reader."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
from collections.abc import Collection
from pathlib import Path

import aiosqlite

from collector.store.base import (
    Erased,
    ExpiryPosition,
    ExpiryStep,
    ExportFilter,
    NoStore,
    Position,
    Store,
    WriteBatch,
)
from collector.types import Link, Trait

# Each entry moves the schema one version up; PRAGMA user_version records how far a file has come.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id TEXT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        event TEXT,
        user_id TEXT,
        anonymous_id TEXT,
        timestamp INTEGER NOT NULL,
        received_at INTEGER NOT NULL,
        body BLOB NOT NULL
    );
    CREATE INDEX messages_user ON messages (user_id, seq) WHERE user_id IS NOT NULL;
    CREATE INDEX messages_anonymous ON messages (anonymous_id, seq) WHERE anonymous_id IS NOT NULL;
    CREATE INDEX messages_timestamp ON messages (timestamp);
    CREATE INDEX messages_received ON messages (received_at);
    CREATE TABLE quarantine (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        received_at INTEGER NOT NULL,
        reason TEXT NOT NULL,
        payload BLOB NOT NULL,
        message_id TEXT
    );
    CREATE INDEX quarantine_received ON quarantine (received_at);
    """,
    """
    CREATE TABLE links (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        from_id TEXT NOT NULL UNIQUE,
        user_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        linked_at INTEGER NOT NULL
    );
    CREATE INDEX links_user ON links (user_id);
    CREATE TABLE traits (
        user_id TEXT NOT NULL,
        name TEXT NOT NULL,
        value BLOB NOT NULL,
        set_at INTEGER NOT NULL,
        PRIMARY KEY (user_id, name)
    ) WITHOUT ROWID;
    CREATE TABLE suppressed (
        user_hash TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    ALTER TABLE quarantine ADD COLUMN user_id TEXT;
    ALTER TABLE quarantine ADD COLUMN anonymous_id TEXT;
    CREATE INDEX quarantine_user ON quarantine (user_id) WHERE user_id IS NOT NULL;
    CREATE INDEX quarantine_anonymous ON quarantine (anonymous_id) WHERE anonymous_id IS NOT NULL;
    """,
    """
    DROP INDEX messages_timestamp;
    CREATE INDEX messages_expiry ON messages (timestamp, seq) WHERE user_id IS NULL;
    """,
]

log = logging.getLogger("footfall.store")

CHECKPOINT_INTERVAL = 1.0  # seconds
WAL_SIZE_LIMIT = 64 * 1024 * 1024  # bytes the WAL file is cut back to after a reset

COLUMNS = "message_id, type, event, user_id, anonymous_id, timestamp, received_at, body"
ROWS_PER_STATEMENT = 32766 // 8 // 2  # well under SQLite's bound-variable limit


# A set of IDs, bound as one JSON array: no limit on how many IDs a person has.
IDS = "(SELECT value FROM json_each(?))"
# A message of a person's anonymousId belongs to them unless it names another user (someone else
# signed in on the same browser). Binds the IDs three times.
PERSON = f"(user_id IN {IDS} OR (anonymous_id IN {IDS} AND (user_id IS NULL OR user_id IN {IDS})))"


def _ids(ids: Collection[str]) -> str:
    return json.dumps(sorted(ids))


class SqliteStore(Store):
    def __init__(self, url: str, *, sync_commits: bool = False) -> None:
        # sqlite:///relative/path or sqlite:////absolute/path, as SQLAlchemy spells them.
        self.path = url.removeprefix("sqlite:///")
        self.sync_commits = sync_commits
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._checkpointer: aiosqlite.Connection | None = None
        self._checkpoint_task: asyncio.Task[None] | None = None

    async def open(self, *, create: bool = True) -> None:
        if self.path != ":memory:":
            path = Path(self.path)
            if not path.exists():
                if not create:
                    raise NoStore(f"no database at {path}")
                # Owner-only: messages hold traits such as e-mail addresses. SQLite gives the -wal and -shm
                # files the database file's mode.
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        self._writer = await self._connect()
        await self._migrate(self._writer)
        self._reader = await self._connect()
        self._checkpointer = await self._connect()
        self._checkpoint_task = asyncio.create_task(self._checkpoint_loop(), name="footfall-sqlite-checkpoint")

    async def _checkpoint_loop(self) -> None:
        assert self._checkpointer is not None
        while True:
            await asyncio.sleep(CHECKPOINT_INTERVAL)
            try:
                await self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error:
                log.exception("WAL checkpoint failed; will try again")

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        await conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL: a commit is in the WAL before we answer, so it survives a process crash (kill -9);
        # FULL also fsyncs it, so it survives power loss.
        await conn.execute(f"PRAGMA synchronous={'FULL' if self.sync_commits else 'NORMAL'}")
        await conn.execute("PRAGMA busy_timeout=5000")
        # Erased and expired rows are overwritten with zeros, not left readable in free pages.
        await conn.execute("PRAGMA secure_delete=ON")
        # Checkpoints (copying the WAL into the database, with an fsync) would stall the writer, and so
        # every waiting request; a connection of their own does them instead (see _checkpoint_loop).
        await conn.execute("PRAGMA wal_autocheckpoint=0")
        await conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        return conn

    async def _migrate(self, conn: aiosqlite.Connection) -> None:
        async with conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        version = row[0] if row else 0
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            await conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version={number};\nCOMMIT;")

    async def close(self) -> None:
        if self._checkpoint_task is not None:
            self._checkpoint_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpoint_task
            self._checkpoint_task = None
        for conn in (self._checkpointer, self._reader):
            if conn is not None:
                await conn.close()
        if self._writer is not None:
            await self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            await self._writer.close()
        self._reader = self._writer = self._checkpointer = None

    @property
    def writer(self) -> aiosqlite.Connection:
        assert self._writer is not None, "store is not open"
        return self._writer

    @property
    def reader(self) -> aiosqlite.Connection:
        assert self._reader is not None, "store is not open"
        return self._reader

    async def write(self, batch: WriteBatch) -> set[str]:
        conn = self.writer
        inserted: set[str] = set()
        messages = batch.messages
        await conn.execute("BEGIN IMMEDIATE")
        try:
            for start in range(0, len(messages), ROWS_PER_STATEMENT):
                chunk = messages[start : start + ROWS_PER_STATEMENT]
                sql = (
                    f"INSERT INTO messages ({COLUMNS}) VALUES "
                    + ",".join(["(?,?,?,?,?,?,?,?)"] * len(chunk))
                    + " ON CONFLICT (message_id) DO NOTHING RETURNING message_id"
                )
                params = [value for row in chunk for value in row]
                inserted.update(r[0] for r in await conn.execute_fetchall(sql, params))  # one trip to the thread
            if batch.quarantine:
                await conn.executemany(
                    "INSERT INTO quarantine (received_at, reason, payload, message_id, user_id, anonymous_id)"
                    " VALUES (?,?,?,?,?,?)",
                    batch.quarantine,
                )
            if batch.links:
                await conn.executemany(
                    "INSERT INTO links (from_id, user_id, kind, linked_at) VALUES (?,?,?,?)"
                    " ON CONFLICT (from_id) DO NOTHING",
                    batch.links,
                )
            if batch.traits:
                await conn.executemany(
                    "INSERT INTO traits (user_id, name, value, set_at) VALUES (?,?,?,?)"
                    " ON CONFLICT (user_id, name) DO UPDATE SET value = excluded.value, set_at = excluded.set_at"
                    " WHERE excluded.set_at >= traits.set_at",
                    batch.traits,
                )
            await conn.execute("COMMIT")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
        return inserted

    async def read_messages(self, after: Position, limit: int, where: ExportFilter) -> list[tuple[Position, bytes]]:
        # One writer connection commits in sequence order, so the sequence alone is the position.
        clauses = ["seq > ?"]
        params: list[object] = [after[0] if after else 0]
        for column, op, value in where.comparisons():
            clauses.append(f"{column} {op} ?")
            params.append(value)
        if where.person is not None:
            clauses.append(PERSON)
            params += [_ids(where.person)] * 3
        sql = f"SELECT seq, body FROM messages WHERE {' AND '.join(clauses)} ORDER BY seq LIMIT ?"
        async with self.reader.execute(sql, [*params, limit]) as cur:
            return [((r[0],), r[1]) for r in await cur.fetchall()]

    async def read_quarantine(self, after: Position, limit: int) -> list[tuple[Position, int, str, bytes]]:
        sql = "SELECT id, received_at, reason, payload FROM quarantine WHERE id > ? ORDER BY id LIMIT ?"
        async with self.reader.execute(sql, (after[0] if after else 0, limit)) as cur:
            return [((r[0],), r[1], r[2], r[3]) for r in await cur.fetchall()]

    async def linked_to(self, user_ids: Collection[str]) -> set[str]:
        async with self.reader.execute(f"SELECT from_id FROM links WHERE user_id IN {IDS}", (_ids(user_ids),)) as cur:
            return {r[0] for r in await cur.fetchall()}

    async def linked_from(self, some_id: str) -> str | None:
        async with self.reader.execute("SELECT user_id FROM links WHERE from_id = ?", (some_id,)) as cur:
            row = await cur.fetchone()
        return None if row is None else str(row[0])

    async def read_links(self, after: Position, limit: int) -> list[tuple[Position, Link]]:
        sql = "SELECT id, from_id, user_id, kind, linked_at FROM links WHERE id > ? ORDER BY id LIMIT ?"
        async with self.reader.execute(sql, (after[0] if after else 0, limit)) as cur:
            return [((r[0],), Link(r[1], r[2], r[3], r[4])) for r in await cur.fetchall()]

    async def read_traits(self, ids: Collection[str]) -> list[Trait]:
        sql = f"SELECT user_id, name, value, set_at FROM traits WHERE user_id IN {IDS}"
        async with self.reader.execute(sql, (_ids(ids),)) as cur:
            return [Trait(r[0], r[1], r[2], r[3]) for r in await cur.fetchall()]

    async def read_users(self, after: str, limit: int) -> list[str]:
        sql = (
            "SELECT user_id FROM (SELECT DISTINCT user_id FROM messages WHERE user_id > ?1"
            " UNION SELECT DISTINCT user_id FROM traits WHERE user_id > ?1) ORDER BY user_id LIMIT ?2"
        )
        async with self.reader.execute(sql, (after, limit)) as cur:
            return [r[0] for r in await cur.fetchall()]

    # An anonymous message expires when older than the cutoff and its anonymousId was never linked.
    _EXPIRED = (
        "FROM messages WHERE user_id IS NULL AND timestamp < ?"
        " AND NOT EXISTS (SELECT 1 FROM links WHERE links.from_id = messages.anonymous_id)"
    )

    async def count_expired(self, cutoff: int) -> tuple[int, int]:
        async with self.reader.execute(f"SELECT count(*) {self._EXPIRED}", (cutoff,)) as cur:
            messages = (await cur.fetchone() or (0,))[0]
        async with self.reader.execute("SELECT count(*) FROM quarantine WHERE received_at < ?", (cutoff,)) as cur:
            quarantine = (await cur.fetchone() or (0,))[0]
        return messages, quarantine

    async def expire_some(self, cutoff: int, limit: int, position: ExpiryPosition) -> ExpiryStep:
        conn = self.writer
        await conn.execute("BEGIN IMMEDIATE")
        try:
            # Walk the (timestamp, seq) index of user-less messages from where the last step stopped.
            async with conn.execute(
                "SELECT timestamp, seq, EXISTS (SELECT 1 FROM links WHERE links.from_id = messages.anonymous_id)"
                " FROM messages WHERE user_id IS NULL AND timestamp < ? AND (timestamp, seq) > (?, ?)"
                " ORDER BY timestamp, seq LIMIT ?",
                (cutoff, *position, limit),
            ) as cur:
                rows = list(await cur.fetchall())
            doomed = [(r[1],) for r in rows if not r[2]]
            if doomed:
                await conn.executemany("DELETE FROM messages WHERE seq = ?", doomed)
            cur = await conn.execute(
                "DELETE FROM quarantine WHERE id IN (SELECT id FROM quarantine WHERE received_at < ? LIMIT ?)",
                (cutoff, limit),
            )
            quarantine = cur.rowcount
            await conn.execute("COMMIT")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
        last = (rows[-1][0], rows[-1][1]) if rows else position
        return ExpiryStep(len(doomed), quarantine, last, done=len(rows) < limit and quarantine < limit)

    async def erase(self, ids: Collection[str], limit: int) -> Erased:
        conn = self.writer
        person = _ids(ids)
        await conn.execute("BEGIN IMMEDIATE")
        try:
            messages = await self._delete_rows_of(conn, "messages", "seq", person, limit)
            quarantine = await self._delete_rows_of(conn, "quarantine", "id", person, limit)
            links = traits = 0
            if messages < limit and quarantine < limit:  # the last step: the graph goes with the data
                cur = await conn.execute(
                    f"DELETE FROM links WHERE from_id IN {IDS} OR user_id IN {IDS}", (person, person)
                )
                links = cur.rowcount
                cur = await conn.execute(f"DELETE FROM traits WHERE user_id IN {IDS}", (person,))
                traits = cur.rowcount
            await conn.execute("COMMIT")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
        return Erased(messages, quarantine, links, traits)

    @staticmethod
    async def _delete_rows_of(conn: aiosqlite.Connection, table: str, key: str, person: str, limit: int) -> int:
        """Delete up to `limit` rows of `table` that belong to the person with these IDs (JSON)."""
        cur = await conn.execute(
            f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE user_id IN {IDS}"
            f" UNION SELECT {key} FROM {table} WHERE anonymous_id IN {IDS}"
            f" AND (user_id IS NULL OR user_id IN {IDS}) LIMIT ?)",
            (person, person, person, limit),
        )
        return cur.rowcount

    async def suppress(self, user_hash: str, at: int) -> None:
        await self.writer.execute(
            "INSERT INTO suppressed (user_hash, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING", (user_hash, at)
        )

    async def read_suppressed(self) -> set[str]:
        async with self.reader.execute("SELECT user_hash FROM suppressed") as cur:
            return {r[0] for r in await cur.fetchall()}
