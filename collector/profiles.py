"""Profiles: one person's history summed up, from their messages and those of every linked ID.

Also the admin side of identity: bulk pulls of links and profiles, and erasure.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from collector import retention
from collector.export import CURSOR_HEADER, BadQuery, decode_cursor, encode_cursor
from collector.graph import user_hash
from collector.ingest import error_response, json_response
from collector.runtime import Runtime
from collector.store import ExportFilter, Store
from collector.store.base import BEGINNING

PAGE = 5000
MAX_PROFILES_PAGE = 100
_decode = msgspec.json.decode
_encode = msgspec.json.encode


def _iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def build_profile(store: Store, user_id: str) -> dict[str, Any] | None:
    """The profile of `user_id`, or None if nothing is known of it."""
    ids = await store.linked_ids(user_id)
    by_type: dict[str, int] = {}
    by_event: dict[str, int] = {}
    orders: dict[str, dict[str, Any]] = {}
    devices: dict[tuple[Any, ...], dict[str, Any]] = {}
    anonymous_traits: dict[str, tuple[str, Any]] = {}
    first = last = None
    location = None
    anonymous_ids: set[str] = set()
    after = BEGINNING
    where = ExportFilter(person=frozenset(ids))
    while rows := await store.read_messages(after, PAGE, where):
        after = rows[-1][0]
        for _, body in rows:
            msg = _decode(body)
            kind = msg["type"]
            by_type[kind] = by_type.get(kind, 0) + 1
            if kind == "track":
                by_event[msg["event"]] = by_event.get(msg["event"], 0) + 1
            when = msg["timestamp"]
            first = when if first is None or when < first else first
            if last is None or when >= last:
                last = when
                location = msg.get("context", {}).get("location", location)
            if msg.get("anonymousId"):
                anonymous_ids.add(msg["anonymousId"])
            context = msg.get("context", {})
            if "device" in context:
                key = (_get(context, "device", "type"), _get(context, "os", "name"), _get(context, "browser", "name"))
                devices[key] = {"type": key[0], "os": key[1], "browser": key[2], "lastSeen": when}
            if kind == "track" and msg["event"] == "Order Completed":
                props = msg.get("properties", {})
                orders[str(props.get("order_id"))] = props  # a re-sent order counts once
            if kind == "identify" and "userId" not in msg:  # traits said before the visitor was known
                for name, value in msg.get("traits", {}).items():
                    if name not in anonymous_traits or anonymous_traits[name][0] <= when:
                        anonymous_traits[name] = (when, value)
    stored_traits = await store.read_traits(ids)
    if first is None and not stored_traits:
        return None
    traits = {name: {"value": value, "setAt": when} for name, (when, value) in anonymous_traits.items()}
    for trait in sorted(stored_traits, key=lambda t: t.set_at):
        if trait.name not in traits or traits[trait.name]["setAt"] <= _iso_ms(trait.set_at):
            traits[trait.name] = {"value": _decode(trait.value), "setAt": _iso_ms(trait.set_at)}
    revenue: dict[str, Decimal] = {}
    for props in orders.values():
        amount = props.get("revenue", props.get("total"))
        currency = str(props.get("currency", "")).upper()
        try:
            revenue[currency] = revenue.get(currency, Decimal(0)) + Decimal(str(amount))
        except InvalidOperation:
            continue
    return {
        "userId": user_id,
        "linkedIds": sorted(ids - {user_id}),
        "anonymousIds": sorted(anonymous_ids),
        "traits": dict(sorted(traits.items())),
        "firstSeen": first,
        "lastSeen": last,
        "messages": {"total": sum(by_type.values()), "byType": by_type, "byEvent": by_event},
        "pageViews": by_type.get("page", 0),
        "orders": {"count": len(orders), "revenue": {c: float(v) for c, v in sorted(revenue.items())}},
        "location": location,
        "devices": sorted(devices.values(), key=lambda d: d["lastSeen"], reverse=True),
    }


def _get(context: dict[str, Any], key: str, field: str) -> Any:
    value = context.get(key)
    return value.get(field) if isinstance(value, dict) else None


def _admin(request: Request) -> Runtime | Response:
    rt: Runtime = request.app.state.runtime
    if not rt.is_admin(request.headers.get("authorization")):
        return error_response(401, "this endpoint needs the export token: `Authorization: Bearer <token>`")
    return rt


async def profile_endpoint(request: Request) -> Response:
    rt = _admin(request)
    if isinstance(rt, Response):
        return rt
    user_id = request.path_params["user_id"]
    owner = await rt.store.owner(user_id)
    profile = await build_profile(rt.store, owner or user_id)
    if profile is None:
        return error_response(404, f"no messages or traits for userId {user_id!r}")
    if owner is not None:
        profile["requestedId"] = user_id  # an ID aliased to another user: theirs is the profile
    return json_response(profile)


def _page_params(request: Request, max_limit: int) -> tuple[str | None, int]:
    q = request.query_params
    limit_text = q.get("limit", str(max_limit))
    if not (limit_text.isascii() and limit_text.isdecimal()) or not 1 <= int(limit_text) <= max_limit:
        raise BadQuery(f"`limit` must be a whole number from 1 to {max_limit}, got {limit_text!r}")
    return q.get("cursor"), int(limit_text)


async def profiles_endpoint(request: Request) -> Response:
    """Every user's profile, NDJSON, a page at a time, in userId order (resumable like the export)."""
    rt = _admin(request)
    if isinstance(rt, Response):
        return rt
    try:
        cursor, limit = _page_params(request, MAX_PROFILES_PAGE)
        after = _decode_user_cursor(cursor) if cursor else ""
    except BadQuery as exc:
        return error_response(400, str(exc))
    lines = []
    users = await rt.store.read_users(after, limit)
    for user_id in users:
        if await rt.store.owner(user_id) is not None:
            continue  # aliased into another user: part of that profile
        profile = await build_profile(rt.store, user_id)
        if profile is not None:
            lines.append(_encode(profile) + b"\n")
    next_cursor = _encode_user_cursor(users[-1]) if users else (cursor or "")
    return Response(b"".join(lines), headers={CURSOR_HEADER: next_cursor}, media_type="application/x-ndjson")


def _encode_user_cursor(user_id: str) -> str:
    import base64

    return base64.urlsafe_b64encode(b"u1:" + user_id.encode()).decode().rstrip("=")


def _decode_user_cursor(cursor: str) -> str:
    import base64

    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except ValueError:  # binascii.Error, UnicodeDecodeError, non-ASCII input: all ValueErrors
        text = ""
    if not text.startswith("u1:"):
        raise BadQuery("`cursor` is not one this collector gave out (pass the Footfall-Cursor header back as is)")
    return text[3:]


async def links_endpoint(request: Request) -> Response:
    """The identity graph's links, NDJSON, in the order they were made, resumable like the export."""
    rt = _admin(request)
    if isinstance(rt, Response):
        return rt
    try:
        cursor, limit = _page_params(request, 10_000)
        after = decode_cursor(cursor) if cursor else BEGINNING
    except BadQuery as exc:
        return error_response(400, str(exc))
    rows = await rt.store.read_links(after, limit)
    body = b"".join(
        _encode(
            {"fromId": link.from_id, "userId": link.user_id, "kind": link.kind, "linkedAt": _iso_ms(link.linked_at)}
        )
        + b"\n"
        for _, link in rows
    )
    return Response(
        body, headers={CURSOR_HEADER: encode_cursor(rows[-1][0] if rows else after)}, media_type="application/x-ndjson"
    )


async def erase_endpoint(request: Request) -> Response:
    """Forget a user: their messages, their linked IDs' messages, traits, links and quarantined rows."""
    rt = _admin(request)
    if isinstance(rt, Response):
        return rt
    user_id = request.path_params["user_id"]
    suppress = request.query_params.get("suppress", "false").lower() in ("1", "true", "yes")
    ids = await rt.store.linked_ids(user_id)
    erased = await retention.erase(rt.store, rt.committer.exclusive, ids)
    rt.graph.forget(ids)
    if suppress:
        hashed = user_hash(user_id)
        now_ms = int(datetime.now(UTC).timestamp() * 1000)
        await rt.committer.exclusive(lambda: rt.store.suppress(hashed, now_ms))
        rt.graph.suppressed.add(hashed)
    return json_response({"userId": user_id, "ids": sorted(ids), "suppressed": suppress, **dataclasses.asdict(erased)})
