"""Erasure: forget a user on request (DESIGN.md's retention and privacy), and its admin endpoint.

Deletes the user's messages and those of every linked ID (not messages that name another user on a
shared anonymousId), their traits, links and quarantined messages, a chunk at a time, each chunk its own
short transaction on the writer, so ingestion waits at most one chunk's time behind it. With `suppress`,
later messages for the userId are refused; the collector keeps a hash of it, not the ID.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Collection
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from collector.graph import linked_ids, user_hash
from collector.http import json_response, require_admin
from collector.retention import CHUNK, Runner
from collector.store import Store
from collector.store.base import Erased


async def erase(store: Store, run: Runner[Erased], ids: Collection[str]) -> Erased:
    """Delete everything of `ids`, CHUNK rows a step through `run` (the writer's queue); the totals."""
    totals = Erased(0, 0, 0, 0)
    while True:
        step = await run(lambda: store.erase(ids, CHUNK))
        totals = Erased(*(a + b for a, b in zip(dataclasses.astuple(totals), dataclasses.astuple(step), strict=True)))
        if step.messages < CHUNK and step.quarantine < CHUNK:
            return totals
        await asyncio.sleep(0)


async def erase_endpoint(request: Request) -> Response:
    """`DELETE /v1/users/{userId}[?suppress=true]`: forget a user and every ID linked to them."""
    rt = require_admin(request)
    user_id = request.path_params["user_id"]
    suppress = request.query_params.get("suppress", "false").lower() in ("1", "true", "yes")
    ids = await linked_ids(rt.store, user_id)
    erased = await erase(rt.store, rt.committer.exclusive, ids)
    rt.graph.forget(ids)
    if suppress:
        hashed = user_hash(user_id)
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        await rt.committer.exclusive(lambda: rt.store.suppress(hashed, now_ms))
        rt.graph.suppressed.add(hashed)
    return json_response({"userId": user_id, "ids": sorted(ids), "suppressed": suppress, **dataclasses.asdict(erased)})
