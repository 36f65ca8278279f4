"""PostgreSQL backend (asyncpg), for several collectors writing to one database.

Several writers commit in any order, so a sequence alone cannot be a pull position: a row with a
lower `seq` may commit after a reader has passed it. Each row therefore records the transaction that
wrote it (`txid`, PostgreSQL's 64-bit xid8), pulls are ordered by (txid, seq), and a pull only returns
rows of transactions older than every transaction still running (`pg_snapshot_xmin`). Whatever
commits later has a larger txid than anything handed out, so nothing is skipped and nothing repeats.
A transaction left open elsewhere in the database holds pulls back until it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Collection, Sequence
from typing import Any

import asyncpg

import collector.store.sql as sql_
from collector.store.base import (
    Erased,
    ExpiryStep,
    ExportFilter,
    NoStore,
    Position,
    PulledLink,
    PulledMessage,
    PulledQuarantine,
    WriteBatch,
)
from collector.store.sql import Query
from collector.types import Link, Source, Trait

# Each entry moves the schema one version up; footfall_schema records how far a database has come.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE messages (
        seq bigserial PRIMARY KEY,
        txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
        message_id text NOT NULL UNIQUE,
        type text NOT NULL,
        event text,
        user_id text,
        anonymous_id text,
        timestamp bigint NOT NULL,
        received_at bigint NOT NULL,
        body bytea NOT NULL
    );
    CREATE INDEX messages_position ON messages (txid, seq);
    CREATE INDEX messages_user ON messages (user_id) WHERE user_id IS NOT NULL;
    CREATE INDEX messages_anonymous ON messages (anonymous_id) WHERE anonymous_id IS NOT NULL;
    CREATE INDEX messages_expiry ON messages (timestamp, seq) WHERE user_id IS NULL;
    CREATE INDEX messages_received ON messages (received_at);
    CREATE TABLE quarantine (
        id bigserial PRIMARY KEY,
        txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
        received_at bigint NOT NULL,
        reason text NOT NULL,
        payload bytea NOT NULL,
        message_id text,
        user_id text,
        anonymous_id text
    );
    CREATE INDEX quarantine_position ON quarantine (txid, id);
    CREATE INDEX quarantine_received ON quarantine (received_at);
    CREATE INDEX quarantine_user ON quarantine (user_id) WHERE user_id IS NOT NULL;
    CREATE INDEX quarantine_anonymous ON quarantine (anonymous_id) WHERE anonymous_id IS NOT NULL;
    CREATE TABLE links (
        id bigserial PRIMARY KEY,
        txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
        from_id text NOT NULL UNIQUE,
        user_id text NOT NULL,
        kind text NOT NULL,
        linked_at bigint NOT NULL
    );
    CREATE INDEX links_user ON links (user_id);
    CREATE INDEX links_position ON links (txid, id);
    CREATE TABLE traits (
        user_id text NOT NULL,
        name text NOT NULL,
        value bytea NOT NULL,
        set_at bigint NOT NULL,
        PRIMARY KEY (user_id, name)
    );
    CREATE TABLE suppressed (
        user_hash text PRIMARY KEY,
        created_at bigint NOT NULL
    );
    """,
    """
    ALTER TABLE messages ADD COLUMN source text;
    ALTER TABLE links ADD COLUMN guarded boolean NOT NULL DEFAULT false;
    CREATE TABLE sources (
        name text PRIMARY KEY,
        kind text NOT NULL,
        key_hash text NOT NULL UNIQUE,
        key_prefix text NOT NULL,
        allowed_origins text NOT NULL,
        created_at bigint NOT NULL,
        revoked_at bigint
    );
    """,
    """
    CREATE TABLE erasures (id bigserial PRIMARY KEY, erased_at bigint NOT NULL);
    """,
]

MIGRATION_LOCK = 7_200_451_133  # pg_advisory_xact_lock key: collectors starting together migrate once
MAINTENANCE_LOCK = 7_200_451_134  # pg_try_advisory_lock key, held by the collector that runs expiry
# Rows of transactions that every snapshot sees as finished: safe to hand out in (txid, id) order.
VISIBLE = "txid < pg_snapshot_xmin(pg_current_snapshot())"
STYLE: sql_.Style = "numbered"


class PostgresStore(sql_.SharedReads):
    STYLE = STYLE

    def __init__(self, url: str, *, sync_commits: bool = False, wal_limit: int = 0) -> None:
        # PostgreSQL commits durably (synchronous_commit) whatever `sync_commits` says.
        self.url = url
        self._pool: asyncpg.Pool | None = None
        self._lease: asyncpg.Connection | None = None  # holds the maintenance lock while it is open

    async def open(self, *, create: bool = True) -> None:
        self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=4)
        if not create and await self.pool.fetchval("SELECT to_regclass('footfall_schema')") is None:
            await self.close()
            raise NoStore(f"no Footfall schema in the PostgreSQL database {self.url!r}")
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            await conn.execute("CREATE TABLE IF NOT EXISTS footfall_schema (version int NOT NULL)")
            version = await conn.fetchval("SELECT max(version) FROM footfall_schema") or 0
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                await conn.execute(script)
                await conn.execute("INSERT INTO footfall_schema (version) VALUES ($1)", number)

    async def leads_maintenance(self) -> bool:
        if self._lease is not None and not self._lease.is_closed():
            return True
        conn = await asyncpg.connect(self.url)  # a session lock: the connection holds it while it lives
        if await conn.fetchval(f"SELECT pg_try_advisory_lock({MAINTENANCE_LOCK})"):
            self._lease = conn
            return True
        await conn.close()
        return False

    async def close(self) -> None:
        if self._lease is not None:
            await self._lease.close()
            self._lease = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "store is not open"
        return self._pool

    async def _fetch(self, sql: str, q: Query | None = None) -> list[Sequence[Any]]:
        rows: list[Sequence[Any]] = await self.pool.fetch(sql, *(q.values if q else ()))
        return rows

    # --- write ------------------------------------------------------------------------------------------
    async def write(self, batch: WriteBatch) -> set[str]:
        async with self.pool.acquire() as conn, conn.transaction():
            inserted: set[str] = set()
            hashes = batch.user_hashes()
            # The transaction takes its id before it looks for suppressed users, so an erasure that waits
            # for older transactions (settle) waits for this one if it looked before a suppression.
            q = Query(STYLE)
            found = await conn.fetchval(
                f"SELECT array(SELECT user_hash FROM suppressed WHERE {q.among('user_hash', hashes)})"
                " FROM (SELECT pg_current_xact_id()) AS t",
                *q.values,
            )
            if found:
                batch.refused_users |= {hashes[h] for h in found}
                batch = batch.without_users(batch.refused_users)
            if batch.messages:
                columns = list(zip(*batch.messages, strict=True))
                rows = await conn.fetch(
                    "INSERT INTO messages (message_id, type, event, user_id, anonymous_id, timestamp, received_at,"
                    " body, source) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
                    " $6::bigint[], $7::bigint[], $8::bytea[], $9::text[]) ON CONFLICT (message_id) DO NOTHING"
                    " RETURNING message_id",
                    *columns,
                )
                inserted = {r[0] for r in rows}
            if batch.quarantine:
                await conn.executemany(sql_.insert_quarantine(STYLE), batch.quarantine)
            if batch.links:
                await conn.executemany(sql_.insert_link(STYLE), batch.links)
            if batch.traits:
                latest: dict[tuple[str, str], Trait] = {}
                for trait in batch.traits:  # one row per trait: an upsert may not touch a row twice
                    seen = latest.get((trait.user_id, trait.name))
                    if seen is None or trait.set_at >= seen.set_at:
                        latest[(trait.user_id, trait.name)] = trait
                await conn.executemany(sql_.upsert_trait(STYLE), list(latest.values()))
            if batch.guarded_links:  # after this batch's messages and traits, which the guard counts
                await conn.executemany(
                    sql_.insert_guarded_link(STYLE), sql_.guarded_link_rows(STYLE, batch.guarded_links)
                )
            users = batch.new_users()
            if users:  # an ID that becomes a user keeps no link a browser made from it
                q = Query(STYLE)
                await conn.execute(sql_.drop_guarded_links_from(q, users), *q.values)
            return inserted

    async def suppress(self, user_hash: str, at: int) -> None:
        await self.pool.execute(sql_.insert_suppressed(STYLE), user_hash, at)

    async def add_source(self, source: Source) -> bool:
        return _count(await self.pool.execute(sql_.insert_source(STYLE), *source)) == 1

    async def revoke_source(self, name: str, at: int) -> bool:
        return _count(await self.pool.execute(sql_.revoke_source(STYLE), at, name)) == 1

    # --- pull: in (txid, id) order, rows of finished transactions only (see the module docstring) --------
    async def read_messages(self, after: Position, limit: int, where: ExportFilter) -> list[PulledMessage]:
        q = Query(STYLE)
        clauses = [_after(q, "seq", after), VISIBLE]
        if where.person is not None:
            clauses.append(sql_.person(q, where.person))
        clauses += [f"{column} {op} {q.bind(value)}" for column, op, value in where.comparisons()]
        sql = (
            f"SELECT txid::text::bigint, seq, body FROM messages WHERE {' AND '.join(clauses)}"
            f" ORDER BY txid, seq LIMIT {q.bind(limit)}"
        )
        return [PulledMessage((r[0], r[1]), r[2]) for r in await self._fetch(sql, q)]

    async def end_positions(self) -> tuple[Position, Position]:
        found = []
        for table, key in (("messages", "seq"), ("quarantine", "id")):
            row = await self.pool.fetchrow(
                f"SELECT txid::text::bigint, {key} FROM {table} WHERE {VISIBLE} ORDER BY txid DESC, {key} DESC LIMIT 1"
            )
            found.append((row[0], row[1]) if row is not None else ())
        return found[0], found[1]

    async def _page(self, table: str, columns: str, after: Position, limit: int) -> list[tuple[Position, Any]]:
        """Rows of `table` (with an `id`) after a pull position, in (txid, id) order, visible ones only."""
        q = Query(STYLE)
        sql = (
            f"SELECT txid::text::bigint, id, {columns} FROM {table} WHERE {_after(q, 'id', after)} AND {VISIBLE}"
            f" ORDER BY txid, id LIMIT {q.bind(limit)}"
        )
        return [((r[0], r[1]), r) for r in await self._fetch(sql, q)]

    async def read_quarantine(self, after: Position, limit: int) -> list[PulledQuarantine]:
        rows = await self._page("quarantine", "received_at, reason, payload", after, limit)
        return [PulledQuarantine(position, r[2], r[3], r[4]) for position, r in rows]

    async def read_links(self, after: Position, limit: int) -> list[PulledLink]:
        rows = await self._page("links", "from_id, user_id, kind, linked_at", after, limit)
        return [PulledLink(position, Link(r[2], r[3], r[4], r[5])) for position, r in rows]

    # --- the identity graph -----------------------------------------------------------------------------
    # --- maintenance ------------------------------------------------------------------------------------
    async def expire_some(self, cutoff: int, limit: int, position: Position) -> ExpiryStep:
        async with self.pool.acquire() as conn, conn.transaction():
            q = Query(STYLE)
            rows = await conn.fetch(sql_.expiry_walk(q, cutoff, position, limit), *q.values)
            doomed = [r[1] for r in rows if not r[2]]
            if doomed:
                await conn.execute("DELETE FROM messages WHERE seq = ANY($1)", doomed)
            q = Query(STYLE)
            quarantine = _count(await conn.execute(sql_.delete_expired_quarantine(q, cutoff, limit), *q.values))
        last = (rows[-1][0], rows[-1][1]) if rows else position
        return ExpiryStep(len(doomed), quarantine, last, done=len(rows) < limit and quarantine < limit)

    async def erase(self, ids: Collection[str], limit: int) -> Erased:
        async with self.pool.acquire() as conn, conn.transaction():
            counts = []
            for table, key in (("messages", "seq"), ("quarantine", "id")):
                q = Query(STYLE)
                counts.append(_count(await conn.execute(sql_.delete_rows_of(q, table, key, ids, limit), *q.values)))
            q = Query(STYLE)
            counts.append(_count(await conn.execute(sql_.delete_quarantine_naming(q, ids, limit), *q.values)))
            messages, quarantine, named = counts
            links = traits = 0
            if messages < limit and quarantine < limit and named < limit:  # the last step: the graph goes too
                q = Query(STYLE)
                links = _count(await conn.execute(sql_.delete_links_of(q, ids), *q.values))
                q = Query(STYLE)
                traits = _count(await conn.execute(sql_.delete_traits_of(q, ids), *q.values))
                if links:
                    await conn.execute(sql_.record_erasure(STYLE), int(time.time() * 1000))
        return Erased(messages, quarantine + named, links, traits)

    async def settle(self) -> None:
        async with self.pool.acquire() as conn:
            mine = int(await conn.fetchval("SELECT pg_current_xact_id()::text"))
            while int(await conn.fetchval("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")) <= mine:
                await asyncio.sleep(0.01)


def _after(q: Query, key: str, after: Position) -> str:
    """Rows after a pull position (txid, key); every row, from the beginning."""
    if not after:
        return "TRUE"
    return f"(txid, {key}) > ({q.bind(str(after[0]))}::text::xid8, {q.bind(after[1])})"


def _count(status: str) -> int:
    """Rows affected, from a command status such as 'DELETE 12'."""
    with contextlib.suppress(ValueError, IndexError):
        return int(status.rsplit(" ", 1)[1])
    return 0
