"""Export: pull stored messages as NDJSON, in receipt order, resumable from an opaque cursor.

Each page answers with `Footfall-Cursor`; passing it back as `?cursor=` continues after the page's
last message. An empty page means caught up for now (the cursor stays where it was); with `wait=N`
an empty page is held up to N seconds until messages arrive (`notify.py`). The quarantine
(rejected messages with their reasons) pages the same way.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

import msgspec
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from collector.graph import linked_ids
from collector.http import HTTPError, ndjson_response, require_admin
from collector.paging import COUNT_HEADER, CURSOR_HEADER, parse_limit
from collector.store import ExportFilter
from collector.types import MESSAGE_TYPES
from collector.validate import Invalid, parse_time

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
MAX_WAIT = 60  # seconds an export request may wait for messages to arrive
LINGER = 0.2  # seconds a woken wait lingers before it reads (new messages still come within a second)
KNOWN_PARAMS = frozenset({"cursor", "limit", "since", "until", "type", "event", "userId", "source", "wait"})


def _time_ms(name: str, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(parse_time(name, value).timestamp() * 1000)
    except Invalid as exc:
        raise HTTPError(400, str(exc)) from None


def _wait(value: str | None) -> float:
    if value is None:
        return 0.0
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= MAX_WAIT:
        raise HTTPError(400, f"`wait` must be a number of seconds from 0 to {MAX_WAIT}, got {value!r}")
    return seconds


def export_filter(q: QueryParams) -> ExportFilter:
    """The export's filters from its query (a 400 for an unknown parameter or a bad value)."""
    unknown = sorted(set(q.keys()) - KNOWN_PARAMS)
    if unknown:
        raise HTTPError(400, f"unknown parameter `{unknown[0]}` (export takes {', '.join(sorted(KNOWN_PARAMS))})")
    msg_type = q.get("type")
    if msg_type is not None and msg_type not in MESSAGE_TYPES:
        raise HTTPError(400, f"`type` must be one of {', '.join(MESSAGE_TYPES)}, got {msg_type!r}")
    return ExportFilter(
        since=_time_ms("since", q.get("since")),
        until=_time_ms("until", q.get("until")),
        type=msg_type,
        event=q.get("event"),
        source=q.get("source"),
    )


async def export_endpoint(request: Request) -> Response:
    rt = require_admin(request, "export")
    rt.metrics.pulls.labels("export").inc()
    q = request.query_params
    where = export_filter(q)
    after = rt.cursors.position_after(q, "export")
    limit = parse_limit(q, default=DEFAULT_LIMIT, maximum=MAX_LIMIT)
    user_id = q.get("userId")
    if user_id is not None:  # the user's own messages and those of every ID linked to them
        where = dataclasses.replace(where, person=frozenset(await linked_ids(rt.store, user_id)))
    wait = _wait(q.get("wait"))
    deadline = time.monotonic() + wait
    rows = await rt.store.read_messages(after, limit, where)
    while not rows and time.monotonic() < deadline:  # hold the request until messages arrive, or the wait ends
        if rt.notifier.closing or await request.is_disconnected():
            break  # shutting down, or nobody is listening any more
        await rt.notifier.wait(deadline - time.monotonic())
        await asyncio.sleep(LINGER)  # let a few commits gather: one page of many rows, not many of few
        rows = await rt.store.read_messages(after, limit, where)
    last = rows[-1].position if rows else after
    return ndjson_response(
        (row.body for row in rows),
        {CURSOR_HEADER: rt.cursors.encode_position(last, "export"), COUNT_HEADER: str(len(rows))},
    )


async def quarantine_endpoint(request: Request) -> Response:
    """Rejected messages with their reasons, NDJSON, resumable like the export."""
    rt = require_admin(request, "quarantine")
    rt.metrics.pulls.labels("quarantine").inc()
    after = rt.cursors.position_after(request.query_params, "quarantine")
    limit = parse_limit(request.query_params, default=DEFAULT_LIMIT, maximum=MAX_LIMIT)
    rows = await rt.store.read_quarantine(after, limit)
    lines = (
        msgspec.json.encode(
            {"receivedAt": row.received_at, "reason": row.reason, "payload": row.payload.decode("utf-8", "replace")}
        )
        for row in rows
    )
    return ndjson_response(
        lines, {CURSOR_HEADER: rt.cursors.encode_position(rows[-1].position if rows else after, "quarantine")}
    )
