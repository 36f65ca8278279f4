"""Describe why bytes are not JSON, the same way for a whole body and for one message.

The position of a non-UTF-8 byte is found here, by decoding the bytes ourselves, so the message does not
depend on which exception (or wording) the JSON library uses for it.
"""

from __future__ import annotations


def non_utf8_at(raw: bytes) -> int | None:
    """The offset of the first byte that is not valid UTF-8, or None if all of `raw` is UTF-8."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    return None


def why_not_json(raw: bytes, error: Exception, what: str = "") -> str:
    """`error` came from decoding `raw` as JSON; say why in words, naming a non-UTF-8 byte by its offset."""
    position = non_utf8_at(raw)
    if position is not None:
        return f"byte {position}{what} is not UTF-8 (JSON must be UTF-8)"
    return str(error)
