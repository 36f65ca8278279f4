"""Paging for every NDJSON pull (export, quarantine, links, profiles): one cursor codec, one `limit` parser.

A cursor is opaque to clients: each page answers with `Footfall-Cursor`, and passing it back as `?cursor=`
continues after that page. Inside, it is a versioned text, base64url-encoded: `v1:` and a store position
(integers joined by dots), or `u1:` and a userId (the profiles pull goes in userId order).
"""

from __future__ import annotations

import base64
import binascii

from starlette.datastructures import QueryParams

from collector.http import HTTPError
from collector.store.base import BEGINNING, Position

CURSOR_HEADER = "Footfall-Cursor"
COUNT_HEADER = "Footfall-Count"
_POSITION = "v1:"
_USER = "u1:"
_FOREIGN = "`cursor` is not one this collector gave out (pass the Footfall-Cursor header back as is)"


def _pack(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _unpack(cursor: str, prefix: str) -> str:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):  # ValueError: non-ASCII input
        raise HTTPError(400, _FOREIGN) from None
    if not text.startswith(prefix):
        raise HTTPError(400, _FOREIGN)
    return text[len(prefix) :]


def encode_position(position: Position) -> str:
    return _pack(_POSITION + ".".join(str(part) for part in position))


def decode_position(cursor: str) -> Position:
    parts = _unpack(cursor, _POSITION).split(".")
    if parts == [""]:
        return BEGINNING
    if all(part.isascii() and part.isdecimal() and len(part) <= 18 for part in parts):
        return tuple(int(part) for part in parts)
    raise HTTPError(400, _FOREIGN)


def encode_user(user_id: str) -> str:
    return _pack(_USER + user_id)


def decode_user(cursor: str) -> str:
    return _unpack(cursor, _USER)


def position_after(query: QueryParams) -> Position:
    """Where a position-ordered pull starts: after the `cursor` given, or at the beginning."""
    return decode_position(query["cursor"]) if "cursor" in query else BEGINNING


def parse_limit(query: QueryParams, *, default: int, maximum: int) -> int:
    """The `limit` parameter: a whole number from 1 to `maximum`; a 400 that says so otherwise."""
    value = query.get("limit")
    if value is None:
        return default
    if not (value.isascii() and value.isdecimal()) or not 1 <= int(value) <= maximum:
        raise HTTPError(400, f"`limit` must be a whole number from 1 to {maximum}, got {value!r}")
    return int(value)
