"""SQLite backend (aiosqlite): WAL, versioned migrations, one writer connection and one reader."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import aiosqlite

from collector.store.base import ExportFilter, Store
from collector.types import QuarantineRow, StoredMessage

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
]

log = logging.getLogger("footfall.store")

CHECKPOINT_INTERVAL = 1.0  # seconds
WAL_SIZE_LIMIT = 64 * 1024 * 1024  # bytes the WAL file is cut back to after a reset

COLUMNS = "message_id, type, event, user_id, anonymous_id, timestamp, received_at, body"
ROWS_PER_STATEMENT = 32766 // 8 // 2  # well under SQLite's bound-variable limit


class SqliteStore(Store):
    def __init__(self, url: str, *, sync_commits: bool = False) -> None:
        # sqlite:///relative/path or sqlite:////absolute/path, as SQLAlchemy spells them.
        self.path = url.removeprefix("sqlite:///")
        self.sync_commits = sync_commits
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._checkpointer: aiosqlite.Connection | None = None
        self._checkpoint_task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
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

    async def write(self, messages: Sequence[StoredMessage], quarantine: Sequence[QuarantineRow]) -> set[str]:
        conn = self.writer
        inserted: set[str] = set()
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
                async with conn.execute(sql, params) as cur:
                    inserted.update(r[0] for r in await cur.fetchall())
            if quarantine:
                await conn.executemany(
                    "INSERT INTO quarantine (received_at, reason, payload, message_id) VALUES (?,?,?,?)", quarantine
                )
            await conn.execute("COMMIT")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
        return inserted

    async def read_messages(self, after: int, limit: int, where: ExportFilter) -> list[tuple[int, bytes]]:
        clauses = ["seq > ?"]
        params: list[object] = [after]
        for column, value, op in (
            ("received_at", where.since, ">="),
            ("received_at", where.until, "<"),
            ("type", where.type, "="),
            ("event", where.event, "="),
            ("user_id", where.user_id, "="),
        ):
            if value is not None:
                clauses.append(f"{column} {op} ?")
                params.append(value)
        sql = f"SELECT seq, body FROM messages WHERE {' AND '.join(clauses)} ORDER BY seq LIMIT ?"
        async with self.reader.execute(sql, [*params, limit]) as cur:
            return [(r[0], r[1]) for r in await cur.fetchall()]

    async def read_quarantine(self, after: int, limit: int) -> list[tuple[int, int, str, bytes]]:
        sql = "SELECT id, received_at, reason, payload FROM quarantine WHERE id > ? ORDER BY id LIMIT ?"
        async with self.reader.execute(sql, (after, limit)) as cur:
            return [(r[0], r[1], r[2], r[3]) for r in await cur.fetchall()]
