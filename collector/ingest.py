"""The ingest endpoints: receive -> validate -> identify -> enrich -> store, one request at a time."""

from __future__ import annotations

import os
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from collector import enrich, identify
from collector.cors import cors_headers, origin_allowed
from collector.enrich import RequestFacts, device
from collector.http import HTTPError, json_response, runtime
from collector.receive import Envelope, header_write_key, parse_batch, parse_single, read_body
from collector.runtime import Runtime
from collector.store.base import WriteBatch
from collector.store.group_commit import StoreUnavailable
from collector.types import AnyMessage, QuarantineRow, Rejection, SourceKind, StoredMessage
from collector.validate import Invalid, check, decode

_encode = msgspec.json.encode


async def batch_endpoint(request: Request) -> Response:
    return await _ingest(request, None)


def single_endpoint(message_type: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return await _ingest(request, message_type)

    return endpoint


async def _ingest(request: Request, implied_type: str | None) -> Response:
    rt = runtime(request)
    headers = cors_headers(request)
    try:
        envelope, kind = await _receive(request, rt, implied_type)
    except HTTPError as exc:
        exc.headers.update(headers)  # a browser must be able to read why its request failed
        raise

    outcome = _Outcome(rt, implied_type, datetime.now(UTC))
    if kind == "browser":
        outcome.warning = _backend_on_browser_key(request.headers.get("user-agent"))
    decoded = outcome.decode_all(envelope.messages)
    anonymous_id = _identify(request, rt, kind, envelope, [msg for _, _, msg in decoded])
    outcome.accept_all(decoded, envelope, rt.enricher.facts(request, kind))
    if anonymous_id is not None:  # made before the commit: nothing may fail after it
        https = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
        cookie = rt.cookies.header(anonymous_id, https=https)
    try:
        new_ids = await rt.committer.submit(outcome.batch) if len(outcome.batch) else set()
    except StoreUnavailable as exc:
        headers["Retry-After"] = "5"
        raise HTTPError(503, f"{exc}; nothing from this request was stored, retry it", headers) from None
    rt.graph.remember(outcome.batch.links)
    if anonymous_id is not None:
        headers["Set-Cookie"] = cookie
    return outcome.answer(new_ids, anonymous_id, headers)


async def _receive(request: Request, rt: Runtime, implied_type: str | None) -> tuple[Envelope, SourceKind]:
    """The request as a whole: origin, body, write key. Raises HTTPError."""
    if not origin_allowed(request, rt.settings):
        raise HTTPError(403, f"origin {request.headers['origin']!r} is not in allowed_origins")
    write_key = header_write_key(request)
    body = await read_body(request)
    envelope = parse_single(body) if implied_type else parse_batch(body)
    key = write_key or envelope.write_key
    kind = rt.source_kind(key)
    if kind is None:
        what = "unknown write key" if key else "missing write key"
        raise HTTPError(401, f"{what}: send it as the Basic auth user name, as `writeKey` in the body or the query")
    return envelope, kind


def _identify(
    request: Request, rt: Runtime, kind: SourceKind, envelope: Envelope, messages: list[AnyMessage]
) -> str | None:
    """Browser traffic: the anonymousId in force (identify.py's rules), set on every message."""
    if kind != "browser" or not messages:
        return None
    cookie_id = rt.cookies.read(request.cookies.get(rt.cookies.name))
    anonymous_id = identify.resolve_browser_id(cookie_id, messages, reset=envelope.reset)
    identify.apply_browser_id(anonymous_id, messages)
    return anonymous_id


class _Outcome:
    """What becomes of one request's messages: stored, rejected (and quarantined), or dropped."""

    def __init__(self, rt: Runtime, implied_type: str | None, received: datetime) -> None:
        self.rt = rt
        self.implied_type = implied_type
        self.received = received
        self.received_ms = enrich.to_ms(received)
        self.received_iso = enrich.iso(received)
        self.rejected: list[Rejection] = []
        self.batch = WriteBatch()
        self.dropped = 0
        self.warning: str | None = None

    def reject(self, index: int, raw: bytes, reason: str, message_id: str | None = None) -> None:
        ids = _sniff_ids(raw)
        message_id = message_id or ids[0]
        where = f"batch[{index}]: " if self.implied_type is None else ""
        self.rejected.append(Rejection(index, message_id, where + reason))
        if not self.rt.graph.is_suppressed(ids[1]):  # an erased user's messages are not kept, not even bad ones
            self.batch.quarantine.append(
                QuarantineRow(self.received_ms, where + reason, raw, message_id, ids[1], ids[2])
            )

    def decode_all(self, raws: list[bytes]) -> list[tuple[int, bytes, AnyMessage]]:
        """Validate, first part: each message's JSON against its type's struct."""
        decoded = []
        for index, raw in enumerate(raws):
            try:
                decoded.append((index, raw, decode(raw, implied_type=self.implied_type)))
            except Invalid as exc:
                self.reject(index, raw, str(exc))
        return decoded

    def accept_all(self, decoded: list[tuple[int, bytes, AnyMessage]], envelope: Envelope, facts: RequestFacts) -> None:
        """Validate (the rules), enrich, and turn each message into the rows the store writes."""
        browser = facts.kind == "browser"
        fresh_ids = _new_ids(len(decoded))
        for index, raw, msg in decoded:
            try:
                check(msg, ids_assigned=browser)
                happened = enrich.correct_time(msg, self.received, self.received_iso, envelope.sent_at, browser=browser)
            except Invalid as exc:
                self.reject(index, raw, str(exc), msg.message_id)
                continue
            if self.rt.graph.is_suppressed(msg.user_id):
                self.rejected.append(Rejection(index, msg.message_id, "this userId was erased and is suppressed"))
                self.rt.counters["suppressed"] += 1
                continue
            if envelope.context:
                msg.context = {**envelope.context, **msg.context}
            if not self.rt.enricher.enrich(msg, facts):
                self.dropped += 1
                continue
            if envelope.integrations:
                msg.integrations = {**envelope.integrations, **msg.integrations}
            msg.message_id = msg.message_id or next(fresh_ids)
            msg.write_key = None
            self._store(msg, enrich.to_ms(happened))

    def _store(self, msg: AnyMessage, timestamp: int) -> None:
        assert msg.message_id is not None
        self.batch.messages.append(
            StoredMessage(
                msg.message_id,
                msg.__struct_config__.tag,  # type: ignore[arg-type]
                getattr(msg, "event", None),
                msg.user_id,
                msg.anonymous_id,
                timestamp,
                self.received_ms,
                _encode(msg),
            )
        )
        links, traits = self.rt.graph.updates(msg, timestamp, self.received_ms)
        self.batch.links += links
        self.batch.traits += traits

    def answer(self, new_ids: set[str], anonymous_id: str | None, headers: dict[str, str]) -> Response:
        stored = self.batch.messages
        result = {
            "success": not self.rejected,
            "accepted": len(stored),
            "duplicates": len(stored) - len(new_ids),
            "dropped": self.dropped,
            "rejected": [{"index": r.index, "messageId": r.message_id, "reason": r.reason} for r in self.rejected],
            "anonymousId": anonymous_id,
        }
        if self.warning:
            result["warning"] = self.warning
        if self.dropped:
            self.rt.counters["bots_dropped"] += self.dropped
        status = 400 if self.rejected and not stored and not self.dropped else 200
        return json_response(result, status, headers)


def _backend_on_browser_key(user_agent: str | None) -> str | None:
    """A warning for the answer when a program, not a browser, sends with the public browser key."""
    if not device.is_http_library(user_agent):
        return None
    who = f"User-Agent {user_agent[:80]!r}" if user_agent else "no User-Agent"
    return (
        f"this request used the public browser write key but does not come from a browser ({who}): "
        "backends should send with the server write key, so that their IDs and context are kept as sent "
        "and their traffic is not recorded as a visitor's"
    )


def _new_ids(n: int) -> Iterator[str]:
    """UUID4s for messages that came without a messageId: one call for randomness per request."""
    pool = os.urandom(16 * n)
    for i in range(n):
        yield str(uuid.UUID(bytes=pool[16 * i : 16 * i + 16], version=4))


def _sniff_ids(raw: bytes) -> tuple[str | None, str | None, str | None]:
    """messageId, userId and anonymousId of a rejected message, as far as they can be read."""
    try:
        obj = msgspec.json.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None, None, None
    if not isinstance(obj, dict):
        return None, None, None
    found = [obj.get(key) for key in ("messageId", "userId", "anonymousId")]
    return tuple(v if isinstance(v, str) else None for v in found)  # type: ignore[return-value]
