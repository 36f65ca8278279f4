"""Profiles: one person's history summed up, from their messages and those of every linked ID.

Built on demand from the store (`build_profile`); the endpoints that serve them are in `people.py`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from collector.graph import linked_ids, owner
from collector.store import ExportFilter, Store
from collector.store.base import BEGINNING

PAGE = 5000
_decode = msgspec.json.decode


def iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def profile_for(store: Store, some_id: str) -> dict[str, Any] | None:
    """The profile an ID answers with: its own, or, for an ID aliased to another user, that user's (with
    `requestedId`); None if nothing is known of it."""
    user = await owner(store, some_id)
    profile = await build_profile(store, user or some_id)
    if profile is not None and user is not None:
        profile["requestedId"] = some_id
    return profile


async def build_profile(store: Store, user_id: str) -> dict[str, Any] | None:
    """The profile of `user_id`, or None if nothing is known of it."""
    ids = await linked_ids(store, user_id)
    by_type: dict[str, int] = {}
    by_event: dict[str, int] = {}
    orders: dict[str, dict[str, Any]] = {}
    devices: dict[tuple[Any, ...], dict[str, Any]] = {}
    anonymous_traits: dict[str, tuple[str, Any]] = {}
    first = last = None
    location = None
    anonymous_ids: set[str] = set()
    after = BEGINNING
    where = ExportFilter(person=frozenset(ids))
    while rows := await store.read_messages(after, PAGE, where):
        after = rows[-1].position
        for row in rows:
            msg = _decode(row.body)
            kind = msg["type"]
            by_type[kind] = by_type.get(kind, 0) + 1
            if kind == "track":
                by_event[msg["event"]] = by_event.get(msg["event"], 0) + 1
            when = msg["timestamp"]
            first = when if first is None or when < first else first
            if last is None or when >= last:
                last = when
                location = msg.get("context", {}).get("location", location)
            if msg.get("anonymousId"):
                anonymous_ids.add(msg["anonymousId"])
            context = msg.get("context", {})
            if "device" in context:
                key = (_get(context, "device", "type"), _get(context, "os", "name"), _get(context, "browser", "name"))
                devices[key] = {"type": key[0], "os": key[1], "browser": key[2], "lastSeen": when}
            if kind == "track" and msg["event"] == "Order Completed":
                props = msg.get("properties", {})
                orders[str(props.get("order_id"))] = props  # a re-sent order counts once
            if kind == "identify" and "userId" not in msg:  # traits said before the visitor was known
                for name, value in msg.get("traits", {}).items():
                    if name not in anonymous_traits or anonymous_traits[name][0] <= when:
                        anonymous_traits[name] = (when, value)
    stored_traits = await store.read_traits(ids)
    if first is None and not stored_traits:
        return None
    traits = {name: {"value": value, "setAt": when} for name, (when, value) in anonymous_traits.items()}
    for trait in sorted(stored_traits, key=lambda t: t.set_at):
        if trait.name not in traits or traits[trait.name]["setAt"] <= iso_ms(trait.set_at):
            traits[trait.name] = {"value": _decode(trait.value), "setAt": iso_ms(trait.set_at)}
    revenue: dict[str, Decimal] = {}
    for props in orders.values():
        amount = props.get("revenue", props.get("total"))
        currency = str(props.get("currency", "")).upper()
        try:
            revenue[currency] = revenue.get(currency, Decimal(0)) + Decimal(str(amount))
        except InvalidOperation:
            continue
    return {
        "userId": user_id,
        "linkedIds": sorted(ids - {user_id}),
        "anonymousIds": sorted(anonymous_ids),
        "traits": dict(sorted(traits.items())),
        "firstSeen": first,
        "lastSeen": last,
        "messages": {"total": sum(by_type.values()), "byType": by_type, "byEvent": by_event},
        "pageViews": by_type.get("page", 0),
        "orders": {"count": len(orders), "revenue": {c: float(v) for c, v in sorted(revenue.items())}},
        "location": location,
        "devices": sorted(devices.values(), key=lambda d: d["lastSeen"], reverse=True),
    }


def _get(context: dict[str, Any], key: str, field: str) -> Any:
    value = context.get(key)
    return value.get(field) if isinstance(value, dict) else None
