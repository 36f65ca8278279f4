"""The SQL that both backends share, written once and built for either placeholder style.

SQLite numbers nothing (`?`, bound in order) and binds a set of IDs as one JSON array (no limit on how
many IDs a person has); PostgreSQL numbers its placeholders (`$1`) and binds a set as an array. A
`Query` collects the values as it writes their placeholders, so a statement reads the same for both.
What differs between the backends (pull positions, PostgreSQL's visibility rule, SQLite's transactions)
stays in each backend.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from collector.store.base import Store
from collector.types import Link, Source, Trait

Style = Literal["qmark", "numbered"]


@dataclass
class Query:
    """Placeholders in one style, and the values bound to them, in order."""

    style: Style
    values: list[object] = field(default_factory=list)

    def bind(self, value: object) -> str:
        """The placeholder for `value`, which is bound in the next free place. SQLite's `?` are bound in
        the order they stand in the text, so bind in that order."""
        self.values.append(value)
        return f"${len(self.values)}" if self.style == "numbered" else "?"

    def among(self, column: str, ids: Collection[str]) -> str:
        """`column` is one of `ids`."""
        if self.style == "numbered":
            return f"{column} = ANY({self.bind(sorted(ids))})"
        return f"{column} IN (SELECT value FROM json_each({self.bind(json.dumps(sorted(ids)))}))"


def placeholders(style: Style, count: int) -> str:
    """`?,?,?` or `$1, $2, $3`: one row of values."""
    return ",".join("?" * count) if style == "qmark" else ", ".join(f"${i}" for i in range(1, count + 1))


# --- a person's rows --------------------------------------------------------------------------------------
def person(q: Query, ids: Collection[str]) -> str:
    """A person's messages (or quarantined messages): those whose userId is one of the person's IDs, and
    those of the person's anonymousIds that name no other user (someone else may have signed in on the
    same browser; their messages are theirs)."""
    return (
        f"({q.among('user_id', ids)} OR ({q.among('anonymous_id', ids)}"
        f" AND (user_id IS NULL OR {q.among('user_id', ids)})))"
    )


def delete_rows_of(q: Query, table: str, key: str, ids: Collection[str], limit: int) -> str:
    """Delete up to `limit` of a person's rows of `table` (messages or quarantine, keyed by `key`). Two
    index lookups joined by UNION: an OR over two columns would scan the table."""
    return (
        f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE {q.among('user_id', ids)}"
        f" UNION SELECT {key} FROM {table} WHERE {q.among('anonymous_id', ids)}"
        f" AND (user_id IS NULL OR {q.among('user_id', ids)}) LIMIT {q.bind(limit)})"
    )


def naming_patterns(ids: Collection[str]) -> list[str]:
    """How a message's bytes name one of `ids`: as the value of userId, anonymousId or previousId."""
    return sorted(
        f'"{key}"{colon}{json.dumps(some_id, ensure_ascii=False)}'
        for some_id in ids
        for key in ("userId", "anonymousId", "previousId")
        for colon in (":", ": ")
    )


def quarantine_naming(q: Query, ids: Collection[str]) -> str:
    """Quarantined messages whose IDs could not be read (so no ID column is set) but whose bytes name one
    of `ids` as userId, anonymousId or previousId (not just anywhere: a user called "track" must not take
    every unreadable message with them)."""
    patterns = naming_patterns(ids)
    if q.style == "numbered":
        holds = (
            f"EXISTS (SELECT 1 FROM unnest({q.bind(patterns)}::text[]) AS p(text)"
            " WHERE position(convert_to(p.text, 'UTF8') in payload) > 0)"
        )
    else:
        holds = (
            f"EXISTS (SELECT 1 FROM json_each({q.bind(json.dumps(patterns))})"
            " WHERE instr(payload, CAST(value AS BLOB)) > 0)"
        )
    return f"user_id IS NULL AND anonymous_id IS NULL AND {holds}"


def delete_quarantine_naming(q: Query, ids: Collection[str], limit: int) -> str:
    return (
        "DELETE FROM quarantine WHERE id IN"
        f" (SELECT id FROM quarantine WHERE {quarantine_naming(q, ids)} LIMIT {q.bind(limit)})"
    )


def suppressed_among(q: Query, hashes: Collection[str]) -> str:
    return f"SELECT user_hash FROM suppressed WHERE {q.among('user_hash', hashes)}"


def delete_links_of(q: Query, ids: Collection[str]) -> str:
    """A person's links, from either side: with their traits, the last step of an erasure."""
    return f"DELETE FROM links WHERE {q.among('from_id', ids)} OR {q.among('user_id', ids)}"


def delete_traits_of(q: Query, ids: Collection[str]) -> str:
    return f"DELETE FROM traits WHERE {q.among('user_id', ids)}"


# --- expiry ---------------------------------------------------------------------------------------------
def expired_message(q: Query, cutoff: int) -> str:
    """An anonymous message expires when older than the cutoff (its corrected timestamp) and its
    anonymousId was never linked to a user."""
    return (
        f"user_id IS NULL AND timestamp < {q.bind(cutoff)}"
        " AND NOT EXISTS (SELECT 1 FROM links WHERE links.from_id = messages.anonymous_id)"
    )


def expiry_walk(q: Query, cutoff: int, position: tuple[int, ...], limit: int) -> str:
    """The next `limit` user-less messages older than the cutoff after `position` (timestamp, seq), along
    the partial (timestamp, seq) index, each with whether its anonymousId is linked (those are kept)."""
    sql = (
        "SELECT timestamp, seq, EXISTS (SELECT 1 FROM links WHERE links.from_id = messages.anonymous_id)"
        f" FROM messages WHERE user_id IS NULL AND timestamp < {q.bind(cutoff)}"
    )
    if position:
        sql += f" AND (timestamp, seq) > ({q.bind(position[0])}, {q.bind(position[1])})"
    return sql + f" ORDER BY timestamp, seq LIMIT {q.bind(limit)}"


def expired_quarantine(q: Query, cutoff: int) -> str:
    return f"received_at < {q.bind(cutoff)}"


def delete_expired_quarantine(q: Query, cutoff: int, limit: int) -> str:
    return (
        "DELETE FROM quarantine WHERE id IN"
        f" (SELECT id FROM quarantine WHERE {expired_quarantine(q, cutoff)} LIMIT {q.bind(limit)})"
    )


# --- the identity graph ---------------------------------------------------------------------------------
def linked_to(q: Query, user_ids: Collection[str]) -> str:
    return f"SELECT from_id FROM links WHERE {q.among('user_id', user_ids)}"


def linked_from(q: Query, some_id: str) -> str:
    return f"SELECT user_id FROM links WHERE from_id = {q.bind(some_id)}"


def traits_of(q: Query, ids: Collection[str]) -> str:
    return f"SELECT user_id, name, value, set_at FROM traits WHERE {q.among('user_id', ids)}"


def users_after(q: Query, after: str, limit: int) -> str:
    """Every user with messages or traits, in userId order, after `after`."""
    return (
        f"SELECT user_id FROM (SELECT DISTINCT user_id FROM messages WHERE user_id > {q.bind(after)}"
        f" UNION SELECT user_id FROM traits WHERE user_id > {q.bind(after)}) AS users"
        f" ORDER BY user_id LIMIT {q.bind(limit)}"
    )


# --- writes (one row of values each, for executemany; SQLite writes several rows an INSERT: `rows`) ----
def rows_of(style: Style, width: int, rows: int) -> str:
    """`(?,?),(?,?)`: `rows` rows of values (qmark), for one INSERT of several rows; one row otherwise."""
    one = f"({placeholders(style, width)})"
    return ",".join([one] * rows) if style == "qmark" else one


def insert_quarantine(style: Style, rows: int = 1) -> str:
    return (
        "INSERT INTO quarantine (received_at, reason, payload, message_id, user_id, anonymous_id)"
        f" VALUES {rows_of(style, 6, rows)}"
    )


def insert_link(style: Style, rows: int = 1) -> str:
    """A link whose `from_id` is linked already keeps its first user (the first row, in one INSERT)."""
    return (
        f"INSERT INTO links (from_id, user_id, kind, linked_at) VALUES {rows_of(style, 4, rows)}"
        " ON CONFLICT (from_id) DO NOTHING"
    )


def insert_guarded_link(style: Style) -> str:
    """A link from browser traffic: not written if `from_id` is an identified user. Executed with
    `guarded_link_row`'s values."""
    if style == "numbered":
        values, again, yes = "$1::text, $2::text, $3::text, $4::bigint", "$1::text", "true"
    else:
        values, again, yes = "?, ?, ?, ?", "?", "1"
    return (
        f"INSERT INTO links (from_id, user_id, kind, linked_at, guarded) SELECT {values}, {yes}"
        f" WHERE NOT EXISTS (SELECT 1 FROM messages WHERE user_id = {again})"
        f" AND NOT EXISTS (SELECT 1 FROM traits WHERE user_id = {again})"
        f" AND NOT EXISTS (SELECT 1 FROM links WHERE user_id = {again})"
        " ON CONFLICT (from_id) DO NOTHING"
    )


def drop_guarded_links_from(q: Query, users: Collection[str]) -> str:
    """Links a browser made from IDs that are users now: a browser may link only an anonymous visitor's ID,
    and an ID it linked before its owner signed up (an e-mail address, say) must not pull that person's
    history into someone else's."""
    guarded = "guarded" if q.style == "numbered" else "guarded = 1"
    return f"DELETE FROM links WHERE {guarded} AND {q.among('from_id', users)}"


def guarded_link_rows(style: Style, links: list[Link]) -> list[tuple[object, ...]]:
    """The values for `insert_guarded_link`: SQLite's `?` bind `from_id` once for each place it stands."""
    if style == "numbered":
        return [tuple(link) for link in links]
    return [(*link, link.from_id, link.from_id, link.from_id) for link in links]


def upsert_trait(style: Style, rows: int = 1) -> str:
    """A trait keeps the value with the latest `set_at` (SQLite: rows of one INSERT are taken in order)."""
    return (
        f"INSERT INTO traits (user_id, name, value, set_at) VALUES {rows_of(style, 4, rows)}"
        " ON CONFLICT (user_id, name) DO UPDATE SET value = excluded.value, set_at = excluded.set_at"
        " WHERE excluded.set_at >= traits.set_at"
    )


def insert_suppressed(style: Style) -> str:
    return f"INSERT INTO suppressed (user_hash, created_at) VALUES ({placeholders(style, 2)}) ON CONFLICT DO NOTHING"


READ_SUPPRESSED = "SELECT user_hash FROM suppressed"


# An erasure that deleted links leaves a row here (a number and a time, nothing of whom): every collector
# sharing the store then forgets the links it remembers writing (`graph.Graph.erased_elsewhere`).
def record_erasure(style: Style) -> str:
    return f"INSERT INTO erasures (erased_at) VALUES ({placeholders(style, 1)})"


READ_ERASURES = "SELECT coalesce(max(id), 0) FROM erasures"


# --- sources --------------------------------------------------------------------------------------------
def insert_source(style: Style) -> str:
    """A new source; nothing if its name (or key) is taken."""
    return (
        "INSERT INTO sources (name, kind, key_hash, key_prefix, allowed_origins, created_at, revoked_at)"
        f" VALUES ({placeholders(style, 7)}) ON CONFLICT DO NOTHING"
    )


def revoke_source(style: Style) -> str:
    at, name = ("?", "?") if style == "qmark" else ("$1", "$2")
    return f"UPDATE sources SET revoked_at = {at} WHERE name = {name} AND revoked_at IS NULL"


READ_SOURCES = (
    "SELECT name, kind, key_hash, key_prefix, allowed_origins, created_at, revoked_at FROM sources ORDER BY name"
)


class SharedReads(Store):
    """The reads that are the same SQL on both backends, over each backend's `_fetch`."""

    STYLE: ClassVar[Style]

    @abstractmethod
    async def _fetch(self, sql: str, q: Query | None = None) -> list[Sequence[Any]]:
        """The rows of a query (with `q`'s values), read outside any write."""

    async def read_sources(self) -> list[Source]:
        return [Source(*row) for row in await self._fetch(READ_SOURCES)]

    async def read_users(self, after: str, limit: int) -> list[str]:
        q = Query(self.STYLE)
        return [r[0] for r in await self._fetch(users_after(q, after, limit), q)]

    async def read_traits(self, ids: Collection[str]) -> list[Trait]:
        q = Query(self.STYLE)
        return [Trait(r[0], r[1], r[2], r[3]) for r in await self._fetch(traits_of(q, ids), q)]

    async def read_suppressed(self) -> set[str]:
        return {r[0] for r in await self._fetch(READ_SUPPRESSED)}

    async def read_erasures(self) -> int:
        return int((await self._fetch(READ_ERASURES))[0][0])

    async def linked_to(self, user_ids: Collection[str]) -> set[str]:
        q = Query(self.STYLE)
        return {r[0] for r in await self._fetch(linked_to(q, user_ids), q)}

    async def linked_from(self, some_id: str) -> str | None:
        q = Query(self.STYLE)
        rows = await self._fetch(linked_from(q, some_id), q)
        return str(rows[0][0]) if rows else None

    async def count_expired(self, cutoff: int) -> tuple[int, int]:
        q = Query(self.STYLE)
        messages = await self._fetch(f"SELECT count(*) FROM messages WHERE {expired_message(q, cutoff)}", q)
        q = Query(self.STYLE)
        quarantine = await self._fetch(f"SELECT count(*) FROM quarantine WHERE {expired_quarantine(q, cutoff)}", q)
        return int(messages[0][0]), int(quarantine[0][0])
