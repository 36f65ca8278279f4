"""Describe why bytes are not JSON, the same way for a whole body and for one message.

The position of a non-UTF-8 byte is found here, by decoding the bytes ourselves, so the message does not
depend on which exception (or wording) the JSON library uses for it.
"""

from __future__ import annotations

import re


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


# --- nesting ---------------------------------------------------------------------------------------------
# How deep a message may nest (the message object itself is level 1). Decoding recurses once a level, and
# about 1,000 levels exhaust the interpreter's stack: a limit far below that keeps every message
# decodable, and no real event needs more.
MAX_DEPTH = 64

_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{},]')
_OPENS = (ord("{"), ord("["))


def _could_be_deeper(raw: bytes, limit: int) -> bool:
    """Cheap: fewer opening brackets than `limit` (strings included) cannot nest deeper than it."""
    return raw.count(b"{") + raw.count(b"[") > limit


def depth(raw: bytes) -> int:
    """How deep the JSON in `raw` nests (brackets inside strings do not count)."""
    deepest = level = 0
    for token in _TOKENS.finditer(raw):
        first = token.group()[0]
        if first in _OPENS:
            level += 1
            deepest = max(deepest, level)
        elif first in (ord("}"), ord("]")):
            level -= 1
    return deepest


def deeper_than(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    return _could_be_deeper(raw, limit) and depth(raw) > limit


def too_deep_in_batch(body: bytes, limit: int = MAX_DEPTH) -> tuple[bool, dict[int, tuple[int, int]]]:
    """For a batch body `{"batch": [message, ...], ...}`: whether anything outside the messages nests
    deeper than two levels plus `limit`, and the (start, end) byte span of each message (by its index in
    `batch`) that nests deeper than `limit`. Cheap unless the body has more brackets than the limit."""
    if not _could_be_deeper(body, limit):
        return False, {}
    outside_too_deep = False
    spans: dict[int, tuple[int, int]] = {}
    level = 0
    in_batch = False  # inside the `batch` array (level 2)
    last_key = b""
    index = 0
    start = -1  # where the current message began, when it is an object or array
    deepest = 0  # the current message's own depth
    for token in _TOKENS.finditer(body):
        text = token.group()
        first = text[0]
        if first == ord('"'):
            if level == 1:
                last_key = text
            continue
        if first in _OPENS:
            level += 1
            if level == 2 and first == ord("[") and last_key == b'"batch"':
                in_batch, index = True, 0
            elif in_batch and level == 3:
                start, deepest = token.start(), 1
            elif in_batch and level > 3:
                deepest = max(deepest, level - 2)
            elif not in_batch and level > limit + 2:
                outside_too_deep = True
        elif first == ord(","):
            if in_batch and level == 2:
                index += 1
        else:  # a closing bracket
            if in_batch and level == 3 and deepest > limit:
                spans[index] = (start, token.end())
            if in_batch and level == 2:
                in_batch = False
            level -= 1
    return outside_too_deep, spans


def object_depth(value: object) -> int:
    """How deep a decoded JSON value nests (a dict or list is one level), without recursion."""
    deepest = 0
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((v, level + 1) for v in item)
    return deepest
