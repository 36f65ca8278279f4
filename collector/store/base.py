"""The storage interface. Every backend implements it and passes tests/store/test_contract.py.

The methods are grouped by concern: lifecycle, write, pull (in commit order, resumable from a position),
the identity graph's two lookups (the graph walks them: `collector/graph.py`), and maintenance (expiry,
erasure). Each method's docstring is its contract. The SQL that both backends share is in `sql.py`.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import NamedTuple

from collector.types import Link, QuarantineRow, Source, StoredMessage, Trait

# Where a pull or an expiry pass stopped: opaque to callers, ordered by the backend (pulls: SQLite (seq,),
# PostgreSQL (transaction id, seq); expiry: (timestamp, seq)). BEGINNING is before everything, for both.
Position = tuple[int, ...]
BEGINNING: Position = ()


class PulledMessage(NamedTuple):
    position: Position
    body: bytes  # the message as exported: JSON, Segment-spec shape


class PulledQuarantine(NamedTuple):
    position: Position
    received_at: int  # ms since the epoch
    reason: str
    payload: bytes  # the message's bytes as they arrived


class PulledLink(NamedTuple):
    position: Position
    link: Link


def user_hash(user_id: str) -> str:
    """How a suppressed (erased) user is remembered: a hash, not the ID."""
    return hashlib.sha256(b"footfall-suppressed-user:" + user_id.encode()).hexdigest()


@dataclass(frozen=True)
class ExportFilter:
    since: int | None = None  # receivedAt >= since (ms)
    until: int | None = None  # receivedAt < until (ms)
    type: str | None = None
    event: str | None = None
    source: str | None = None  # the name of the source that sent them
    person: frozenset[str] | None = None  # messages whose userId or anonymousId is one of these

    def comparisons(self) -> list[tuple[str, str, object]]:
        """(column, operator, value) for the simple filters that are set; `person` is each backend's own."""
        candidates = (
            ("received_at", ">=", self.since),
            ("received_at", "<", self.until),
            ("type", "=", self.type),
            ("event", "=", self.event),
            ("source", "=", self.source),
        )
        return [c for c in candidates if c[2] is not None]


@dataclass
class WriteBatch:
    """What one commit writes: messages, rejected messages, identity links and user traits.

    `links` come from server traffic and are written as they are. `guarded_links` come from browser
    traffic (the public key): each is written only if its `from_id` is not an identified user (no message
    names it as userId, it has no traits, nothing is linked to it), so that no one holding the browser
    key can link another person's account into theirs."""

    messages: list[StoredMessage] = field(default_factory=list)
    quarantine: list[QuarantineRow] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    traits: list[Trait] = field(default_factory=list)
    guarded_links: list[Link] = field(default_factory=list)
    # Set by the store's write: the users of this batch found suppressed, whose rows it left out.
    refused_users: set[str] = field(default_factory=set)

    def extend(self, other: WriteBatch) -> None:
        self.messages += other.messages
        if other.quarantine:  # (most requests have none of these: a group commit extends by each request)
            self.quarantine += other.quarantine
        if other.links:
            self.links += other.links
        if other.traits:
            self.traits += other.traits
        if other.guarded_links:
            self.guarded_links += other.guarded_links

    def user_hashes(self) -> dict[str, str]:
        """The hash of every userId this batch writes rows for (messages, traits, links)."""
        users = {m.user_id for m in self.messages if m.user_id is not None}
        users |= {t.user_id for t in self.traits} | {link.user_id for link in self.links + self.guarded_links}
        return {user_hash(user): user for user in users}

    def new_users(self) -> set[str]:
        """The userIds this batch's messages, traits and links name (each is a user from now on)."""
        users = {m.user_id for m in self.messages if m.user_id is not None} | {t.user_id for t in self.traits}
        return users | {link.user_id for link in self.links + self.guarded_links}

    def without_users(self, users: Collection[str]) -> WriteBatch:
        """This batch less every row of these users (suppressed while the batch waited for its commit)."""
        gone = set(users)
        return WriteBatch(
            [m for m in self.messages if m.user_id not in gone],
            [q for q in self.quarantine if q.user_id not in gone],
            [link for link in self.links if link.user_id not in gone and link.from_id not in gone],
            [t for t in self.traits if t.user_id not in gone],
            [link for link in self.guarded_links if link.user_id not in gone and link.from_id not in gone],
        )

    def __len__(self) -> int:
        return len(self.messages) + len(self.quarantine) + len(self.links) + len(self.traits) + len(self.guarded_links)

    def body_bytes(self) -> int:
        """The size of its messages' and rejected messages' bytes (the bulk of what a commit writes)."""
        return sum(len(m.body) for m in self.messages) + sum(len(q.payload) for q in self.quarantine)


@dataclass(frozen=True)
class ExpiryStep:
    messages: int  # deleted (or, for a count, that would be)
    quarantine: int
    position: Position  # (timestamp, seq) of the last message this step looked at
    done: bool


@dataclass(frozen=True)
class Erased:
    messages: int
    quarantine: int
    links: int
    traits: int


class StoreBusy(Exception):
    """Another process held the store's write lock too long: nothing was written; try again shortly."""


class CommitUnknown(Exception):
    """The writer went away before saying whether the commit was made. Its requests fail (503): their
    clients send them again, and messageIds keep a message that was stored from being stored twice.
    They are not written again here one by one, as a commit that failed for one bad request is."""


class NoStore(Exception):
    """`open(create=False)` found no existing store (a wrong path, or nothing stored there yet)."""


class Store(ABC):
    """Where messages live. In a process, writes come from one group committer, so a backend need not
    serialise them; several processes (workers, collectors on one PostgreSQL) may write one store."""

    # --- lifecycle --------------------------------------------------------------------------------------
    @abstractmethod
    async def open(self, *, create: bool = True) -> None:
        """Connect and bring the schema up to date (versioned migrations).

        `create=False`: raise NoStore instead of creating a store that is not there (commands that only
        read, or that act on what is stored, must not leave an empty database behind a wrong path).
        """

    @abstractmethod
    async def close(self) -> None:
        """Release connections. Called once, after the last write."""

    # --- write ------------------------------------------------------------------------------------------
    @abstractmethod
    async def write(self, batch: WriteBatch) -> set[str]:
        """Store a batch in one transaction, committed before returning.

        Nothing of a suppressed user is written, even if the user was suppressed (by any collector) after
        the batch was made: the check is made in the write's transaction, and the users left out are added
        to `batch.refused_users`.
        A messageId stored before (ever) is not stored again. A link whose `from_id` is linked already
        keeps its first user; a guarded link is not written if its `from_id` is an identified user (counting
        this batch's own messages and traits). A trait keeps the value with the latest `set_at`.

        Returns:
            The messageIds that were new.
        """

    @abstractmethod
    async def suppress(self, user_hash: str, at: int) -> None:
        """Remember that messages of the user with this hash are refused from now on."""

    def stats(self) -> dict[str, float]:
        """Gauges for /metrics, read at each scrape (cheap: no query)."""
        return {}

    async def after_commit(self) -> None:
        """Called by the writer after each commit, once its requests are answered and before the next
        commit: room for short upkeep that must not race the writes (SQLite: keep the WAL bounded)."""
        return

    async def leads_maintenance(self) -> bool:
        """Whether this process does the store's periodic upkeep (expiry; SQLite: checkpoints), so that the
        processes sharing a store do it once, not each. The first to ask holds it until it closes the
        store or ends; the others get False, and True once it is free again."""
        return True

    async def settle(self) -> None:
        """Return once every write transaction that began before this call has ended, in any process, so
        that every write from now on sees what was committed before (a suppression, before an erasure
        deletes). A backend with a single writer per store has nothing to wait for."""
        return

    @abstractmethod
    async def add_source(self, source: Source) -> bool:
        """Keep a new source; False (and nothing changed) if its name or key is taken."""

    @abstractmethod
    async def revoke_source(self, name: str, at: int) -> bool:
        """Revoke a source's key from `at` (ms); False if no source of that name is in force."""

    @abstractmethod
    async def read_sources(self) -> list[Source]:
        """Every source kept, revoked ones too, in name order."""

    # --- pull -------------------------------------------------------------------------------------------
    @abstractmethod
    async def read_messages(self, after: Position, limit: int, where: ExportFilter) -> list[PulledMessage]:
        """Up to `limit` messages after `after` that match `where`, in commit order.

        A message committed later always comes after every position already handed out, so a reader
        that resumes from the last position it saw never misses a message and never sees one twice.
        """

    @abstractmethod
    async def end_positions(self) -> tuple[Position, Position]:
        """Where the messages and the quarantine end now: pulling after these gives only what comes later
        (the live view starts there)."""

    @abstractmethod
    async def read_quarantine(self, after: Position, limit: int) -> list[PulledQuarantine]:
        """Up to `limit` quarantined messages after `after`, in commit order (like read_messages)."""

    @abstractmethod
    async def read_links(self, after: Position, limit: int) -> list[PulledLink]:
        """Up to `limit` identity links after `after`, in commit order (like read_messages)."""

    @abstractmethod
    async def read_users(self, after: str, limit: int) -> list[str]:
        """Up to `limit` userIds greater than `after`, in order: every user with messages or traits."""

    @abstractmethod
    async def read_traits(self, ids: Collection[str]) -> list[Trait]:
        """The stored traits of these user IDs."""

    @abstractmethod
    async def read_suppressed(self) -> set[str]:
        """Hashes of suppressed users."""

    @abstractmethod
    async def read_erasures(self) -> int:
        """How many erasures (that deleted links) the store has seen: when it changes, links that a collector
        remembers writing may be gone."""

    # --- the identity graph (walked by collector.graph.linked_ids and .owner) ----------------------------
    @abstractmethod
    async def linked_to(self, user_ids: Collection[str]) -> set[str]:
        """The IDs linked directly to any of these users."""

    @abstractmethod
    async def linked_from(self, some_id: str) -> str | None:
        """The user this ID is linked to directly, if any."""

    # --- maintenance ------------------------------------------------------------------------------------
    @abstractmethod
    async def count_expired(self, cutoff: int) -> tuple[int, int]:
        """(messages, quarantine rows) that `expire_some(cutoff, ...)` would delete, in all."""

    @abstractmethod
    async def expire_some(self, cutoff: int, limit: int, position: Position) -> ExpiryStep:
        """Delete up to `limit` expired messages and quarantine rows in one short transaction.

        Expired: a message older than `cutoff` (its corrected timestamp, ms) with no userId whose
        anonymousId was never linked to a user; a quarantine row received before `cutoff`.
        `position` is where the previous step stopped (`ExpiryStep.position`; BEGINNING at first), so a
        pass never scans the messages it kept twice. Call again with the new position until `done`.
        """

    @abstractmethod
    async def erase(self, ids: Collection[str], limit: int) -> Erased:
        """Delete up to `limit` messages and quarantine rows of these IDs, and (once the messages are
        gone) their links and traits. Call again until it returns all zeros.

        A quarantined message whose IDs could not be read (not JSON, not UTF-8) goes too when its bytes
        hold one of the IDs as a JSON string."""

    async def scrub(self) -> bool:
        """After deletions: leave no copy of deleted rows readable in any file the store keeps. True when
        done; False if something (a long reader) kept it from finishing, so the caller may try again."""
        return True
