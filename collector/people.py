"""The people endpoints: one user's profile, every profile, and the identity graph's links.

Each needs the export token. Profiles are built by `profiles.py`; the bulk pulls are NDJSON, resumable
with `Footfall-Cursor` like the export.
"""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from collector import graph
from collector.http import HTTPError, json_response, ndjson_response, require_admin
from collector.paging import CURSOR_HEADER, parse_limit
from collector.profiles import build_profile, iso_ms, profile_for

MAX_PROFILES_PAGE = 100
MAX_LINKS_PAGE = 10_000
_encode = msgspec.json.encode


async def profile_endpoint(request: Request) -> Response:
    rt = require_admin(request)
    user_id = request.path_params["user_id"]
    profile = await profile_for(rt.store, user_id)
    if profile is None:
        raise HTTPError(404, f"no messages or traits for userId {user_id!r}")
    return json_response(profile)


async def profiles_endpoint(request: Request) -> Response:
    """Every user's profile, NDJSON, a page at a time, in userId order (resumable like the export)."""
    rt = require_admin(request)
    rt.metrics.pulls.labels("profiles").inc()
    q = request.query_params
    limit = parse_limit(q, default=MAX_PROFILES_PAGE, maximum=MAX_PROFILES_PAGE)
    cursor = q.get("cursor")
    after = rt.cursors.decode_user(cursor) if cursor else ""
    lines = []
    users = await rt.store.read_users(after, limit)
    for user_id in users:
        if await graph.owner(rt.store, user_id) is not None:
            continue  # aliased into another user: part of that profile
        profile = await build_profile(rt.store, user_id)
        if profile is not None:
            lines.append(_encode(profile))
    return ndjson_response(lines, {CURSOR_HEADER: rt.cursors.encode_user(users[-1]) if users else (cursor or "")})


async def links_endpoint(request: Request) -> Response:
    """The identity graph's links, NDJSON, in the order they were made, resumable like the export."""
    rt = require_admin(request)
    rt.metrics.pulls.labels("links").inc()
    after = rt.cursors.position_after(request.query_params, "links")
    limit = parse_limit(request.query_params, default=MAX_LINKS_PAGE, maximum=MAX_LINKS_PAGE)
    rows = await rt.store.read_links(after, limit)
    lines = (
        _encode({"fromId": link.from_id, "userId": link.user_id, "kind": link.kind, "linkedAt": iso_ms(link.linked_at)})
        for _, link in rows
    )
    return ndjson_response(
        lines, {CURSOR_HEADER: rt.cursors.encode_position(rows[-1].position if rows else after, "links")}
    )
