"""Paging for every NDJSON pull (export, quarantine, links, profiles): one cursor codec, one `limit` parser.

A cursor is opaque to clients: each page answers with `Footfall-Cursor`, and passing it back as `?cursor=`
continues after that page. Inside, it is a versioned text, base64url-encoded: `v1:` and a store position
(integers joined by dots), or `u1:` and a userId (the profiles pull goes in userId order), signed by the
collector (`Cursors`), so a consumer with a corrupted cursor is told so instead of missing everything.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from itsdangerous import BadSignature, Signer
from starlette.datastructures import QueryParams

from collector.http import HTTPError
from collector.store.base import BEGINNING, Position

CURSOR_HEADER = "Footfall-Cursor"
COUNT_HEADER = "Footfall-Count"
# Each pull's cursors have a prefix of their own: a cursor of one pull is not one of another's.
STREAMS = {"export": "v1:", "quarantine": "q1:", "links": "l1:"}
Stream = str
_USER = "u1:"
_FOREIGN = "`cursor` is not one this collector gave out (pass the Footfall-Cursor header back as is)"
SALT = "footfall.cursor"


class Cursors:
    """Makes and reads cursors, authenticated with the collector's secret (HMAC-SHA256, itsdangerous):
    an edited or forged cursor is a 400, never a silent empty page. Signs with the last of the cookie
    secrets and accepts any of them, so rotating the secret keeps consumers' saved cursors working."""

    def __init__(self, secrets: list[str]) -> None:
        self._signer = Signer(secrets, salt=SALT, digest_method=hashlib.sha256)

    def _pack(self, text: str) -> str:
        return self._signer.sign(base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")).decode()

    def _unpack(self, cursor: str, prefix: str) -> str:
        try:
            packed = self._signer.unsign(cursor).decode()
            text = base64.urlsafe_b64decode(packed + "=" * (-len(packed) % 4)).decode()
        except (BadSignature, binascii.Error, ValueError):  # ValueError: non-ASCII input, bad UTF-8
            raise HTTPError(400, _FOREIGN) from None
        if not text.startswith(prefix):
            raise HTTPError(400, _FOREIGN)
        return text[len(prefix) :]

    def encode_position(self, position: Position, stream: Stream) -> str:
        return self._pack(STREAMS[stream] + ".".join(str(part) for part in position))

    def decode_position(self, cursor: str, stream: Stream) -> Position:
        parts = self._unpack(cursor, STREAMS[stream]).split(".")
        if parts == [""]:
            return BEGINNING
        if all(part.isascii() and part.isdecimal() and len(part) <= 18 for part in parts):
            return tuple(int(part) for part in parts)
        raise HTTPError(400, _FOREIGN)

    def encode_user(self, user_id: str) -> str:
        return self._pack(_USER + user_id)

    def decode_user(self, cursor: str) -> str:
        return self._unpack(cursor, _USER)

    def position_after(self, query: QueryParams, stream: Stream) -> Position:
        """Where a position-ordered pull (`stream`) starts: after the `cursor` given, or at the beginning."""
        return self.decode_position(query["cursor"], stream) if "cursor" in query else BEGINNING


def parse_limit(query: QueryParams, *, default: int, maximum: int) -> int:
    """The `limit` parameter: a whole number from 1 to `maximum`; a 400 that says so otherwise."""
    value = query.get("limit")
    if value is None:
        return default
    if not (value.isascii() and value.isdecimal()) or not 1 <= int(value) <= maximum:
        raise HTTPError(400, f"`limit` must be a whole number from 1 to {maximum}, got {value!r}")
    return int(value)
