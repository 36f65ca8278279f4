"""The identity graph, as messages build it: links between IDs, and each user's latest traits; and its
walks over the store (a user's linked IDs, an ID's owner).

`identify` links its anonymousId to its userId; `alias` links previousId to userId; any other message
that carries both IDs links them too (so a lost identify does not orphan a visitor). A linked ID keeps
the first user it was linked to: links are stored once, never recomputed or moved. A trait keeps the
value with the latest timestamp, whatever order messages arrive in.

Who may link what: browser traffic (the public key, which anyone can read from a page) links only its
own anonymousId, the one in force for the request, to a userId; an alias from a browser links nothing
else, and its links are guarded (`WriteBatch.guarded_links`: never from an identified user). Merging one
user into another, or linking any other ID, takes the server key.
"""

from __future__ import annotations

import msgspec

from collector.store.base import Store, user_hash
from collector.types import Alias, AnyMessage, Identify, Link, Trait

MAX_TRAITS = 200
MAX_LINK_DEPTH = 16  # alias chains longer than this are not followed further
KNOWN_LINKS_CACHE = 100_000
_encode = msgspec.json.encode


class Graph:
    """Per-process helper: what to write for the graph, and the suppressed users."""

    def __init__(self, suppressed: set[str]) -> None:
        self.suppressed = suppressed
        self._known: dict[str, str] = {}  # from_id -> user_id written recently: no need to write again
        self.erasures = 0  # how many erasures this process has seen: links made before one may be gone
        self._stored_erasures: int | None = None  # the store's count of erasures, as last read

    def updates(
        self, msg: AnyMessage, timestamp: int, received: int, *, browser: bool = False
    ) -> tuple[list[Link], list[Trait]]:
        """The links and traits `msg` makes. `browser`: it came with the browser key, and its anonymousId
        is the one in force for the request (see the module docstring for what that may link)."""
        links: list[Link] = []
        traits: list[Trait] = []
        user = msg.user_id
        if user is None:
            return links, traits
        if isinstance(msg, Alias):
            if msg.previous_id != user and (not browser or msg.previous_id == msg.anonymous_id):
                links.append(Link(msg.previous_id, user, "alias", received))
        elif msg.anonymous_id is not None and msg.anonymous_id != user and self._known.get(msg.anonymous_id) != user:
            links.append(Link(msg.anonymous_id, user, "identify" if isinstance(msg, Identify) else "message", received))
        if isinstance(msg, Identify):
            for name, value in list(msg.traits.items())[:MAX_TRAITS]:
                if "\x00" not in name:  # a trait name is a text column: no NUL in it
                    traits.append(Trait(user, name[:255], _encode(value), timestamp))
        return links, traits

    def remember(self, links: list[Link], *, erasures: int | None = None) -> None:
        """After commit: these links exist (or an earlier one for the same ID does); unless an erasure ran
        since `erasures` was read (before the commit), which may have deleted them."""
        if erasures is not None and erasures != self.erasures:
            return
        if len(self._known) > KNOWN_LINKS_CACHE:
            self._known.clear()
        for link in links:
            self._known.setdefault(link.from_id, link.user_id)

    def forget(self, ids: set[str]) -> None:
        """After erasure: these IDs' links are gone, so they must be written again if they come back."""
        self.erasures += 1
        for some_id in ids:
            self._known.pop(some_id, None)

    def erased_elsewhere(self, stored_erasures: int) -> None:
        """The store's count of erasures, read now and then: if another process (a worker, another
        collector) erased since the last reading, forget every link remembered (their IDs are unknown here)."""
        if self._stored_erasures is not None and stored_erasures != self._stored_erasures:
            self.erasures += 1
            self._known.clear()
        self._stored_erasures = stored_erasures

    def is_suppressed(self, user_id: str | None) -> bool:
        return bool(self.suppressed) and user_id is not None and user_hash(user_id) in self.suppressed


async def linked_ids(store: Store, user_id: str) -> set[str]:
    """Every ID that belongs to this user: the userId and, transitively, all IDs linked to it."""
    ids = {user_id}
    frontier = {user_id}
    for _ in range(MAX_LINK_DEPTH):
        frontier = await store.linked_to(frontier) - ids
        if not frontier:
            break
        ids |= frontier
    return ids


async def owner(store: Store, some_id: str) -> str | None:
    """The user an ID is linked to, following alias chains to their end; None if it is not linked."""
    seen = {some_id}
    current: str | None = None
    for _ in range(MAX_LINK_DEPTH):
        found = await store.linked_from(current or some_id)
        if found is None or found in seen:
            break
        current = found
        seen.add(found)
    return current
