"""Retention: messages of never-identified visitors expire (DESIGN.md section 4).

Expiry deletes in small chunks, each its own short transaction on the writer, so ingestion waits at most
one chunk's time behind it. (Erasure, which deletes the same way, is in `erasure.py`.)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from collector.store import Store
from collector.store.base import BEGINNING, ExpiryStep

log = logging.getLogger("footfall.retention")

CHUNK = 200  # rows a step deletes: a few milliseconds of the writer
MAX_PAUSE = 0.1  # seconds between steps, at most
T = TypeVar("T")
Runner = Callable[[Callable[[], Awaitable[T]]], Awaitable[T]]


async def run_directly(job: Callable[[], Awaitable[T]]) -> T:
    """For commands that own the store (no collector writer to queue behind)."""
    return await job()


@dataclass(frozen=True)
class ExpiryReport:
    cutoff: datetime
    messages: int
    quarantine: int
    applied: bool


def cutoff_for(as_of: datetime, retention_days: int) -> datetime:
    return as_of - timedelta(days=retention_days)


async def expire(
    store: Store,
    run: Runner[ExpiryStep],
    *,
    as_of: datetime,
    retention_days: int,
    dry_run: bool = False,
    pace: bool = True,
) -> ExpiryReport:
    """Delete (or with dry_run only count) what has expired at `as_of`."""
    cutoff = cutoff_for(as_of, retention_days)
    cutoff_ms = int(cutoff.timestamp() * 1000)
    if dry_run:
        messages, quarantine = await store.count_expired(cutoff_ms)
        return ExpiryReport(cutoff, messages, quarantine, applied=False)
    total_m = total_q = 0
    position = BEGINNING
    while True:
        started = time.monotonic()
        step = await run(lambda at=position: store.expire_some(cutoff_ms, CHUNK, at))  # type: ignore[misc]
        total_m, total_q, position = total_m + step.messages, total_q + step.quarantine, step.position
        if step.done:
            return ExpiryReport(cutoff, total_m, total_q, applied=True)
        # Give the writer back for at least as long as the step took: ingest keeps half of it or more.
        await asyncio.sleep(min(time.monotonic() - started, MAX_PAUSE) if pace else 0)


LEASE_RETRY_SECONDS = 5


async def expiry_loop(
    store: Store, run: Runner[ExpiryStep], retention_days: int, interval: float, counters: Counter[str]
) -> None:
    """The running collector's periodic expiry; its totals go into `counters` (shown by /healthz). Of the
    processes sharing a store, the one that leads its maintenance runs it; the others ask again every
    LEASE_RETRY_SECONDS, and the one that gets the lease (its leader stopped, or was replaced) runs it then."""
    while True:
        try:
            if not await store.leads_maintenance():
                await asyncio.sleep(min(interval, LEASE_RETRY_SECONDS))
                continue
            started = time.monotonic()
            report = await expire(store, run, as_of=datetime.now(UTC), retention_days=retention_days)
            counters["expiry_runs"] += 1
            if report.messages or report.quarantine:
                counters["expired_messages"] += report.messages
                counters["expired_quarantine"] += report.quarantine
                took = time.monotonic() - started
                log.info(
                    "expired %d anonymous messages and %d quarantined ones older than %s in %.1f s",
                    *(report.messages, report.quarantine, report.cutoff.date(), took),
                )
        except Exception:
            log.exception("anonymous expiry failed; will try again")
        await asyncio.sleep(interval)
