"""PostgreSQL backend (asyncpg), for several collectors writing to one database.

Several writers commit in any order, so a sequence alone cannot be a pull position: a row with a
lower `seq` may commit after a reader has passed it. Each row therefore records the transaction that
wrote it (`txid`, PostgreSQL's 64-bit xid8), pulls are ordered by (txid, seq), and a pull only returns
rows of transactions older than every transaction still running (`pg_snapshot_xmin`). Whatever
commits later has a larger txid than anything handed out, so nothing is skipped and nothing repeats.
A transaction left open elsewhere in the database holds pulls back until it ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection
from typing import Any

import asyncpg

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
]

MIGRATION_LOCK = 7_200_451_133  # pg_advisory_xact_lock key: collectors starting together migrate once
# Rows of transactions that every snapshot sees as finished: safe to hand out in (txid, id) order.
VISIBLE = "txid < pg_snapshot_xmin(pg_current_snapshot())"
FIRST: tuple[int, int] = (0, 0)


# A message of a person's anonymousId belongs to them unless it names another user.
def _person(p: str) -> str:
    return f"(user_id = ANY({p}) OR (anonymous_id = ANY({p}) AND (user_id IS NULL OR user_id = ANY({p}))))"


class PostgresStore(Store):
    def __init__(self, url: str, *, sync_commits: bool = False) -> None:
        # PostgreSQL commits durably (synchronous_commit) whatever `sync_commits` says.
        self.url = url
        self._pool: asyncpg.Pool | None = None

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

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "store is not open"
        return self._pool

    async def write(self, batch: WriteBatch) -> set[str]:
        async with self.pool.acquire() as conn, conn.transaction():
            inserted: set[str] = set()
            if batch.messages:
                columns = list(zip(*batch.messages, strict=True))
                rows = await conn.fetch(
                    "INSERT INTO messages (message_id, type, event, user_id, anonymous_id, timestamp, received_at,"
                    " body) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
                    " $6::bigint[], $7::bigint[], $8::bytea[]) ON CONFLICT (message_id) DO NOTHING"
                    " RETURNING message_id",
                    *columns,
                )
                inserted = {r[0] for r in rows}
            if batch.quarantine:
                await conn.executemany(
                    "INSERT INTO quarantine (received_at, reason, payload, message_id, user_id, anonymous_id)"
                    " VALUES ($1, $2, $3, $4, $5, $6)",
                    batch.quarantine,
                )
            if batch.links:
                await conn.executemany(
                    "INSERT INTO links (from_id, user_id, kind, linked_at) VALUES ($1, $2, $3, $4)"
                    " ON CONFLICT (from_id) DO NOTHING",
                    batch.links,
                )
            if batch.traits:
                latest: dict[tuple[str, str], Trait] = {}
                for trait in batch.traits:  # one row per trait: an upsert may not touch a row twice
                    seen = latest.get((trait.user_id, trait.name))
                    if seen is None or trait.set_at >= seen.set_at:
                        latest[(trait.user_id, trait.name)] = trait
                await conn.executemany(
                    "INSERT INTO traits (user_id, name, value, set_at) VALUES ($1, $2, $3, $4)"
                    " ON CONFLICT (user_id, name) DO UPDATE SET value = excluded.value, set_at = excluded.set_at"
                    " WHERE excluded.set_at >= traits.set_at",
                    list(latest.values()),
                )
            return inserted

    async def read_messages(self, after: Position, limit: int, where: ExportFilter) -> list[tuple[Position, bytes]]:
        txid, seq = after or FIRST
        params: list[Any] = [str(txid), seq, limit]
        clauses = ["(txid, seq) > ($1::text::xid8, $2)", VISIBLE]
        if where.person is not None:
            params.append(sorted(where.person))
            clauses.append(_person(f"${len(params)}"))
        for column, op, value in where.comparisons():
            params.append(value)
            clauses.append(f"{column} {op} ${len(params)}")
        sql = (
            f"SELECT txid::text::bigint, seq, body FROM messages WHERE {' AND '.join(clauses)}"
            " ORDER BY txid, seq LIMIT $3"
        )
        rows = await self.pool.fetch(sql, *params)
        return [((r[0], r[1]), r[2]) for r in rows]

    async def _page(self, table: str, columns: str, after: Position, limit: int) -> list[tuple[Position, Any]]:
        """Rows of `table` (with an `id`) after a pull position, in (txid, id) order, visible ones only."""
        txid, row_id = after or FIRST
        rows = await self.pool.fetch(
            f"SELECT txid::text::bigint, id, {columns} FROM {table}"
            f" WHERE (txid, id) > ($1::text::xid8, $2) AND {VISIBLE} ORDER BY txid, id LIMIT $3",
            str(txid),
            row_id,
            limit,
        )
        return [((r[0], r[1]), r) for r in rows]

    async def read_quarantine(self, after: Position, limit: int) -> list[tuple[Position, int, str, bytes]]:
        rows = await self._page("quarantine", "received_at, reason, payload", after, limit)
        return [(position, r[2], r[3], r[4]) for position, r in rows]

    async def linked_to(self, user_ids: Collection[str]) -> set[str]:
        rows = await self.pool.fetch("SELECT from_id FROM links WHERE user_id = ANY($1)", sorted(user_ids))
        return {r[0] for r in rows}

    async def linked_from(self, some_id: str) -> str | None:
        found = await self.pool.fetchval("SELECT user_id FROM links WHERE from_id = $1", some_id)
        return None if found is None else str(found)

    async def read_links(self, after: Position, limit: int) -> list[tuple[Position, Link]]:
        rows = await self._page("links", "from_id, user_id, kind, linked_at", after, limit)
        return [(position, Link(r[2], r[3], r[4], r[5])) for position, r in rows]

    async def read_traits(self, ids: Collection[str]) -> list[Trait]:
        rows = await self.pool.fetch(
            "SELECT user_id, name, value, set_at FROM traits WHERE user_id = ANY($1)", sorted(ids)
        )
        return [Trait(r[0], r[1], r[2], r[3]) for r in rows]

    async def read_users(self, after: str, limit: int) -> list[str]:
        rows = await self.pool.fetch(
            "SELECT user_id FROM (SELECT DISTINCT user_id FROM messages WHERE user_id > $1"
            " UNION SELECT user_id FROM traits WHERE user_id > $1) AS users ORDER BY user_id LIMIT $2",
            after,
            limit,
        )
        return [r[0] for r in rows]

    async def count_expired(self, cutoff: int) -> tuple[int, int]:
        messages = await self.pool.fetchval(
            "SELECT count(*) FROM messages WHERE user_id IS NULL AND timestamp < $1"
            " AND NOT EXISTS (SELECT 1 FROM links WHERE links.from_id = messages.anonymous_id)",
            cutoff,
        )
        quarantine = await self.pool.fetchval("SELECT count(*) FROM quarantine WHERE received_at < $1", cutoff)
        return int(messages), int(quarantine)

    async def expire_some(self, cutoff: int, limit: int, position: ExpiryPosition) -> ExpiryStep:
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT timestamp, seq, EXISTS (SELECT 1 FROM links WHERE links.from_id = messages.anonymous_id)"
                " FROM messages WHERE user_id IS NULL AND timestamp < $1 AND (timestamp, seq) > ($2, $3)"
                " ORDER BY timestamp, seq LIMIT $4",
                cutoff,
                *position,
                limit,
            )
            doomed = [r[1] for r in rows if not r[2]]
            if doomed:
                await conn.execute("DELETE FROM messages WHERE seq = ANY($1)", doomed)
            status = await conn.execute(
                "DELETE FROM quarantine WHERE id IN (SELECT id FROM quarantine WHERE received_at < $1 LIMIT $2)",
                cutoff,
                limit,
            )
            quarantine = _count(status)
        last = (rows[-1][0], rows[-1][1]) if rows else position
        return ExpiryStep(len(doomed), quarantine, last, done=len(rows) < limit and quarantine < limit)

    async def erase(self, ids: Collection[str], limit: int) -> Erased:
        ordered = sorted(ids)
        async with self.pool.acquire() as conn, conn.transaction():
            messages = await _delete_rows_of(conn, "messages", "seq", ordered, limit)
            quarantine = await _delete_rows_of(conn, "quarantine", "id", ordered, limit)
            links = traits = 0
            if messages < limit and quarantine < limit:  # the last step: the graph goes with the data
                links = _count(
                    await conn.execute("DELETE FROM links WHERE from_id = ANY($1) OR user_id = ANY($1)", ordered)
                )
                traits = _count(await conn.execute("DELETE FROM traits WHERE user_id = ANY($1)", ordered))
        return Erased(messages, quarantine, links, traits)

    async def suppress(self, user_hash: str, at: int) -> None:
        await self.pool.execute(
            "INSERT INTO suppressed (user_hash, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING", user_hash, at
        )

    async def read_suppressed(self) -> set[str]:
        return {r[0] for r in await self.pool.fetch("SELECT user_hash FROM suppressed")}


async def _delete_rows_of(conn: asyncpg.Connection, table: str, key: str, ids: list[str], limit: int) -> int:
    """Delete up to `limit` rows of `table` that belong to the person with these IDs."""
    status = await conn.execute(
        f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE {_person('$1')} LIMIT $2)", ids, limit
    )
    return _count(status)


def _count(status: str) -> int:
    """Rows affected, from a command status such as 'DELETE 12'."""
    with contextlib.suppress(ValueError, IndexError):
        return int(status.rsplit(" ", 1)[1])
    return 0
