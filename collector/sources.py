"""Sources: who may send. Each write key belongs to a named source of a kind (browser or server).

The two keys of the collector's settings (`write_key`, `server_key`) are the default sources,
`default-browser` and `default-server`, so a setup without more sources works as it always has. Revoking
one (`footfall keys revoke default-browser`) keeps its hash in the store as revoked; a new key in the
settings is in force again. More
sources are kept in the store (`footfall keys create|revoke|list`); every collector process reads them
again every `REFRESH_SECONDS`, so a new key works, and a revoked one stops working, within seconds
everywhere. Keys are kept as SHA-256 hashes: a key is shown once, when it is made.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Iterable

from collector.config import Settings
from collector.graph import Graph
from collector.store import Store
from collector.types import Source, SourceKind

log = logging.getLogger("footfall.sources")

REFRESH_SECONDS = 2.0
DEFAULT_BROWSER = "default-browser"
DEFAULT_SERVER = "default-server"
PREFIX_LENGTH = 7


def key_hash(key: str) -> str:
    return hashlib.sha256(b"footfall-write-key:" + key.encode()).hexdigest()


def new_key(kind: SourceKind) -> str:
    return ("wk_" if kind == "browser" else "sk_") + secrets.token_urlsafe(24)


def revoked_default(name: str, kind: SourceKind, key: str, at: int) -> Source:
    """What the store keeps of a revoked default key: its hash, under a name of its own (a piece of that
    hash tells revoked defaults apart), so that every collector leaves that key out."""
    return source_for(f"{name} #{key_hash(key)[:12]}", kind, key, "", at)._replace(revoked_at=at)


def source_for(name: str, kind: SourceKind, key: str, allowed_origins: str = "", created_at: int = 0) -> Source:
    return Source(name, kind, key_hash(key), key[:PREFIX_LENGTH], allowed_origins, created_at)


class Sources:
    """The write keys in force in this process: the default two and the store's, revoked ones left out."""

    def __init__(self, settings: Settings) -> None:
        self.defaults = [source_for(DEFAULT_BROWSER, "browser", settings.write_key)]
        if settings.server_key:
            self.defaults.append(source_for(DEFAULT_SERVER, "server", settings.server_key))
        self._by_hash: dict[str, Source] = {}
        self.replace([])

    def replace(self, stored: Iterable[Source]) -> None:
        """Put the store's sources in force (the defaults stay)."""
        stored = list(stored)
        revoked = {s.key_hash for s in stored if s.revoked_at is not None}
        by_hash = {s.key_hash: s for s in stored if s.revoked_at is None}
        # A default key revoked with `footfall keys revoke default-browser` stays out until the settings
        # give a new one.
        by_hash.update({s.key_hash: s for s in self.defaults if s.key_hash not in revoked})
        self._by_hash = by_hash

    def lookup(self, write_key: str | None) -> Source | None:
        """The source of a write key in force, or None. (A dict lookup by the key's SHA-256: its time says
        nothing usable about the key.)"""
        if not write_key:
            return None
        return self._by_hash.get(key_hash(write_key))

    def origin_allowed(self, source: Source, origin: str | None) -> bool:
        """A browser source with origins of its own takes requests from those only."""
        if origin is None or not source.allowed_origins:
            return True
        return origin in {o.strip() for o in source.allowed_origins.split(",")}


async def refresh_loop(store: Store, sources: Sources, graph: Graph, interval: float = REFRESH_SECONDS) -> None:
    """Read the store's sources (and suppressed users, and erasures) again and again, so that keys made or
    revoked, and users erased, by another process take effect here too."""
    while True:
        try:
            sources.replace(await store.read_sources())
            graph.suppressed |= await store.read_suppressed()
            graph.erased_elsewhere(await store.read_erasures())
        except Exception:
            log.exception("reading the sources failed; the keys in force stay as they were")
        await asyncio.sleep(interval)
