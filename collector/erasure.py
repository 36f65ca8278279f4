"""Erasure: forget a user on request (DESIGN.md's retention and privacy), and its admin endpoint.

Deletes the user's messages and those of every linked ID (not messages that name another user on a
shared anonymousId), quarantined messages naming them, their traits and links, a chunk at a time, each
chunk its own short transaction on the writer, so ingestion waits at most one chunk's time behind it.

With `suppress`, the suppression comes first: it is committed, and every write transaction that began
before it has ended (in any collector), before anything is deleted; from then on no write stores the user.
The set of IDs is looked up again until a pass finds nothing more (`MAX_PASSES` at most), so an ID
linked while the erasure runs goes too. Last, the store leaves no copy of what it deleted in any of its
files (SQLite: the WAL is checkpointed and truncated). The collector keeps a hash of a suppressed userId,
not the ID.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Collection
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from collector.graph import linked_ids
from collector.http import HTTPError, json_response, require_admin
from collector.retention import CHUNK, Runner
from collector.runtime import Runtime
from collector.store import Store
from collector.store.base import Erased, user_hash

log = logging.getLogger("footfall.erasure")

SCRUB_TRIES = 20  # a checkpoint waits for readers up to the busy timeout each try
# Passes over the IDs as they are then. Without suppression (or for anonymous messages of a linked ID,
# which name no user) a sender can go on adding rows as fast as they are deleted: stop after these.
MAX_PASSES = 5


async def erase(store: Store, run: Runner[Erased], ids: Collection[str]) -> Erased:
    """Delete everything of `ids`, CHUNK rows a step through `run` (the writer's queue); the totals."""
    totals = Erased(0, 0, 0, 0)
    while True:
        step = await run(lambda: store.erase(ids, CHUNK))
        totals = _add(totals, step)
        if step.messages < CHUNK and step.quarantine < CHUNK:
            return totals
        await asyncio.sleep(0)


async def forget(rt: Runtime, user_id: str, *, suppress: bool) -> tuple[set[str], Erased, bool]:
    """Erase `user_id` and every ID linked to it (see the module docstring); the IDs, what was deleted, and
    whether the store's files were scrubbed."""
    if suppress:
        hashed = user_hash(user_id)
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        await rt.committer.exclusive(lambda: rt.store.suppress(hashed, now_ms))
        rt.graph.suppressed.add(hashed)
        await rt.store.settle()
    all_ids: set[str] = set()
    nothing = Erased(0, 0, 0, 0)
    totals = erased = None
    for _ in range(MAX_PASSES):  # until a pass finds nothing to delete and no ID linked meanwhile
        ids = await linked_ids(rt.store, user_id)
        if erased == nothing and ids <= all_ids:
            break
        all_ids |= ids
        erased = await erase(rt.store, rt.committer.exclusive, all_ids)
        totals = erased if totals is None else _add(totals, erased)
        rt.graph.forget(all_ids)
    else:
        log.warning("erasure of %d IDs stopped after %d passes: rows kept arriving for them", len(all_ids), MAX_PASSES)
    assert totals is not None
    scrubbed = False
    for _ in range(SCRUB_TRIES):
        scrubbed = await rt.committer.exclusive(rt.store.scrub)
        if scrubbed:
            break
        await asyncio.sleep(0.05)
    if not scrubbed:
        log.warning("erasure of %d IDs: the store's files could not be scrubbed yet (a long reader)", len(all_ids))
    return all_ids, totals, scrubbed


async def erase_endpoint(request: Request) -> Response:
    """`DELETE /v1/users/{userId}[?suppress=true]`: forget a user and every ID linked to them."""
    rt = require_admin(request)
    user_id = request.path_params["user_id"]
    if not user_id.strip():
        raise HTTPError(400, "give the userId to erase: DELETE /v1/users/{userId}")
    suppress = request.query_params.get("suppress", "false").lower() in ("1", "true", "yes")
    ids, erased, scrubbed = await forget(rt, user_id, suppress=suppress)
    rt.counters["erasures"] += 1
    rt.counters["erased_messages"] += erased.messages
    if not scrubbed:  # deleted, but a copy may remain on disk a little longer: not done until it is gone
        raise HTTPError(
            503,
            f"the data of {len(ids)} IDs was deleted, but the store's files are not yet free of it (a long-running "
            "reader holds them); send the same request again to finish",
            {"Retry-After": "5"},
        )
    return json_response({"userId": user_id, "ids": sorted(ids), "suppressed": suppress} | dataclasses.asdict(erased))


def _add(a: Erased, b: Erased) -> Erased:
    return Erased(*(x + y for x, y in zip(dataclasses.astuple(a), dataclasses.astuple(b), strict=True)))
