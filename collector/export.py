"""Export: pull stored messages as NDJSON, in receipt order, resumable from an opaque cursor.

Each page answers with `Footfall-Cursor`; passing it back as `?cursor=` continues after the page's
last message. An empty page means caught up for now (the cursor stays where it was).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from collector.ingest import error_response
from collector.runtime import Runtime
from collector.store import ExportFilter
from collector.store.base import BEGINNING, Position
from collector.types import MESSAGE_TYPES
from collector.validate import Invalid, parse_time

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
CURSOR_HEADER = "Footfall-Cursor"
CURSOR_PREFIX = "v1:"


class BadQuery(ValueError):
    pass


def encode_cursor(position: Position) -> str:
    text = CURSOR_PREFIX + ".".join(str(part) for part in position)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        parts = text[len(CURSOR_PREFIX) :].split(".") if text.startswith(CURSOR_PREFIX) else ["x"]
        if parts == [""]:
            return BEGINNING
        if all(part.isascii() and part.isdecimal() and len(part) <= 18 for part in parts):
            return tuple(int(part) for part in parts)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise BadQuery("`cursor` is not one this collector gave out (pass the Footfall-Cursor header back as is)")


def _time_ms(name: str, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(parse_time(name, value).timestamp() * 1000)
    except Invalid as exc:
        raise BadQuery(str(exc)) from None


def _limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_LIMIT
    if not (value.isascii() and value.isdecimal()) or not 1 <= int(value) <= MAX_LIMIT:
        raise BadQuery(f"`limit` must be a whole number from 1 to {MAX_LIMIT}, got {value!r}")
    return int(value)


KNOWN_PARAMS = frozenset({"cursor", "limit", "since", "until", "type", "event", "userId"})


def parse_query(request: Request) -> tuple[Position, int, ExportFilter, str | None]:
    q = request.query_params
    unknown = sorted(set(q.keys()) - KNOWN_PARAMS)
    if unknown:
        raise BadQuery(f"unknown parameter `{unknown[0]}` (export takes {', '.join(sorted(KNOWN_PARAMS))})")
    msg_type = q.get("type")
    if msg_type is not None and msg_type not in MESSAGE_TYPES:
        raise BadQuery(f"`type` must be one of {', '.join(MESSAGE_TYPES)}, got {msg_type!r}")
    after = decode_cursor(q["cursor"]) if "cursor" in q else BEGINNING
    where = ExportFilter(
        since=_time_ms("since", q.get("since")),
        until=_time_ms("until", q.get("until")),
        type=msg_type,
        event=q.get("event"),
    )
    return after, _limit(q.get("limit")), where, q.get("userId")


async def export_endpoint(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    if not rt.is_admin(request.headers.get("authorization")):
        return error_response(401, "export needs the export token: `Authorization: Bearer <token>`")
    try:
        after, limit, where, user_id = parse_query(request)
    except BadQuery as exc:
        return error_response(400, str(exc))
    if user_id is not None:  # the user's own messages and those of every ID linked to them
        where = dataclasses.replace(where, person=frozenset(await rt.store.linked_ids(user_id)))
    rows = await rt.store.read_messages(after, limit, where)
    last = rows[-1][0] if rows else after
    body = b"".join(row[1] + b"\n" for row in rows)
    return Response(
        body,
        headers={CURSOR_HEADER: encode_cursor(last), "Footfall-Count": str(len(rows))},
        media_type="application/x-ndjson",
    )


async def quarantine_endpoint(request: Request) -> Response:
    """Rejected messages with their reasons, NDJSON, resumable like the export."""
    rt: Runtime = request.app.state.runtime
    if not rt.is_admin(request.headers.get("authorization")):
        return error_response(401, "quarantine needs the export token: `Authorization: Bearer <token>`")
    try:
        q = request.query_params
        after = decode_cursor(q["cursor"]) if "cursor" in q else BEGINNING
        limit = _limit(q.get("limit"))
    except BadQuery as exc:
        return error_response(400, str(exc))
    rows = await rt.store.read_quarantine(after, limit)
    lines = [
        msgspec.json.encode({"receivedAt": received, "reason": reason, "payload": payload.decode("utf-8", "replace")})
        for _, received, reason, payload in rows
    ]
    return Response(
        b"".join(line + b"\n" for line in lines),
        headers={CURSOR_HEADER: encode_cursor(rows[-1][0] if rows else after)},
        media_type="application/x-ndjson",
    )
