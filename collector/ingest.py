"""The ingest endpoints: receive -> validate -> identify -> enrich -> store, one request at a time."""

from __future__ import annotations

import os
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from collector import enrich, identify
from collector.cors import cors_headers, origin_allowed
from collector.receive import BadRequest, header_write_key, parse_batch, parse_single, read_body
from collector.runtime import Runtime
from collector.store.base import WriteBatch
from collector.store.group_commit import StoreUnavailable
from collector.types import AnyMessage, QuarantineRow, Rejection, StoredMessage
from collector.validate import Invalid, check, decode

_encode = msgspec.json.encode


def json_response(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(_encode(content), status, headers, media_type="application/json")


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response({"success": False, "error": message}, status, headers)


async def batch_endpoint(request: Request) -> Response:
    return await _ingest(request, None)


def single_endpoint(message_type: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return await _ingest(request, message_type)

    return endpoint


async def _ingest(request: Request, implied_type: str | None) -> Response:
    rt: Runtime = request.app.state.runtime
    headers = cors_headers(request)
    try:
        if not origin_allowed(request, rt.settings):
            raise BadRequest(403, f"origin {request.headers['origin']!r} is not in allowed_origins")
        write_key = header_write_key(request)
        body = await read_body(request)
        envelope = parse_single(body) if implied_type else parse_batch(body)
        kind = rt.source_kind(write_key or envelope.write_key)
        if kind is None:
            what = "unknown write key" if (write_key or envelope.write_key) else "missing write key"
            raise BadRequest(
                401, f"{what}: send it as the Basic auth user name, as `writeKey` in the body or the query"
            )
    except BadRequest as exc:
        return error_response(exc.status, exc.message, headers)

    received = datetime.now(UTC)
    received_ms = enrich.to_ms(received)
    received_iso = enrich.iso(received)
    rejected: list[Rejection] = []
    quarantine: list[QuarantineRow] = []

    def reject(index: int, raw: bytes, reason: str, message_id: str | None = None) -> None:
        ids = _sniff_ids(raw)
        message_id = message_id or ids[0]
        where = f"batch[{index}]: " if implied_type is None else ""
        rejected.append(Rejection(index, message_id, where + reason))
        if not rt.graph.is_suppressed(ids[1]):  # an erased user's messages are not kept, not even bad ones
            quarantine.append(QuarantineRow(received_ms, where + reason, raw, message_id, ids[1], ids[2]))

    decoded: list[tuple[int, bytes, AnyMessage]] = []
    for index, raw in enumerate(envelope.messages):
        try:
            decoded.append((index, raw, decode(raw, implied_type=implied_type)))
        except Invalid as exc:
            reject(index, raw, str(exc))

    anonymous_id: str | None = None
    browser = kind == "browser"
    if browser and decoded:
        cookie_id = rt.cookies.read(request.cookies.get(rt.cookies.name))
        anonymous_id = identify.resolve_browser_id(cookie_id, [m for _, _, m in decoded], reset=envelope.reset)
        identify.apply_browser_id(anonymous_id, [m for _, _, m in decoded])

    facts = rt.enricher.facts(request, kind)
    dropped = 0
    batch = WriteBatch(quarantine=quarantine)
    fresh_ids = _new_ids(len(decoded))
    for index, raw, msg in decoded:
        try:
            check(msg, ids_assigned=browser)
            happened = enrich.correct_time(msg, received, received_iso, envelope.sent_at, browser=browser)
        except Invalid as exc:
            reject(index, raw, str(exc), msg.message_id)
            continue
        if rt.graph.is_suppressed(msg.user_id):
            rejected.append(Rejection(index, msg.message_id, "this userId was erased and is suppressed"))
            rt.counters["suppressed"] += 1
            continue
        if envelope.context:
            msg.context = {**envelope.context, **msg.context}
        if not rt.enricher.enrich(msg, facts):
            dropped += 1
            continue
        if envelope.integrations:
            msg.integrations = {**envelope.integrations, **msg.integrations}
        msg.message_id = msg.message_id or next(fresh_ids)
        msg.write_key = None
        timestamp = enrich.to_ms(happened)
        batch.messages.append(
            StoredMessage(
                msg.message_id,
                msg.__struct_config__.tag,  # type: ignore[arg-type]
                getattr(msg, "event", None),
                msg.user_id,
                msg.anonymous_id,
                timestamp,
                received_ms,
                _encode(msg),
            )
        )
        links, traits = rt.graph.updates(msg, timestamp, received_ms)
        batch.links += links
        batch.traits += traits

    try:
        new_ids = await rt.committer.submit(batch) if len(batch) else set()
    except StoreUnavailable as exc:
        headers["Retry-After"] = "5"
        return error_response(503, f"{exc}; nothing from this request was stored, retry it", headers)
    rt.graph.remember(batch.links)

    if browser and anonymous_id is not None:
        https = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
        headers["Set-Cookie"] = rt.cookies.header(anonymous_id, https=https)

    result = {
        "success": not rejected,
        "accepted": len(batch.messages),
        "duplicates": len(batch.messages) - len(new_ids),
        "dropped": dropped,
        "rejected": [{"index": r.index, "messageId": r.message_id, "reason": r.reason} for r in rejected],
        "anonymousId": anonymous_id,
    }
    if dropped:
        rt.counters["bots_dropped"] += dropped
    status = 400 if rejected and not batch.messages and not dropped else 200
    return json_response(result, status, headers)


def _new_ids(n: int) -> Iterator[str]:
    """UUID4s for messages that came without a messageId: one call for randomness per request."""
    pool = os.urandom(16 * n)
    for i in range(n):
        yield str(uuid.UUID(bytes=pool[16 * i : 16 * i + 16], version=4))


def _sniff_ids(raw: bytes) -> tuple[str | None, str | None, str | None]:
    """messageId, userId and anonymousId of a rejected message, as far as they can be read."""
    try:
        obj = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None, None, None
    if not isinstance(obj, dict):
        return None, None, None
    found = [obj.get(key) for key in ("messageId", "userId", "anonymousId")]
    return tuple(v if isinstance(v, str) else None for v in found)  # type: ignore[return-value]
