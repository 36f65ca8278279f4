"""Receive: read the request body (size limits, gzip), find the write key, split the batch into messages.

Everything here is about the request as a whole; a problem found here fails the whole request with a
4xx whose message says what is wrong. Per-message problems are for `validate`.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
from starlette.requests import ClientDisconnect, Request

from collector.http import HTTPError
from collector.jsonbytes import MAX_DEPTH, deeper_than, object_depth, too_deep_in_batch, why_not_json

MAX_BATCH_BYTES = 500 * 1024
GUNZIP_PIECE = 256 * 1024  # bytes a gzip stream is inflated to at a time
MAX_BATCH_MESSAGES = 2500  # what one request may carry: bounds its work, its quarantine rows and its answer
ENVELOPE_KEYS = frozenset({"batch", "sentAt", "context", "integrations", "writeKey", "reset", "_metadata"})


@dataclass
class Envelope:
    messages: list[bytes]
    write_key: str | None = None
    sent_at: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    integrations: dict[str, Any] = field(default_factory=dict)
    reset: bool = False  # the tracker says: "I started a new anonymous ID, do not let the cookie override it"


class _Batch(msgspec.Struct, forbid_unknown_fields=True):
    batch: list[msgspec.Raw]
    sentAt: str | None = None
    context: dict[str, Any] = {}
    integrations: dict[str, Any] = {}
    writeKey: str | None = None
    reset: bool = False
    metadata: dict[str, Any] | None = msgspec.field(default=None, name="_metadata")


_batch_decoder = msgspec.json.Decoder(_Batch)


def header_write_key(request: Request) -> str | None:
    """Write key from HTTP Basic auth (key as user name) or the `writeKey` query parameter."""
    auth = request.headers.get("authorization")
    if auth and auth[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(auth[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise HTTPError(401, "Authorization header is not valid Basic auth") from None
        return decoded.split(":", 1)[0]
    return request.query_params.get("writeKey")


async def read_body(request: Request, limit: int = MAX_BATCH_BYTES) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdecimal() and declared.isascii() and int(declared) > limit:
        raise HTTPError(413, f"body is {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HTTPError(413, f"body is over the limit of {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:  # the sender went away mid-upload: nothing to answer, nothing to log loudly
        raise HTTPError(400, f"the client disconnected after {size} bytes of its body") from None
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").lower()
    if encoding == "gzip":
        return _gunzip(body, limit)
    if encoding not in ("identity", ""):
        raise HTTPError(415, f"Content-Encoding {encoding!r} is not supported (use gzip or none)")
    return body


def _gunzip(body: bytes, limit: int) -> bytes:
    """Every member of a gzip body (RFC 1952 allows several, one after another), within `limit` bytes."""
    if not body:
        raise HTTPError(400, "body is not valid gzip: the stream is truncated")
    inflater = Gunzip()
    pieces: list[bytes] = []
    size = 0
    try:
        for piece in inflater.feed(body):
            size += len(piece)
            if size > limit:  # stop inflating here: a small body may unpack to gigabytes
                raise HTTPError(413, f"body is over the limit of {limit} bytes once decompressed")
            pieces.append(piece)
        inflater.end()
    except ValueError as exc:
        raise HTTPError(400, f"body is {exc}") from None
    return b"".join(pieces)


class Gunzip:
    """Streamed gzip (every member, as RFC 1952 allows several), in pieces of at most GUNZIP_PIECE."""

    def __init__(self) -> None:
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._fed = False  # the current member has begun

    def feed(self, data: bytes) -> Iterator[bytes]:
        while data:
            self._fed = True
            try:
                out = self._inflater.decompress(data, GUNZIP_PIECE)
            except zlib.error as exc:
                raise ValueError(f"not valid gzip: {exc}") from None
            if out:
                yield out
            if self._inflater.eof:  # the next member, if any (at the end, unconsumed_tail holds it too)
                data = self._inflater.unused_data
                self._inflater, self._fed = zlib.decompressobj(16 + zlib.MAX_WBITS), False
                if data and not data.startswith(b"\x1f\x8b"[: len(data)]):
                    raise ValueError(f"not valid gzip: {len(data)} bytes after its gzip stream are not gzip")
            else:
                data = self._inflater.unconsumed_tail

    def end(self) -> None:
        if self._fed:
            raise ValueError("not valid gzip: the stream is truncated")


def parse_batch(body: bytes) -> Envelope:
    if not body.strip():
        raise HTTPError(400, 'body is empty; expected JSON like {"batch": [...]}')
    original = body
    too_deep: dict[int, tuple[int, int]] = {}
    try:
        parsed = _decode_envelope(body)
    except RecursionError:  # something nests past what the decoder can follow: find it, the slow way
        outside, too_deep = too_deep_in_batch(body)
        if outside:
            raise HTTPError(400, f"body nests deeper than {MAX_DEPTH} levels outside `batch`") from None
        for start, end in sorted(too_deep.values(), reverse=True):  # such a message is rejected alone, later:
            body = body[:start] + b"null" + body[end:]  # its bytes stand in for it after decoding the rest
        try:
            parsed = _decode_envelope(body)
        except RecursionError:
            raise HTTPError(400, f"body nests deeper than {MAX_DEPTH} levels") from None
    if object_depth(parsed.context) > MAX_DEPTH or object_depth(parsed.integrations) > MAX_DEPTH:
        raise HTTPError(400, f"body nests deeper than {MAX_DEPTH} levels outside `batch`")
    if len(parsed.batch) > MAX_BATCH_MESSAGES:
        raise HTTPError(
            413, f"`batch` has {len(parsed.batch)} messages; the limit is {MAX_BATCH_MESSAGES} a request (send fewer)"
        )
    messages = [bytes(raw) for raw in parsed.batch]
    for index, (start, end) in too_deep.items():
        messages[index] = original[start:end]
    return Envelope(
        messages=messages,
        write_key=parsed.writeKey,
        sent_at=parsed.sentAt,
        context=parsed.context,
        integrations=parsed.integrations,
        reset=parsed.reset,
    )


def _decode_envelope(body: bytes) -> _Batch:
    """The envelope, its messages left as raw bytes (each is decoded, and checked for depth, on its own)."""
    try:
        parsed: _Batch = _batch_decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise HTTPError(400, "body: " + _envelope_error(str(exc))) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise HTTPError(400, f"body is not valid JSON: {why_not_json(body, exc)}") from None
    return parsed


def parse_single(body: bytes) -> Envelope:
    """A single-message endpoint: the body is the message itself."""
    if not body.strip():
        raise HTTPError(400, "body is empty; expected one JSON message")
    if deeper_than(body):
        raise HTTPError(400, f"the message nests deeper than {MAX_DEPTH} levels")
    try:
        obj = msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise HTTPError(400, f"body is not valid JSON: {why_not_json(body, exc)}") from None
    if not isinstance(obj, dict):
        raise HTTPError(400, "body must be a JSON object (one message)")
    write_key = obj.get("writeKey")
    return Envelope(messages=[body], write_key=write_key if isinstance(write_key, str) else None)


def _envelope_error(error: str) -> str:
    if error.startswith("Object contains unknown field"):
        return error.replace("Object contains unknown field", "unknown key") + (
            f" (a batch body has {', '.join(sorted(ENVELOPE_KEYS - {'_metadata'}))})"
        )
    if error.startswith("Object missing required field `batch`"):
        return 'missing `batch`: expected {"batch": [message, ...]}'
    return error.replace("`$.", "`").replace("- at `$`", "")
