"""Storage backends, chosen by the URL scheme of the `db` setting."""

from __future__ import annotations

import importlib

from collector.config import Settings
from collector.store.base import ExportFilter, NoStore, Store

SUPPORTED_BACKENDS = {
    "sqlite": "collector.store.sqlite:SqliteStore",
    "postgresql": "collector.store.postgres:PostgresStore",
    "postgres": "collector.store.postgres:PostgresStore",
}


def create_store(settings: Settings, *, serving: bool = False) -> Store:
    """The store of `settings.db`, not yet open. `serving`: the running collector's (on SQLite, its group
    commits are made in a writer process of their own: `sqlite_writer.py`)."""
    url = settings.db_url
    scheme = url.split("://", 1)[0]
    if scheme not in SUPPORTED_BACKENDS:
        raise ValueError(f"db URL scheme {scheme!r} is not supported (use one of: {', '.join(SUPPORTED_BACKENDS)})")
    module_name, class_name = SUPPORTED_BACKENDS[scheme].split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"the {scheme} backend needs {exc.name}: pip install 'footfall-collector[postgres]'") from None
    cls = getattr(module, class_name)
    assert issubclass(cls, Store)
    options = {"writer_process": True} if serving and scheme == "sqlite" else {}
    wal_limit = settings.wal_limit_mb * 1024 * 1024
    store: Store = cls(url, sync_commits=settings.sync_commits, wal_limit=wal_limit, **options)
    return store


__all__ = ["SUPPORTED_BACKENDS", "ExportFilter", "NoStore", "Store", "create_store"]
