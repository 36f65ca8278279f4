"""SQLite backend (aiosqlite): WAL, versioned migrations, one writer connection and one reader.

Every index, and the queries that need it (each costs every insert; the random-keyed ones, marked *,
cost the most on a large store: each commit rewrites scattered pages of them):
- `messages.message_id` UNIQUE*: a messageId is stored once, forever (`ON CONFLICT (message_id)`).
- `messages_user` (user_id, seq)*: a person's messages (export `?userId=`, profiles, erasure:
  `sql.person`), the browser-link guard (`sql.insert_guarded_link`), the users pull (`sql.users_after`).
- `messages_anonymous` (anonymous_id, seq)*: a person's messages by their anonymous IDs (the same
  queries), and erasure.
- `messages_expiry` (timestamp, seq) WHERE user_id IS NULL: the expiry walk over anonymous messages
  (`sql.expiry_walk`); appended to in time order.
- `messages_received` (received_at): export's `since`/`until` window on a large store (SQLite takes it
  for a bounded window; for `since` alone it walks seq); appended to in time order.
- `quarantine_received`, `quarantine_user`, `quarantine_anonymous`: quarantine expiry; erasure.
- `links.from_id` UNIQUE and `links_user`: the graph's two lookups (`sql.linked_from`, `sql.linked_to`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

import collector.store.sql as sql_
from collector.store.base import (
    BEGINNING,
    Erased,
    ExpiryStep,
    ExportFilter,
    NoStore,
    Position,
    PulledLink,
    PulledMessage,
    PulledQuarantine,
    StoreBusy,
    WriteBatch,
)
from collector.store.sql import Query
from collector.store.sqlite_writer import WriterProcess
from collector.types import Link, Source, StoredMessage

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
    """
    ALTER TABLE messages ADD COLUMN source TEXT;
    CREATE TABLE sources (
        name TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE,
        key_prefix TEXT NOT NULL,
        allowed_origins TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER
    ) WITHOUT ROWID;
    """,
    """
    ALTER TABLE links ADD COLUMN guarded INTEGER NOT NULL DEFAULT 0;
    """,
    """
    CREATE TABLE erasures (id INTEGER PRIMARY KEY AUTOINCREMENT, erased_at INTEGER NOT NULL);
    """,
]

log = logging.getLogger("footfall.store")

CHECKPOINT_INTERVAL = 0.25  # seconds between PASSIVE checkpoints (they wait for nobody)
BUSY_SECONDS = 5.0  # how long a write waits for another process's transaction before it fails (busy_timeout)
WAL_SIZE_LIMIT = 64 * 1024 * 1024  # bytes: the default of --wal-limit-mb

COLUMNS = "message_id, type, event, user_id, anonymous_id, timestamp, received_at, body, source"
VARIABLES_PER_STATEMENT = 32766 // 2  # well under SQLite's bound-variable limit
ROWS_PER_STATEMENT = VARIABLES_PER_STATEMENT // 9  # of messages (9 columns)
_NO_DUPLICATES = " ON CONFLICT (message_id) DO NOTHING"
STYLE: sql_.Style = "qmark"
T = TypeVar("T")


class SqliteStore(sql_.SharedReads):
    STYLE = STYLE

    def __init__(
        self,
        url: str,
        *,
        sync_commits: bool = False,
        wal_limit: int = WAL_SIZE_LIMIT,
        writer_process: bool = False,
    ) -> None:
        """`writer_process`: group commits (`write`) go to a process of their own (`sqlite_writer.py`), as
        the running collector has them; other writes, and every write without it, go to the writer thread."""
        # sqlite:///relative/path or sqlite:////absolute/path, as SQLAlchemy spells them.
        self.path = url.removeprefix("sqlite:///")
        self.sync_commits = sync_commits
        self.wal_limit = wal_limit
        self.writer_process = writer_process and self.path != ":memory:"
        # The writer connection lives on a thread of its own, and each write is one call there (`_call`):
        # the transaction, from taking this process's turn to COMMIT, never waits for the event loop, which
        # is busy with requests. (Through aiosqlite, each statement was a round trip through the event loop,
        # and the file's write lock was held meanwhile: other workers waited for this one's requests.)
        self._writer: Writer | None = None
        self._writer_thread = ThreadPoolExecutor(1, thread_name_prefix="footfall-sqlite-writer")
        self._commits: WriterProcess | None = None  # with `writer_process`, once open
        self._reader: aiosqlite.Connection | None = None
        self._checkpointer: aiosqlite.Connection | None = None
        self._checkpoint_task: asyncio.Task[None] | None = None
        self._lease: int | None = None  # the maintenance lock file, once this process holds it

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
        self._writer = await self._call(self._open_writer)
        try:
            if self.writer_process:
                self._commits = await WriterProcess.start(self.path, self._pragmas())
            self._reader = await self._connect()
            self._checkpointer = await self._connect()
        except BaseException:
            await self.close()
            raise
        self._checkpoint_task = asyncio.create_task(self._checkpoint_loop(), name="footfall-sqlite-checkpoint")

    async def _call(self, job: Callable[..., T], *args: Any) -> T:
        """`job(*args)` on the writer's thread."""
        return await asyncio.get_running_loop().run_in_executor(self._writer_thread, job, *args)

    def _open_writer(self) -> Writer:
        writer = Writer(self.path, self._pragmas())
        with writer.turn():
            version = writer.conn.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                writer.conn.executescript(f"BEGIN;\n{script}\nPRAGMA user_version={number};\nCOMMIT;")
        return writer

    async def _checkpoint_loop(self) -> None:
        assert self._checkpointer is not None
        while True:
            await asyncio.sleep(CHECKPOINT_INTERVAL)
            if not await self.leads_maintenance():  # another process (a worker of the same collector) does it
                continue
            try:
                await self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error:
                log.exception("WAL checkpoint failed; will try again")

    def _pragmas(self) -> list[str]:
        return [
            "PRAGMA journal_mode=WAL",
            # NORMAL: a commit is in the WAL before we answer, so it survives a process crash (kill -9);
            # FULL also fsyncs it, so it survives power loss.
            f"PRAGMA synchronous={'FULL' if self.sync_commits else 'NORMAL'}",
            f"PRAGMA busy_timeout={int(BUSY_SECONDS * 1000)}",
            # Erased and expired rows are overwritten with zeros, not left readable in free pages.
            "PRAGMA secure_delete=ON",
            # Checkpoints (copying the WAL into the database, with an fsync) would stall the writer, and so
            # every waiting request; a connection of their own does them instead (see _checkpoint_loop).
            "PRAGMA wal_autocheckpoint=0",
            # When the WAL starts again from its beginning, its file is cut back to the limit: past it, it
            # has grown since (see after_commit).
            f"PRAGMA journal_size_limit={self.wal_limit or WAL_SIZE_LIMIT}",
        ]

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        for pragma in self._pragmas():
            await conn.execute(pragma)
        return conn

    async def close(self) -> None:
        if self._checkpoint_task is not None:
            self._checkpoint_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpoint_task
            self._checkpoint_task = None
        for conn in (self._checkpointer, self._reader):
            if conn is not None:
                await conn.close()
        if self._commits is not None:
            await self._commits.close()
        if self._writer is not None:
            await self._call(self._close_writer, self._writer)
        self._reader = self._writer = self._checkpointer = self._commits = None
        if self._lease is not None:
            os.close(self._lease)  # (the kernel lets go of its lock with it)
        self._lease = None
        self._writer_thread.shutdown(wait=False)

    @staticmethod
    def _close_writer(writer: Writer) -> None:
        writer.statement("PRAGMA wal_checkpoint(TRUNCATE)")
        writer.close()

    async def leads_maintenance(self) -> bool:
        if self.path == ":memory:":
            return True
        if self._lease is None:
            fd = os.open(f"{self.path}-maintenance.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            self._lease = fd  # held until this store closes (or its process ends)
        return True

    @property
    def reader(self) -> aiosqlite.Connection:
        assert self._reader is not None, "store is not open"
        return self._reader

    async def _transaction(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """`job(connection)` on the writer's thread, in a transaction (see `Writer.transaction`)."""
        assert self._writer is not None, "store is not open"
        return await self._call(self._writer.transaction, job)

    async def _on_writer(self, sql: str, values: Sequence[object] = ()) -> list[Any]:
        """One statement on the writer's thread, in this process's turn, outside a transaction (a checkpoint)."""
        assert self._writer is not None, "store is not open"
        return await self._call(self._writer.statement, sql, values)

    async def _fetch(self, sql: str, q: Query | Sequence[object] | None = None) -> list[Sequence[Any]]:
        values = q.values if isinstance(q, Query) else (q or ())
        async with self.reader.execute(sql, values) as cur:
            return list(await cur.fetchall())

    # --- write ------------------------------------------------------------------------------------------
    async def write(self, batch: WriteBatch) -> set[str]:
        if self._commits is not None:
            inserted, refused = await self._commits.write(batch)
            batch.refused_users |= refused
            return inserted
        assert self._writer is not None, "store is not open"
        return await self._call(self._writer.write, batch)

    async def suppress(self, user_hash: str, at: int) -> None:
        await self._on_writer(sql_.insert_suppressed(STYLE), (user_hash, at))

    async def add_source(self, source: Source) -> bool:
        return await self._transaction(lambda conn: conn.execute(sql_.insert_source(STYLE), source).rowcount == 1)

    async def revoke_source(self, name: str, at: int) -> bool:
        return await self._transaction(lambda conn: conn.execute(sql_.revoke_source(STYLE), (at, name)).rowcount == 1)

    # --- pull -------------------------------------------------------------------------------------------
    # SQLite's write lock lets one transaction write at a time (in any process), and a row's seq is taken
    # in its transaction: rows become visible in sequence order, so the sequence alone is a pull position.
    async def read_messages(self, after: Position, limit: int, where: ExportFilter) -> list[PulledMessage]:
        q = Query(STYLE)
        clauses = [f"seq > {q.bind(after[0] if after else 0)}"]
        clauses += [f"{column} {op} {q.bind(value)}" for column, op, value in where.comparisons()]
        if where.person is not None:
            clauses.append(sql_.person(q, where.person))
        sql = f"SELECT seq, body FROM messages WHERE {' AND '.join(clauses)} ORDER BY seq LIMIT {q.bind(limit)}"
        return [PulledMessage((r[0],), r[1]) for r in await self._fetch(sql, q)]

    async def end_positions(self) -> tuple[Position, Position]:
        found = []
        for sql in ("SELECT max(seq) FROM messages", "SELECT max(id) FROM quarantine"):
            row = (await self._fetch(sql))[0]
            found.append((row[0],) if row[0] is not None else BEGINNING)
        return found[0], found[1]

    async def read_quarantine(self, after: Position, limit: int) -> list[PulledQuarantine]:
        sql = "SELECT id, received_at, reason, payload FROM quarantine WHERE id > ? ORDER BY id LIMIT ?"
        rows = await self._fetch(sql, (after[0] if after else 0, limit))
        return [PulledQuarantine((r[0],), r[1], r[2], r[3]) for r in rows]

    async def read_links(self, after: Position, limit: int) -> list[PulledLink]:
        sql = "SELECT id, from_id, user_id, kind, linked_at FROM links WHERE id > ? ORDER BY id LIMIT ?"
        rows = await self._fetch(sql, (after[0] if after else 0, limit))
        return [PulledLink((r[0],), Link(r[1], r[2], r[3], r[4])) for r in rows]

    # --- the identity graph -----------------------------------------------------------------------------
    # --- maintenance ------------------------------------------------------------------------------------
    async def expire_some(self, cutoff: int, limit: int, position: Position) -> ExpiryStep:
        def step(conn: sqlite3.Connection) -> ExpiryStep:
            q = Query(STYLE)
            rows = conn.execute(sql_.expiry_walk(q, cutoff, position, limit), q.values).fetchall()
            doomed = [(r[1],) for r in rows if not r[2]]
            if doomed:
                conn.executemany("DELETE FROM messages WHERE seq = ?", doomed)
            q = Query(STYLE)
            quarantine = conn.execute(sql_.delete_expired_quarantine(q, cutoff, limit), q.values).rowcount
            last = (rows[-1][0], rows[-1][1]) if rows else position
            return ExpiryStep(len(doomed), quarantine, last, done=len(rows) < limit and quarantine < limit)

        return await self._transaction(step)

    async def erase(self, ids: Collection[str], limit: int) -> Erased:
        def step(conn: sqlite3.Connection) -> Erased:
            counts = []
            for table, key in (("messages", "seq"), ("quarantine", "id")):
                q = Query(STYLE)
                counts.append(conn.execute(sql_.delete_rows_of(q, table, key, ids, limit), q.values).rowcount)
            q = Query(STYLE)
            counts.append(conn.execute(sql_.delete_quarantine_naming(q, ids, limit), q.values).rowcount)
            messages, quarantine, named = counts
            links = traits = 0
            if messages < limit and quarantine < limit and named < limit:  # the last step: the graph goes too
                q = Query(STYLE)
                links = conn.execute(sql_.delete_links_of(q, ids), q.values).rowcount
                q = Query(STYLE)
                traits = conn.execute(sql_.delete_traits_of(q, ids), q.values).rowcount
                if links:
                    conn.execute(sql_.record_erasure(STYLE), (int(time.time() * 1000),))
            return Erased(messages, quarantine + named, links, traits)

        return await self._transaction(step)

    def stats(self) -> dict[str, float]:
        sizes = {}
        for name, suffix in (("database_bytes", ""), ("wal_bytes", "-wal")):
            try:
                sizes[name] = float(os.stat(self.path + suffix).st_size)
            except OSError:
                sizes[name] = 0.0
        return sizes

    async def after_commit(self) -> None:
        # The checkpointer's PASSIVE checkpoints cannot finish while commits keep coming (and readers keep
        # reading), so under steady load the WAL only grew. Past the limit, the writer itself, between
        # commits, finishes the checkpoint, and the next commit writes the WAL from its start (and cuts
        # the file back to the limit): the WAL stays under about the limit plus one commit. The PASSIVE
        # checkpoints, several a second, have done most of the copying by then, so this one is short (a
        # TRUNCATE checkpoint here, with less done before it, held every commit up for 100 to 250 ms).
        try:
            size = os.stat(self.path + "-wal").st_size
        except OSError:
            return
        if size > self.wal_limit:
            rows = await self._on_writer("PRAGMA wal_checkpoint(RESTART)")
            if rows and rows[0][0]:
                log.info(
                    "WAL at %d bytes: its checkpoint waited for a reader; trying again after the next commit", size
                )

    async def scrub(self) -> bool:
        # secure_delete has overwritten the deleted rows in the pages that now sit in the WAL; the WAL
        # still holds the pages as they were before. A TRUNCATE checkpoint copies the WAL into the
        # database and cuts it to zero bytes. It finishes only if no reader holds an older snapshot.
        rows = await self._on_writer("PRAGMA wal_checkpoint(TRUNCATE)")
        return bool(rows) and rows[0][0] == 0


class Writer:
    """A connection that writes the file, with this process's turn among the processes writing it. Its calls
    block: it is used on the store's writer thread, and in the writer process (`sqlite_writer.py`)."""

    def __init__(self, path: str, pragmas: Sequence[str]) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in pragmas:
            self.conn.execute(pragma)
        # the writers' lock file (see `turn`); an in-memory store has one connection, nobody to take turns with
        self._turns = None if path == ":memory:" else os.open(f"{path}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)

    def close(self) -> None:
        self.conn.close()
        if self._turns is not None:
            os.close(self._turns)  # (the kernel lets go of its lock with it)
            self._turns = None

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """This connection's turn to write, among those writing the same file (the workers of one collector
        and their writer processes, `footfall import --direct`, `footfall keys`): an exclusive flock on
        `<db>-writer.lock`, through a file description of this connection's own.

        SQLite's own write lock keeps the file correct without it; but a writer that finds that lock taken
        polls for it, sleeping up to 100 ms between tries, and two busy processes left requests waiting for
        seconds. Here the wait for the turn polls at most a millisecond apart. It is bounded like SQLite's
        own (BUSY_SECONDS): past it, the write fails as "database is locked", and its requests get a 503."""
        fd = self._turns
        if fd is None:
            yield
            return
        deadline = time.monotonic() + BUSY_SECONDS
        pause = 0.0001
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StoreBusy(
                        f"database is locked: another process held its write lock for over {BUSY_SECONDS:g} s"
                    ) from None
                time.sleep(pause)
                pause = min(pause * 2, 0.001)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def transaction(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """`job(connection)` in a transaction that takes the write lock at once (in this connection's turn),
        committed if the job returns, rolled back if it (or the commit) raises. The error that ended it is
        the one raised: SQLite rolls back by itself after some (a full disk), and a failed ROLLBACK must
        not hide why."""
        conn = self.conn
        with self.turn():
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):  # a writer outside our
                    raise StoreBusy(f"database is locked: {exc}") from exc  # turns held it past busy_timeout
                raise
            try:
                result = job(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        log.exception("ROLLBACK failed after a failed transaction")
                raise
            return result

    def statement(self, sql: str, values: Sequence[object] = ()) -> list[Any]:
        """One statement in this connection's turn, outside a transaction (a checkpoint, say)."""
        with self.turn():
            return self.conn.execute(sql, values).fetchall()

    def write(self, batch: WriteBatch) -> set[str]:
        """A group commit's rows (see Store.write): the messageIds newly stored. The users found suppressed,
        whose rows were left out, are added to `batch.refused_users`."""
        inserts = _inserts(batch.messages)  # before this connection's turn: others may write meanwhile
        return self.transaction(lambda conn: _write(conn, batch, inserts))


_Insert = tuple[list[StoredMessage], str, list[object]]


def _inserts(messages: list[StoredMessage]) -> list[_Insert]:
    """The INSERT statements of these messages, with their values: a statement each ROWS_PER_STATEMENT.

    Each is one step of SQLite. A thread gives up the GIL around each step, and waits for it afterwards
    while another thread holds it, with the write lock held meanwhile (each row of a RETURNING clause
    was such a step); the serving collector's writer process has the GIL to itself, but the commands'
    writer thread does not."""
    out: list[_Insert] = []
    for start in range(0, len(messages), ROWS_PER_STATEMENT):
        chunk = messages[start : start + ROWS_PER_STATEMENT]
        sql = f"INSERT INTO messages ({COLUMNS}) VALUES {sql_.rows_of(STYLE, 9, len(chunk))}{_NO_DUPLICATES}"
        out.append((chunk, sql, [value for row in chunk for value in row]))
    return out


def _write(conn: sqlite3.Connection, batch: WriteBatch, inserts: list[_Insert]) -> set[str]:
    """A batch's rows (`inserts`: its messages'), in the writer's transaction (see Store.write); the
    messageIds newly stored."""
    inserted: set[str] = set()
    hashes = batch.user_hashes()
    if hashes:  # users suppressed after this batch was made: nothing of theirs is written
        q = Query(STYLE)
        found = conn.execute(sql_.suppressed_among(q, hashes), q.values).fetchall()
        if found:
            batch.refused_users |= {hashes[row[0]] for row in found}
            batch = batch.without_users(batch.refused_users)
            inserts = _inserts(batch.messages)
    for chunk, sql, values in inserts:
        before = conn.total_changes
        conn.execute(sql, values)
        new = conn.total_changes - before
        if new == len(chunk):  # nothing was there before (nor twice in the chunk): every message is new
            inserted.update(m.message_id for m in chunk)
        elif new:  # some were there before: the new rows are the `new` of the chunk's with the highest seqs
            ids = list({m.message_id for m in chunk})
            sql = f"SELECT message_id FROM messages WHERE message_id IN ({','.join('?' * len(ids))})"
            inserted.update(r[0] for r in conn.execute(f"{sql} ORDER BY seq DESC LIMIT ?", [*ids, new]))
    # One INSERT of many rows each, not executemany: a step (and a wait for the GIL) per row.
    _insert_rows(conn, sql_.insert_quarantine, batch.quarantine)
    _insert_rows(conn, sql_.insert_link, batch.links)
    _insert_rows(conn, sql_.upsert_trait, batch.traits)
    if batch.guarded_links:  # after this batch's messages and traits, which the guard counts
        conn.executemany(sql_.insert_guarded_link(STYLE), sql_.guarded_link_rows(STYLE, batch.guarded_links))
    users = batch.new_users()
    if users:  # an ID that becomes a user keeps no link a browser made from it
        q = Query(STYLE)
        conn.execute(sql_.drop_guarded_links_from(q, users), q.values)
    return inserted


def _insert_rows(
    conn: sqlite3.Connection, statement: Callable[[sql_.Style, int], str], rows: Sequence[Sequence[Any]]
) -> None:
    """`rows` through `statement` (an INSERT of n rows), as few statements as the bound-variable limit lets."""
    if not rows:
        return
    per = VARIABLES_PER_STATEMENT // len(rows[0])
    for start in range(0, len(rows), per):
        chunk = rows[start : start + per]
        conn.execute(statement(STYLE, len(chunk)), [value for row in chunk for value in row])
