"""The ingest endpoints: one request through receive -> validate -> identify -> enrich -> store.

`_ingest` reads as those five steps. Each message that falls out on the way is answered for: rejected
(with its reason, and kept in the quarantine), refused (its user was erased and is suppressed), or
dropped (a bot, under `--bots drop`). The answer is sent only after the request's rows are committed.

The steps after receive need no request: `prepare_import_chunk` and `store_import_chunk` run them for lines
of a file (`imports.py`), as server traffic with no cookies, on `Stages` that the running collector or
`footfall import` holds.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from collector import enrich, identify
from collector.cors import cors_headers, origin_allowed
from collector.enrich import Enricher, RequestFacts, device
from collector.graph import Graph
from collector.http import HTTPError, json_response, runtime
from collector.ratelimit import Refusal
from collector.receive import Envelope, header_write_key, parse_batch, parse_single, read_body
from collector.runtime import Runtime
from collector.store.base import WriteBatch, user_hash
from collector.store.group_commit import GroupCommitter, StoreUnavailable
from collector.types import AnyMessage, QuarantineRow, Rejection, Source, SourceKind, StoredMessage
from collector.validate import Invalid, MessageTimes, check, decode

_encode = msgspec.json.encode
# What one request may add to the quarantine, and list in its answer: a flood of invalid messages costs a
# bounded amount of disk and answer. (The count of what was rejected is always whole.)
MAX_QUARANTINED_PER_REQUEST = 100
MAX_LISTED_REJECTIONS = 100
MAX_REASON = 300  # characters of one rejection's reason
REFUSED = "this userId was erased and is suppressed"
# Names the messageIds derived for imported lines that have none (uuid5 of the line's canonical JSON).
IMPORT_NAMESPACE = uuid.UUID("6f1d1f0e-5c1a-4e8b-9a7e-0f00f0f1a11e")


@dataclass(frozen=True, slots=True)
class Stages:
    """What validate, identify, enrich and store need beyond the messages: the running collector's, or
    those `footfall import` opens on the store."""

    enricher: Enricher
    graph: Graph
    committer: GroupCommitter
    counters: Counter[str]

    @classmethod
    def of(cls, rt: Runtime) -> Stages:
        return cls(rt.enricher, rt.graph, rt.committer, rt.counters)


async def batch_endpoint(request: Request) -> Response:
    return await _ingest(request, None)


def single_endpoint(message_type: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return await _ingest(request, message_type)

    return endpoint


async def _ingest(request: Request, implied_type: str | None) -> Response:
    rt = runtime(request)
    endpoint = implied_type or "batch"
    try:  # (as `counted` does, a coroutine fewer: this is every request)
        response = await _handle(request, rt, implied_type)
    except HTTPError as exc:
        rt.metrics.request(endpoint, exc.status)
        raise
    rt.metrics.request(endpoint, response.status_code)
    return response


async def counted(rt: Runtime, endpoint: str, handling: Awaitable[Response]) -> Response:
    """The answer of an ingest endpoint, counted by endpoint and status (an HTTPError too)."""
    try:
        response = await handling
    except HTTPError as exc:
        rt.metrics.request(endpoint, exc.status)
        raise
    rt.metrics.request(endpoint, response.status_code)
    return response


def refuse_when_behind(rt: Runtime, headers: dict[str, str]) -> None:
    """Backpressure: a 503 before the body is read while too many rows wait for their commit."""
    if rt.committer.pending > rt.settings.max_pending_rows:
        rt.counters["backpressure"] += 1
        behind = f"the store is behind ({rt.committer.pending} rows wait for their commit); retry shortly"
        raise HTTPError(503, behind, headers | {"Retry-After": "2"})


@dataclass(frozen=True, slots=True)
class _HeaderKey:
    """The write key of the headers or the query, read once, before the body: the key, the source it
    belongs to, or why the Authorization header is not one (raised where receive checks the key)."""

    key: str | None
    source: Source | None
    error: HTTPError | None

    @classmethod
    def of(cls, request: Request, rt: Runtime) -> _HeaderKey:
        try:
            key = header_write_key(request)
        except HTTPError as exc:
            return cls(None, None, exc)
        return cls(key, rt.sources.lookup(key), None)


def refuse_when_limited(rt: Runtime, refused: Refusal | None, headers: dict[str, str]) -> None:
    """A 429 with Retry-After when a rate limit refused the request."""
    if refused is not None:
        rt.counters["rate_limited"] += 1
        raise HTTPError(429, refused.message, headers | {"Retry-After": str(refused.retry_after)})


async def _handle(request: Request, rt: Runtime, implied_type: str | None) -> Response:
    headers = cors_headers(request)
    refuse_when_behind(rt, headers)
    peer = request.client.host if request.client else None
    header_key = _HeaderKey.of(request, rt)
    browser_facts = rt.enricher.facts("browser", peer, request.headers)
    # Before the body is read (so that failing requests count too): one token for the request, from the
    # client address unless a server key came in the headers.
    header_kind = header_key.source.kind if header_key.source is not None else None
    refuse_when_limited(rt, rt.limits.check_address(header_kind, browser_facts.ip), headers)
    envelope, source, write_key = await _receive(request, rt, implied_type, headers, header_key)
    kind = source.kind
    facts = browser_facts if kind == "browser" else rt.enricher.facts(kind, peer, request.headers)
    refuse_when_limited(rt, rt.limits.check(kind, write_key, facts.ip, messages=len(envelope.messages)), headers)
    stages = rt.stages
    answer = _Answer(implied_type, *enrich.received_now(), rt.graph, source.name, browser=kind == "browser")
    valid = _validate(envelope.messages, range(len(envelope.messages)), implied_type, kind, answer)
    _refuse_suppressed(stages, valid, answer)
    anonymous_id = _identify_browser(request, rt, kind, envelope, valid)
    _enrich(stages.enricher, valid, envelope, facts, answer)
    if anonymous_id is not None:  # made before the commit: nothing may fail after it
        https = request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"
        cookie = rt.cookies.header(anonymous_id, https=https)
    try:
        new_ids = await _store(stages, answer.batch)
    except StoreUnavailable as exc:
        headers["Retry-After"] = "5"
        raise HTTPError(503, f"{exc}; nothing from this request was stored, retry it", headers) from None
    if anonymous_id is not None:
        headers["Set-Cookie"] = cookie
    if kind == "browser":
        answer.warning = _backend_on_browser_key(request.headers.get("user-agent"))
    if answer.dropped:
        rt.counters["bots_dropped"] += answer.dropped
    response = answer.response(new_ids, anonymous_id, headers)
    rt.metrics.outcomes(implied_type or "batch", source.name, answer.outcomes, answer.rejection_reasons)
    return response


def prepare_import_chunk(
    stages: Stages, source: str, lines: Sequence[tuple[int, bytes]], *, expire_before: int
) -> ImportAnswer:
    """Lines of an imported file (line number, one message's JSON) through validate, identify and enrich,
    as server traffic: IDs and context as the lines give them, each line's own time kept (no skew
    correction), `receivedAt` now. A line without a messageId gets one derived from its content, so a file
    imported again stores nothing twice. Anonymous messages that happened before `expire_before` (ms) are
    not stored: they are handed back in `aged` (stored later only if their anonymousId turns out linked).
    Rejected lines are answered with their line numbers, not quarantined (the file holds them).
    `store_import_chunk` stores the rest; the next chunk may be prepared meanwhile (the links a chunk
    makes are written whether or not they were seen before, so nothing depends on the order)."""
    received = enrich.received_now()
    answer = ImportAnswer(None, *received, stages.graph, source, browser=False, expire_before=expire_before)
    valid = _validate([raw for _, raw in lines], [number for number, _ in lines], None, "server", answer)
    _refuse_suppressed(stages, valid, answer)
    _enrich(stages.enricher, valid, Envelope([]), RequestFacts("server", None, None), answer, historical=True)
    return answer


async def store_import_chunk(stages: Stages, answer: ImportAnswer) -> ImportAnswer:
    """Commit a prepared chunk, after the live requests waiting. Raises StoreUnavailable if it fails."""
    answer.settle(await _store(stages, answer.batch, background=True))
    return answer


# --- receive --------------------------------------------------------------------------------------------
async def _receive(
    request: Request, rt: Runtime, implied_type: str | None, cors: dict[str, str], header_key: _HeaderKey
) -> tuple[Envelope, Source, str]:
    """The request as a whole: origin, body, write key and so its source. Raises HTTPError (with the CORS
    headers, so that a browser can read why)."""
    try:
        if not origin_allowed(request, rt.settings):
            raise HTTPError(403, f"origin {request.headers['origin']!r} is not in allowed_origins")
        if header_key.error is not None:
            raise header_key.error
        body = await read_body(request)
        rt.metrics.body(implied_type or "batch", len(body))
        envelope = parse_single(body) if implied_type else parse_batch(body)
        key = header_key.key or envelope.write_key
        source = header_key.source if header_key.key else rt.sources.lookup(key)
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


def _validate(
    raws: list[bytes], indexes: Sequence[int], implied_type: str | None, kind: SourceKind, answer: _Answer
) -> list[_Valid]:
    """Each message's JSON against its type's struct, then the rules; the others are rejected. `indexes`:
    what each message is called in the answer (its place in the batch, or its line in a file)."""
    valid = []
    for index, raw in zip(indexes, raws, strict=True):
        msg = None
        try:
            msg = decode(raw, implied_type=implied_type)
            valid.append(_Valid(index, raw, msg, check(msg, ids_assigned=kind == "browser")))
        except Invalid as exc:
            answer.reject(index, raw, str(exc), msg.message_id if msg is not None else None)
    return valid


# --- identify -------------------------------------------------------------------------------------------
def _refuse_suppressed(stages: Stages, valid: list[_Valid], answer: _Answer) -> None:
    """Refuse messages of suppressed (erased) users."""
    if stages.graph.suppressed:
        kept = []
        for item in valid:
            if stages.graph.is_suppressed(item.msg.user_id):
                answer.refuse(item.index, item.msg.message_id)
                stages.counters["suppressed"] += 1
            else:
                kept.append(item)
        valid[:] = kept


def _identify_browser(
    request: Request, rt: Runtime, kind: SourceKind, envelope: Envelope, valid: list[_Valid]
) -> str | None:
    """For browser traffic, the anonymousId in force (identify.py's rules), set on every message."""
    if kind != "browser" or not valid:
        return None
    messages = [item.msg for item in valid]
    cookie_id = rt.cookies.read(request.cookies.get(rt.cookies.name))
    anonymous_id = identify.resolve_browser_id(cookie_id, messages, reset=envelope.reset)
    identify.apply_browser_id(anonymous_id, messages)
    return anonymous_id


# --- enrich ---------------------------------------------------------------------------------------------
def _enrich(
    enricher: Enricher,
    valid: list[_Valid],
    envelope: Envelope,
    facts: RequestFacts,
    answer: _Answer,
    *,
    historical: bool = False,
) -> None:
    """Time, device, location, campaign; then each message that is kept becomes the rows to store.
    `historical`: lines of an imported file (their own times; messageIds derived from their content)."""
    browser = facts.kind == "browser"
    batch_sent_at = enrich.envelope_sent_at(envelope.sent_at)
    fresh_ids = _new_ids(0 if historical else len(valid))
    for item in valid:
        msg = item.msg
        if historical and msg.message_id is None:
            msg.message_id = derived_message_id(item.raw)  # before anything changes the message
        happened = enrich.correct_time(
            msg, item.times, answer.received, answer.received_iso, batch_sent_at, browser=browser, historical=historical
        )
        if envelope.context:
            msg.context = {**envelope.context, **msg.context}
        if not enricher.enrich(msg, facts):
            answer.dropped += 1
            continue
        if envelope.integrations:
            msg.integrations = {**envelope.integrations, **msg.integrations}
        msg.message_id = msg.message_id or next(fresh_ids)
        msg.write_key = None
        answer.add(item.index, msg, enrich.to_ms(happened))


# --- store ----------------------------------------------------------------------------------------------
async def _store(stages: Stages, batch: WriteBatch, *, background: bool = False) -> set[str]:
    """Commit the rows (shared with other requests' in one group commit, unless `background`: see
    `GroupCommitter.submit`); the new messageIds. Raises StoreUnavailable if the commit failed (nothing of
    the batch is stored then)."""
    if not len(batch):
        return set()
    erasures = stages.graph.erasures  # an erasure between two slices of a background batch may delete links
    new_ids = await stages.committer.submit(batch, background=background)
    stages.graph.remember(batch.links, erasures=erasures)
    # written, or refused for good: either way, not to try again
    stages.graph.remember(batch.guarded_links, erasures=erasures)
    return new_ids


# --- the answer -----------------------------------------------------------------------------------------
@dataclass
class _Answer:
    """What becomes of one request's messages, and the rows that the store writes for them."""

    implied_type: str | None
    received: datetime  # now, to the ms (`enrich.received_now()`)
    received_ms: int
    received_iso: str
    graph: Graph
    source: str
    browser: bool
    batch: WriteBatch = field(default_factory=WriteBatch)
    rejected: list[Rejection] = field(default_factory=list)
    dropped: int = 0
    warning: str | None = None
    refused: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # for the metrics, once answered
    indexes: list[int] = field(default_factory=list)  # of each message in `batch.messages`
    accepted: int = 0  # once settled: messages stored, duplicates included
    duplicates: int = 0

    def where(self, index: int) -> str:
        return f"batch[{index}]: " if self.implied_type is None else ""

    def reject(self, index: int, raw: bytes, reason: str, message_id: str | None) -> None:
        """Rejected, and kept in the quarantine with its reason (unless its user is suppressed)."""
        ids = _sniff_ids(raw)
        message_id = message_id or ids[0]
        reason = (self.where(index) + reason)[:MAX_REASON]
        self.rejected.append(Rejection(index, message_id, reason))
        if len(self.batch.quarantine) >= self.max_quarantined:
            return  # rejected and answered, not kept: one request may not fill the disk with them
        if not self.graph.is_suppressed(ids[1]):  # an erased user's messages are not kept, not even bad ones
            self.batch.quarantine.append(QuarantineRow(self.received_ms, reason, raw, message_id, ids[1], ids[2]))

    def refuse(self, index: int, message_id: str | None) -> None:
        self.rejected.append(Rejection(index, message_id, REFUSED))
        self.refused += 1

    @property
    def rejection_reasons(self) -> list[str]:
        return [r.reason for r in self.rejected if r.reason != REFUSED]

    max_quarantined = MAX_QUARANTINED_PER_REQUEST

    def add(self, index: int, msg: AnyMessage, timestamp: int) -> None:
        """A message to store, with the identity links and traits it makes."""
        assert msg.message_id is not None
        self.indexes.append(index)
        self.batch.messages.append(self._row(msg, timestamp))
        links, traits = self.graph.updates(msg, timestamp, self.received_ms, browser=self.browser)
        if self.browser:
            self.batch.guarded_links += links
        else:
            self.batch.links += links
        self.batch.traits += traits

    def _row(self, msg: AnyMessage, timestamp: int) -> StoredMessage:
        assert msg.message_id is not None
        return StoredMessage(
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

    def settle(self, new_ids: set[str]) -> None:
        """Once committed: what became of the messages (`accepted`, `duplicates`, `outcomes`)."""
        stored = self.batch.messages
        if self.batch.refused_users:
            # Left out by the store: their user was suppressed (erased, maybe by another collector) while
            # this request waited for its commit. Refused, not duplicates; and this process now knows.
            self.graph.suppressed |= {user_hash(u) for u in self.batch.refused_users}
            late = {i for i, m in enumerate(stored) if m.user_id in self.batch.refused_users}
            for i in sorted(late):
                self.refuse(self.indexes[i], stored[i].message_id)
            stored = [m for i, m in enumerate(stored) if i not in late]
        self.accepted, self.duplicates = len(stored), len(stored) - len(new_ids)
        self.outcomes = {
            "accepted": len(new_ids),
            "duplicate": self.duplicates,
            "rejected": len(self.rejected) - self.refused,
            "dropped_bot": self.dropped,
            "refused": self.refused,
        }

    def response(self, new_ids: set[str], anonymous_id: str | None, headers: dict[str, str]) -> Response:
        self.settle(new_ids)
        result: dict[str, Any] = {
            "success": not self.rejected,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "dropped": self.dropped,
            "rejected": [
                {"index": r.index, "messageId": r.message_id, "reason": r.reason}
                for r in self.rejected[:MAX_LISTED_REJECTIONS]
            ],
            "anonymousId": anonymous_id,
        }
        if len(self.rejected) > MAX_LISTED_REJECTIONS:
            result["rejectedCount"] = len(self.rejected)  # only the first ones are listed
        if self.warning:
            result["warning"] = self.warning
        status = 400 if self.rejected and not self.accepted and not self.dropped else 200
        return json_response(result, status, headers)


@dataclass
class ImportAnswer(_Answer):
    """What becomes of one chunk of an imported file's lines. `index` is the line number; rejected lines
    are reported, not quarantined; anonymous messages from before `expire_before` (ms) go to `aged`."""

    expire_before: int = 0
    aged: list[StoredMessage] = field(default_factory=list)

    max_quarantined = 0

    def where(self, index: int) -> str:
        return ""

    def add(self, index: int, msg: AnyMessage, timestamp: int) -> None:
        if msg.user_id is None and timestamp < self.expire_before:  # (it makes no links or traits)
            self.aged.append(self._row(msg, timestamp))
        else:
            super().add(index, msg, timestamp)


def derived_message_id(raw: bytes) -> str:
    """A stable messageId for an imported line that has none: a UUID (version 5) of the line's JSON with
    its keys sorted, so the same line gives the same ID however it is spaced or ordered."""
    try:
        canonical = msgspec.json.encode(msgspec.json.decode(raw), order="sorted")
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):  # it decoded once; be safe anyway
        canonical = raw
    return str(uuid.uuid5(IMPORT_NAMESPACE, canonical.decode("utf-8", "replace")))


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


class _RandomPool:
    """`os.urandom`, fetched a block at a time (it is a system call, and a request needs 10 bytes). A forked
    child starts with none, so that it never hands out its parent's bytes."""

    BLOCK = 4096

    def __init__(self) -> None:
        self._forget()
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._lock = threading.Lock()  # (a new one: a thread of the parent may have held it at the fork)
        self._bytes, self._at = b"", 0

    def take(self, n: int) -> bytes:
        with self._lock:
            if self._at + n > len(self._bytes):
                self._bytes, self._at = os.urandom(max(n, self.BLOCK)), 0
            self._at += n
            return self._bytes[self._at - n : self._at]


_RANDOM = _RandomPool()


def _new_ids(n: int) -> Iterator[str]:
    """Version 7 UUIDs (RFC 9562: the time in ms, then random bits) for messages that came without a
    messageId: they sort by time, so the store's unique index on messageId takes them near its end, not
    on a random page each (on SQLite, a commit wrote about a third of the WAL bytes, in half the time).
    One call for randomness per request, and the text made directly (a third of the time of
    `str(uuid.UUID(...))`)."""
    ms = f"{time.time_ns() // 1_000_000 & 0xFFFF_FFFF_FFFF:012x}"
    pool = bytearray(_RANDOM.take(10 * n))  # the last 10 bytes of each
    for i in range(0, 10 * n, 10):
        pool[i] = pool[i] & 0x0F | 0x70  # version 7
        pool[i + 2] = pool[i + 2] & 0x3F | 0x80  # the RFC 9562 variant
        h = pool[i : i + 10].hex()
        yield f"{ms[:8]}-{ms[8:]}-{h[:4]}-{h[4:8]}-{h[8:]}"


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
