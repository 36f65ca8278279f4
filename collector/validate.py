"""Validate one message: types and unknown keys (by the message structs), then the rules per type.

`decode` turns a message's bytes into its struct; `check` applies the rules beyond types (IDs, names,
orders) and reads the message's times, which it returns for enrichment's clock. Both raise `Invalid`,
whose text says what is wrong and where; nothing here changes a message.
"""

from __future__ import annotations

import math
import re
import typing
from datetime import datetime
from typing import Any, NamedTuple

import msgspec

from collector.jsonbytes import MAX_DEPTH, deeper_than, why_not_json
from collector.types import Alias, AnyMessage, Group, Identify, Page, Screen, Track

MAX_MESSAGE_BYTES = 32 * 1024
MAX_ID_LENGTH = 255
MAX_NAME_LENGTH = 255
JUNK_IDS = frozenset({"", "undefined", "null", "none", "nan", "[object object]"})

# ISO 4217 active codes (2024 list), plus the funds and precious-metal codes commerce APIs use.
CURRENCIES = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP BYN BZD
    CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL
    GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD
    KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR
    NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN
    SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG
    XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XTS XUA XXX YER ZAR ZMW ZWG ZWL""".split()
)

_decoder = msgspec.json.Decoder(AnyMessage)
# For a single-message endpoint's type: `type` may be left out, and is checked if given.
_typed_decoders = {struct.__struct_config__.tag: msgspec.json.Decoder(struct) for struct in typing.get_args(AnyMessage)}


class Invalid(ValueError):
    """A message broke a rule; the text says which and where."""


def decode(raw: bytes, *, implied_type: str | None = None) -> AnyMessage:
    """Decode one message's JSON into its struct, or raise Invalid naming the field."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise Invalid(f"message is {len(raw)} bytes; the limit is {MAX_MESSAGE_BYTES}")
    if deeper_than(raw):
        raise Invalid(f"message nests deeper than {MAX_DEPTH} levels")
    try:
        if implied_type is not None:
            try:
                typed: AnyMessage = _typed_decoders[implied_type].decode(raw)
                return typed
            except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError):
                pass  # why, in the words of the slower way below
            obj = msgspec.json.decode(raw)
            if not isinstance(obj, dict):
                raise Invalid(f"message must be a JSON object, not {_json_kind(obj)}")
            declared = obj.setdefault("type", implied_type)
            if declared != implied_type:
                raise Invalid(f"`type` is {declared!r} but this endpoint takes {implied_type!r} messages")
            converted: AnyMessage = msgspec.convert(obj, AnyMessage)
            return converted
        decoded: AnyMessage = _decoder.decode(raw)
        return decoded
    except msgspec.ValidationError as exc:
        raise Invalid(_describe(str(exc))) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise Invalid(f"not valid JSON: {why_not_json(raw, exc, ' of the message')}") from None


class MessageTimes(NamedTuple):
    """A message's own times, read by `check`: when it happened by the client's clock, and when it was sent."""

    happened: datetime | None  # `timestamp`, else `originalTimestamp`
    sent_at: datetime | None  # the message's own `sentAt`


def check(msg: AnyMessage, *, ids_assigned: bool) -> MessageTimes:
    """Rules beyond types; the message's times. `ids_assigned`: the collector supplies the anonymousId
    (browser traffic: identify replaces whatever the client sent, so it is not checked here)."""
    for wire_name, value in (("messageId", msg.message_id), ("userId", msg.user_id)):
        if value is not None:
            _check_id(wire_name, value)
    if msg.anonymous_id is not None and not ids_assigned:
        _check_id("anonymousId", msg.anonymous_id)
    if msg.anonymous_id is None and msg.user_id is None and not ids_assigned and not isinstance(msg, Alias):
        raise Invalid("a message needs `userId` or `anonymousId`")
    _check_rules(msg)
    original = msg.timestamp or msg.original_timestamp
    return MessageTimes(
        parse_time("timestamp" if msg.timestamp else "originalTimestamp", original) if original else None,
        parse_time("sentAt", msg.sent_at) if msg.sent_at is not None else None,
    )


def _check_rules(msg: AnyMessage) -> None:
    match msg:
        case Track():
            _check_name("event", msg.event)
            if msg.event == "Order Completed":
                check_order(msg.properties)
        case Page() | Screen():
            if msg.name is not None:
                _check_name("name", msg.name)
        case Group():
            _check_id("groupId", msg.group_id)
        case Identify():
            pass
        case _:  # Alias
            if msg.user_id is None:
                raise Invalid("an alias message needs `userId` (the new ID) and `previousId`")
            _check_id("previousId", msg.previous_id)


def check_order(props: dict[str, Any]) -> None:
    """Segment e-commerce v2 `Order Completed`: order_id, a numeric total or revenue, an ISO 4217 currency."""
    order_id = props.get("order_id")
    if not isinstance(order_id, (str, int)) or isinstance(order_id, bool) or order_id == "":
        raise Invalid("`Order Completed` needs `properties.order_id` (a string)")
    amounts: list[str] = [k for k in ("total", "revenue") if k in props]
    if not amounts:
        raise Invalid("`Order Completed` needs a numeric `properties.total` or `properties.revenue`")
    for key in amounts + [k for k in ("subtotal", "tax", "shipping", "discount") if k in props]:
        _check_number(f"properties.{key}", props[key])
    currency = props.get("currency")
    if not isinstance(currency, str) or currency.upper() not in CURRENCIES:
        raise Invalid(f"`properties.currency` must be an ISO 4217 code such as 'USD', got {currency!r}")
    products = props.get("products", [])
    if not isinstance(products, list):
        raise Invalid("`properties.products` must be a list")
    for i, product in enumerate(products):
        if not isinstance(product, dict):
            raise Invalid(f"`properties.products[{i}]` must be an object")
        for key in ("price", "quantity"):
            if key in product:
                _check_number(f"properties.products[{i}].{key}", product[key])


def parse_time(name: str, value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f"`{name}` is not an ISO 8601 time: {value[:64]!r}") from None
    if parsed.tzinfo is None:
        raise Invalid(f"`{name}` has no time zone: {value[:64]!r} (add 'Z' or an offset)")
    return parsed


def _check_number(name: str, value: Any) -> None:
    try:
        ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        ok = False
    if not ok:
        raise Invalid(f"`{name}` must be a finite number, got {str(value)[:40]!r}")


def _check_id(name: str, value: str) -> None:
    if "\x00" in value:  # a text column cannot hold it (PostgreSQL refuses the whole commit)
        raise Invalid(f"`{name}` holds a NUL character")
    if value.strip().lower() in JUNK_IDS:
        raise Invalid(f"`{name}` is {value!r}, which is not an ID")
    if len(value) > MAX_ID_LENGTH:
        raise Invalid(f"`{name}` is {len(value)} characters; the limit is {MAX_ID_LENGTH}")


def _check_name(name: str, value: str) -> None:
    if "\x00" in value:
        raise Invalid(f"`{name}` holds a NUL character")
    if not value.strip():
        raise Invalid(f"`{name}` is empty")
    if len(value) > MAX_NAME_LENGTH:
        raise Invalid(f"`{name}` is {len(value)} characters; the limit is {MAX_NAME_LENGTH}")


def _json_kind(obj: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(obj), "a number")


def _describe(error: str) -> str:
    """msgspec says `Object contains unknown field `x`` - at `$...``; keep it, minus the `$` root."""
    text = error.replace("`$.", "`").replace("- at `$`", "")
    typed = re.fullmatch(r"Expected `(.+)`, got `(.+)` - at `(.+)`", text)
    if typed:
        expected = typed.group(1).replace(" | null", " or null").replace("str", "string").replace("int", "integer")
        return f"`{typed.group(3)}` must be {expected}, got {typed.group(2)}"
    if text.startswith("Object missing required field `type`"):
        return "missing `type` (one of track, page, screen, identify, alias, group)"
    if text.startswith("Invalid value") and "at `type`" in text:
        return text.replace("Invalid value", "unknown `type`", 1).split(" - ")[0] + (
            " (one of track, page, screen, identify, alias, group)"
        )
    return text.replace("Object contains unknown field", "unknown key").replace("Object", "message")
