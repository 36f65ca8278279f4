"""Build, check and encode Segment-spec messages: the work a tracking call does on the caller's thread.

A message is encoded to JSON bytes here, once. That snapshots the caller's dicts (changing them after
the call changes nothing), finds values JSON cannot carry while the caller can still be told, and lets
the sender build batches by joining bytes without encoding anything again.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from os import urandom
from typing import Any

from footfall.errors import InvalidCall
from footfall.version import VERSION

MAX_MESSAGE_BYTES = 32 * 1024  # the collector's limit for one message
LIBRARY = {"name": "footfall-python", "version": VERSION}

# ISO 4217 active codes, plus the funds and precious-metal codes commerce APIs use (as the collector checks).
_CODES = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD
CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP
GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW
KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN
NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL
SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES
VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XTS XUA XXX YER ZAR ZMW ZWG ZWL
"""
CURRENCIES = frozenset(_CODES.split())

Id = str | int | uuid.UUID
Fields = Mapping[str, Any]


def _to_json(value: Any) -> Any:
    """What `json` cannot encode by itself: times (naive ones are taken as UTC), Decimal, UUID, sets, enums."""
    if isinstance(value, datetime):
        return iso_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        if not value.is_finite():  # NaN, sNaN, Infinity: JSON has no such numbers
            raise ValueError(f"{value} is not a finite number")
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON: {value!r:.60}")


_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_to_json)


def _fast_encode() -> Callable[[Any], str]:
    """The C encoder behind `json.dumps`, called directly: the Python layers around it cost as much as
    encoding a typical message. No circular-reference table: a cycle ends in RecursionError instead."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return _encoder.encode
    encoder = make(None, _to_json, json.encoder.encode_basestring, None, ":", ",", False, False, False)
    return lambda obj: "".join(encoder(obj, 0))


_encode = _fast_encode()


def iso_time(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def new_id() -> str:
    """A version 7 UUID (RFC 9562: the time in ms, then random bits) as text, without the cost of building a
    uuid.UUID. It sorts by time, which the collector's store indexes at a fraction of a random ID's cost."""
    ms = f"{time.time_ns() // 1_000_000 & 0xFFFF_FFFF_FFFF:012x}"
    b = bytearray(urandom(10))
    b[0] = b[0] & 0x0F | 0x70
    b[2] = b[2] & 0x3F | 0x80
    x = b.hex()
    return f"{ms[:8]}-{ms[8:]}-{x[:4]}-{x[4:8]}-{x[8:]}"


_second: tuple[int, str] = (-1, "")  # the last second formatted, and its text: most calls reuse it


def now() -> str:
    """The time in UTC as ISO 8601 with milliseconds (`2026-01-02T03:04:05.678Z`)."""
    global _second
    t = time.time()
    second = int(t)
    cached = _second
    if cached[0] != second:
        cached = _second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{cached[1]}.{int((t - second) * 1000):03d}Z"


def encode(msg: dict[str, Any]) -> bytes:
    """The message as JSON bytes, or InvalidCall if JSON cannot carry it or it is over the size limit."""
    try:
        data = _encode(msg).encode()
    except (TypeError, ValueError, ArithmeticError, RecursionError) as exc:  # NaN/infinity, cycles, surrogates
        raise InvalidCall(f"{msg.get('type')} message cannot be sent as JSON: {exc}") from None
    if len(data) > MAX_MESSAGE_BYTES:
        raise InvalidCall(f"{msg.get('type')} message is {len(data)} bytes; the limit is {MAX_MESSAGE_BYTES}")
    return data


# What the collector refuses as an ID (collector/validate.py): placeholders from broken client code.
JUNK_IDS = frozenset({"", "undefined", "null", "none", "nan", "[object object]"})
MAX_ID_LENGTH = MAX_NAME_LENGTH = 255


def _id(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (int, uuid.UUID)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise InvalidCall(f"`{name}` must be a string, got {type(value).__name__}")
    if value.strip().lower() in JUNK_IDS:
        raise InvalidCall(f"`{name}` is {value!r}, which is not an ID")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidCall(f"`{name}` is {len(value)} characters; the limit is {MAX_ID_LENGTH}")
    return value


def _fields(name: str, value: Any) -> Fields | None:
    if value is None or isinstance(value, Mapping):
        return value
    raise InvalidCall(f"`{name}` must be a dict, got {type(value).__name__}")


def _name(name: str, value: Any, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidCall(f"`{name}` must be a non-empty string, got {value!r:.60}")
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidCall(f"`{name}` is {len(value)} characters; the limit is {MAX_NAME_LENGTH}")
    return value


def build(
    type_: str,
    user_id: Any,
    anonymous_id: Any,
    context: Any,
    timestamp: Any,
    integrations: Any,
    message_id: Any,
    body: dict[str, Any],
) -> dict[str, Any]:
    """The fields every message has, around `body` (the type's own fields, already checked)."""
    user = _id("user_id", user_id)
    anon = _id("anonymous_id", anonymous_id)
    if user is None and anon is None and type_ != "alias":
        raise InvalidCall(f"{type_}: `user_id` or `anonymous_id` is required")
    ctx = _fields("context", context)
    if timestamp is None:
        when = now()
    elif isinstance(timestamp, datetime):
        when = iso_time(timestamp)
    else:
        raise InvalidCall(f"`timestamp` must be a datetime, got {type(timestamp).__name__}")
    msg: dict[str, Any] = {
        "type": type_,
        "messageId": _id("message_id", message_id) or new_id(),
        "timestamp": when,
        "context": {**ctx, "library": LIBRARY} if ctx else {"library": LIBRARY},
    }
    if user is not None:
        msg["userId"] = user
    if anon is not None:
        msg["anonymousId"] = anon
    if integrations is not None:
        msg["integrations"] = _fields("integrations", integrations)
    msg.update(body)
    return msg


def track_body(event: Any, properties: Any) -> dict[str, Any]:
    return {"event": _name("event", event, True), "properties": _fields("properties", properties) or {}}


def page_body(name: Any, category: Any, properties: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"properties": _fields("properties", properties) or {}}
    if name is not None:
        body["name"] = _name("name", name, True)
    if category is not None:
        body["category"] = _name("category", category, True)
    return body


def traits_body(traits: Any) -> dict[str, Any]:
    return {"traits": _fields("traits", traits) or {}}


def group_body(group_id: Any, traits: Any) -> dict[str, Any]:
    gid = _id("group_id", group_id)
    if gid is None:
        raise InvalidCall("group: `group_id` is required")
    return {"groupId": gid, "traits": _fields("traits", traits) or {}}


def alias_body(previous_id: Any, user_id: Any) -> dict[str, Any]:
    prev = _id("previous_id", previous_id)
    if prev is None or user_id is None:
        raise InvalidCall("alias: `previous_id` and `user_id` are both required")
    return {"previousId": prev}


def _number(name: str, value: Any) -> float | int:
    try:
        if isinstance(value, Decimal):
            value = _to_json(value)
        ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    except (ValueError, ArithmeticError):  # a non-finite Decimal, an int too large for a float
        ok = False
    if not ok:
        raise InvalidCall(f"`{name}` must be a finite number, got {str(value)[:60]!r}")
    return value  # type: ignore[no-any-return]


def order_properties(
    order_id: Any,
    total: Any,
    revenue: Any,
    currency: Any,
    products: Any,
    properties: Any,
) -> dict[str, Any]:
    """Segment e-commerce v2 `Order Completed` properties, checked as the collector checks them."""
    props = dict(_fields("properties", properties) or {})
    if isinstance(order_id, bool) or not isinstance(order_id, (str, int)) or order_id == "":
        raise InvalidCall(f"purchase: `order_id` must be a non-empty string, got {order_id!r:.60}")
    props["order_id"] = str(order_id)
    if total is None and revenue is None:
        raise InvalidCall("purchase: `total` or `revenue` is required")
    if total is not None:
        props["total"] = _number("total", total)
    if revenue is not None:
        props["revenue"] = _number("revenue", revenue)
    for key in ("subtotal", "tax", "shipping", "discount"):  # checked by the collector too
        if key in props:
            props[key] = _number(key, props[key])
    code = currency.upper() if isinstance(currency, str) else currency
    if code not in CURRENCIES:
        raise InvalidCall(f"purchase: `currency` must be an ISO 4217 code such as 'USD', got {currency!r:.60}")
    props["currency"] = code
    if products is None:
        products = props.get("products")  # given inside `properties`: checked all the same
    if products is not None:
        if not isinstance(products, (list, tuple)) or not all(isinstance(p, Mapping) for p in products):
            raise InvalidCall("purchase: `products` must be a list of dicts")
        checked = []
        for i, product in enumerate(products):
            item = dict(product)
            for key in ("price", "quantity"):
                if key in item:
                    item[key] = _number(f"products[{i}].{key}", item[key])
            checked.append(item)
        props["products"] = checked
    return props
