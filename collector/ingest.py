"""The ingest endpoints: one request through receive -> validate -> identify -> enrich -> store.

`_ingest` reads as those five steps. Each message that falls out on the way is answered for: rejected
(with its reason, and kept in the quarantine), refused (its user was erased and is suppressed), or
dropped (a bot, under `--bots drop`). The answer is sent only after the request's rows are committed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from collector import enrich, identify
from collector.cors import cors_headers, origin_allowed
from collector.enrich import RequestFacts, device
from collector.graph import Graph
from collector.http import HTTPError, json_response, runtime
from collector.receive import Envelope, header_write_key, parse_batch, parse_single, read_body
from collector.runtime import Runtime
from collector.store.base import WriteBatch, user_hash
from collector.store.group_commit import StoreUnavailable
from collector.types import AnyMessage, QuarantineRow, Rejection, Source, SourceKind, StoredMessage
from collector.validate import Invalid, MessageTimes, check, decode

_encode = msgspec.json.encode
# What one request may add to the quarantine, and list in its answer: a flood of invalid messages costs a
# bounded amount of disk and answer. (The count of what was rejected is always whole.)
MAX_QUARANTINED_PER_REQUEST = 100
MAX_LISTED_REJECTIONS = 100
MAX_REASON = 300  # characters of one rejection's reason
REFUSED = "this userId was erased and is suppressed"


async def batch_endpoint(request: Request) -> Response:
    return await _ingest(request, None)


def single_endpoint(message_type: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return await _ingest(request, message_type)

    return endpoint


async def _ingest(request: Request, implied_type: str | None) -> Response:
    rt = runtime(request)
    endpoint = implied_type or "batch"
    try:
        response = await _handle(request, rt, implied_type)
    except HTTPError as exc:
        rt.metrics.request(endpoint, exc.status)
        raise
    rt.metrics.request(endpoint, response.status_code)
    return response


async def _handle(request: Request, rt: Runtime, implied_type: str | None) -> Response:
    headers = cors_headers(request)
    if rt.committer.pending > rt.settings.max_pending_rows:  # the store is behind: before reading the body
        rt.counters["backpressure"] += 1
        behind = f"the store is behind ({rt.committer.pending} rows wait for their commit); retry shortly"
        raise HTTPError(503, behind, headers | {"Retry-After": "2"})
    envelope, source, write_key = await _receive(request, rt, implied_type, headers)
    kind = source.kind
    peer = request.client.host if request.client else None
    facts = rt.enricher.facts(kind, peer, request.headers)
    refused = rt.limits.check(kind, write_key, facts.ip)
    if refused is not None:
        rt.counters["rate_limited"] += 1
        raise HTTPError(429, refused.message, headers | {"Retry-After": str(refused.retry_after)})
    answer = _Answer(implied_type, datetime.now(UTC), rt.graph, source.name, browser=kind == "browser")
    valid = _validate(envelope.messages, implied_type, kind, answer)
    anonymous_id = _identify(request, rt, kind, envelope, valid, answer)
    _enrich(rt, valid, envelope, facts, answer)
    if anonymous_id is not None:  # made before the commit: nothing may fail after it
        https = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
        cookie = rt.cookies.header(anonymous_id, https=https)
    new_ids = await _store(rt, answer.batch, headers)
    if anonymous_id is not None:
        headers["Set-Cookie"] = cookie
    if kind == "browser":
        answer.warning = _backend_on_browser_key(request.headers.get("user-agent"))
    if answer.dropped:
        rt.counters["bots_dropped"] += answer.dropped
    response = answer.response(new_ids, anonymous_id, headers)
    rt.metrics.outcomes(implied_type or "batch", source.name, answer.outcomes, answer.rejection_reasons)
    return response


# --- receive --------------------------------------------------------------------------------------------
async def _receive(
    request: Request, rt: Runtime, implied_type: str | None, cors: dict[str, str]
) -> tuple[Envelope, Source, str]:
    """The request as a whole: origin, body, write key and so its source. Raises HTTPError (with the CORS
    headers, so that a browser can read why)."""
    try:
        if not origin_allowed(request, rt.settings):
            raise HTTPError(403, f"origin {request.headers['origin']!r} is not in allowed_origins")
        write_key = header_write_key(request)
        body = await read_body(request)
        rt.metrics.body(implied_type or "batch", len(body))
        envelope = parse_single(body) if implied_type else parse_batch(body)
        key = write_key or envelope.write_key
        source = rt.sources.lookup(key)
        if source is None:
            what = "unknown write key" if key else "missing write key"
            raise HTTPError(401, f"{what}: send it as the Basic auth user name, as `writeKey` in the body or the query")
        origin = request.headers.get("origin")
        if not rt.sources.origin_allowed(source, origin):
            raise HTTPError(403, f"origin {origin!r} may not send with the write key of source {source.name!r}")
    except HTTPError as exc:
        exc.headers.update(cors)
        raise
    assert key is not None
    return envelope, source, key


# --- validate -------------------------------------------------------------------------------------------
@dataclass(slots=True)
class _Valid:
    index: int
    raw: bytes
    msg: AnyMessage
    times: MessageTimes


def _validate(raws: list[bytes], implied_type: str | None, kind: SourceKind, answer: _Answer) -> list[_Valid]:
    """Each message's JSON against its type's struct, then the rules; the others are rejected."""
    valid = []
    for index, raw in enumerate(raws):
        msg = None
        try:
            msg = decode(raw, implied_type=implied_type)
            valid.append(_Valid(index, raw, msg, check(msg, ids_assigned=kind == "browser")))
        except Invalid as exc:
            answer.reject(index, raw, str(exc), msg.message_id if msg is not None else None)
    return valid


# --- identify -------------------------------------------------------------------------------------------
def _identify(
    request: Request, rt: Runtime, kind: SourceKind, envelope: Envelope, valid: list[_Valid], answer: _Answer
) -> str | None:
    """Refuse messages of suppressed (erased) users; for browser traffic, the anonymousId in force
    (identify.py's rules), set on every message."""
    if rt.graph.suppressed:
        kept = []
        for item in valid:
            if rt.graph.is_suppressed(item.msg.user_id):
                answer.refuse(item.index, item.msg.message_id)
                rt.counters["suppressed"] += 1
            else:
                kept.append(item)
        valid[:] = kept
    if kind != "browser" or not valid:
        return None
    messages = [item.msg for item in valid]
    cookie_id = rt.cookies.read(request.cookies.get(rt.cookies.name))
    anonymous_id = identify.resolve_browser_id(cookie_id, messages, reset=envelope.reset)
    identify.apply_browser_id(anonymous_id, messages)
    return anonymous_id


# --- enrich ---------------------------------------------------------------------------------------------
def _enrich(rt: Runtime, valid: list[_Valid], envelope: Envelope, facts: RequestFacts, answer: _Answer) -> None:
    """Time, device, location, campaign; then each message that is kept becomes the rows to store."""
    browser = facts.kind == "browser"
    batch_sent_at = enrich.envelope_sent_at(envelope.sent_at)
    fresh_ids = _new_ids(len(valid))
    for item in valid:
        msg = item.msg
        happened = enrich.correct_time(
            msg, item.times, answer.received, answer.received_iso, batch_sent_at, browser=browser
        )
        if envelope.context:
            msg.context = {**envelope.context, **msg.context}
        if not rt.enricher.enrich(msg, facts):
            answer.dropped += 1
            continue
        if envelope.integrations:
            msg.integrations = {**envelope.integrations, **msg.integrations}
        msg.message_id = msg.message_id or next(fresh_ids)
        msg.write_key = None
        answer.add(item.index, msg, enrich.to_ms(happened))


# --- store ----------------------------------------------------------------------------------------------
async def _store(rt: Runtime, batch: WriteBatch, headers: dict[str, str]) -> set[str]:
    """Commit the request's rows (shared with other requests' in one group commit); the new messageIds."""
    if not len(batch):
        return set()
    try:
        new_ids = await rt.committer.submit(batch)
    except StoreUnavailable as exc:
        headers["Retry-After"] = "5"
        raise HTTPError(503, f"{exc}; nothing from this request was stored, retry it", headers) from None
    rt.graph.remember(batch.links)
    rt.graph.remember(batch.guarded_links)  # written, or refused for good: either way, not to try again
    return new_ids


# --- the answer -----------------------------------------------------------------------------------------
@dataclass
class _Answer:
    """What becomes of one request's messages, and the rows that the store writes for them."""

    implied_type: str | None
    received: datetime
    graph: Graph
    source: str
    browser: bool
    received_ms: int = 0
    received_iso: str = ""
    batch: WriteBatch = field(default_factory=WriteBatch)
    rejected: list[Rejection] = field(default_factory=list)
    dropped: int = 0
    warning: str | None = None
    refused: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # for the metrics, once answered
    indexes: list[int] = field(default_factory=list)  # of each message in `batch.messages`

    def __post_init__(self) -> None:
        self.received_ms = enrich.to_ms(self.received)
        self.received_iso = enrich.iso(self.received)

    def reject(self, index: int, raw: bytes, reason: str, message_id: str | None) -> None:
        """Rejected, and kept in the quarantine with its reason (unless its user is suppressed)."""
        ids = _sniff_ids(raw)
        message_id = message_id or ids[0]
        where = f"batch[{index}]: " if self.implied_type is None else ""
        reason = (where + reason)[:MAX_REASON]
        self.rejected.append(Rejection(index, message_id, reason))
        if len(self.batch.quarantine) >= MAX_QUARANTINED_PER_REQUEST:
            return  # rejected and answered, not kept: one request may not fill the disk with them
        if not self.graph.is_suppressed(ids[1]):  # an erased user's messages are not kept, not even bad ones
            self.batch.quarantine.append(QuarantineRow(self.received_ms, reason, raw, message_id, ids[1], ids[2]))

    def refuse(self, index: int, message_id: str | None) -> None:
        self.rejected.append(Rejection(index, message_id, REFUSED))
        self.refused += 1

    @property
    def rejection_reasons(self) -> list[str]:
        return [r.reason for r in self.rejected if r.reason != REFUSED]

    def add(self, index: int, msg: AnyMessage, timestamp: int) -> None:
        """A message to store, with the identity links and traits it makes."""
        assert msg.message_id is not None
        self.indexes.append(index)
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
                self.source,
            )
        )
        links, traits = self.graph.updates(msg, timestamp, self.received_ms, browser=self.browser)
        if self.browser:
            self.batch.guarded_links += links
        else:
            self.batch.links += links
        self.batch.traits += traits

    def response(self, new_ids: set[str], anonymous_id: str | None, headers: dict[str, str]) -> Response:
        stored = self.batch.messages
        if self.batch.refused_users:
            # Left out by the store: their user was suppressed (erased, maybe by another collector) while
            # this request waited for its commit. Refused, not duplicates; and this process now knows.
            self.graph.suppressed |= {user_hash(u) for u in self.batch.refused_users}
            late = {i for i, m in enumerate(stored) if m.user_id in self.batch.refused_users}
            for i in sorted(late):
                self.refuse(self.indexes[i], stored[i].message_id)
            stored = [m for i, m in enumerate(stored) if i not in late]
        result: dict[str, Any] = {
            "success": not self.rejected,
            "accepted": len(stored),
            "duplicates": len(stored) - len(new_ids),
            "dropped": self.dropped,
            "rejected": [
                {"index": r.index, "messageId": r.message_id, "reason": r.reason}
                for r in self.rejected[:MAX_LISTED_REJECTIONS]
            ],
            "anonymousId": anonymous_id,
        }
        self.outcomes = {
            "accepted": len(new_ids),
            "duplicate": len(stored) - len(new_ids),
            "rejected": len(self.rejected) - self.refused,
            "dropped_bot": self.dropped,
            "refused": self.refused,
        }
        if len(self.rejected) > MAX_LISTED_REJECTIONS:
            result["rejectedCount"] = len(self.rejected)  # only the first ones are listed
        if self.warning:
            result["warning"] = self.warning
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
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None, None, None
    if not isinstance(obj, dict):
        return None, None, None
    found = [obj.get(key) for key in ("messageId", "userId", "anonymousId")]
    return tuple(v if isinstance(v, str) and "\x00" not in v else None for v in found)  # type: ignore[return-value]
