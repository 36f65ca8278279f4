"""The wire fixtures in `wire/` (see wire/README.md), loaded once for the three parts' tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

WIRE = Path(__file__).parents[2] / "wire"


def load(name: str) -> Any:
    return json.loads((WIRE / name).read_text())


LIMITS: dict[str, int] = load("limits.json")
CURRENCIES: frozenset[str] = frozenset(load("currencies.json"))
JUNK_IDS: frozenset[str] = frozenset(load("junk_ids.json"))
KEYS: dict[str, Any] = load("keys.json")


def fixtures(kind: str, prefix: str = "") -> dict[str, dict[str, Any]]:
    """`wire/<kind>/<prefix>*.json` by name (without `.json`), in name order."""
    return {p.stem: json.loads(p.read_text()) for p in sorted((WIRE / kind).glob(prefix + "*.json"))}


VALID = fixtures("valid")
INVALID = fixtures("invalid")


def shape(value: Any) -> Any:
    """A JSON value's shape: objects keep their keys, arrays their items, and every other value becomes
    its JSON type's name. Two messages with the same shape differ only in their values."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    assert value is None, f"not a JSON value: {value!r}"
    return "null"


def compact(value: Any) -> bytes:
    """JSON as the SDKs send it: no spaces, UTF-8."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def track_of_size(size: int, **fields: Any) -> dict[str, Any]:
    """A track message whose compact JSON is exactly `size` bytes (padded in `properties.pad`)."""
    msg: dict[str, Any] = {"type": "track", "userId": "u42", "event": "Padded", **fields, "properties": {"pad": ""}}
    msg["properties"]["pad"] = "x" * (size - len(compact(msg)))
    assert len(compact(msg)) == size
    return msg
