"""Every call type, through the SDK's background sender, into the real collector and out of its export."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import footfall
import pytest

from tests.conftest import Collector
from tests.sdk_python.helpers import Errors, exported_until


def by_id(messages: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {m["messageId"]: m for m in messages}


def test_every_call_type_lands_and_is_exported(collector: Collector) -> None:
    errors = Errors()
    client = footfall.Client(collector.server_key, host=collector.url, on_error=errors)
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    assert client.track("u1", "Signed Up", {"plan": "pro"}, message_id="m-track", timestamp=when)
    assert client.page("u1", "Docs", "Install", {"path": "/docs/install"}, message_id="m-page")
    assert client.screen(anonymous_id="a1", name="Home", message_id="m-screen")
    assert client.identify("u1", {"email": "u1@example.com"}, anonymous_id="a1", message_id="m-identify")
    assert client.group("u1", "acme", {"name": "Acme"}, message_id="m-group")
    assert client.alias("a1", "u1", message_id="m-alias")
    products = [{"sku": "B-1", "price": Decimal("29.95"), "quantity": 2}]
    assert client.purchase("u1", "o-1001", 59.90, "eur", products, {"coupon": "WINTER"}, message_id="m-purchase")
    assert client.flush(timeout=10)
    got = by_id(exported_until(collector, 7))
    assert set(got) == {"m-track", "m-page", "m-screen", "m-identify", "m-group", "m-alias", "m-purchase"}
    assert errors.calls == []

    track = got["m-track"]
    assert (track["type"], track["event"], track["userId"], track["properties"]) == (
        "track",
        "Signed Up",
        "u1",
        {"plan": "pro"},
    )
    assert track["context"]["library"] == {"name": "footfall-python", "version": footfall.__version__}
    assert got["m-page"]["name"] == "Install" and got["m-page"]["category"] == "Docs"
    assert got["m-page"]["properties"]["path"] == "/docs/install"
    assert got["m-screen"]["type"] == "screen" and got["m-screen"]["anonymousId"] == "a1"
    assert got["m-identify"]["traits"] == {"email": "u1@example.com"} and got["m-identify"]["anonymousId"] == "a1"
    assert got["m-group"]["groupId"] == "acme" and got["m-group"]["traits"] == {"name": "Acme"}
    assert got["m-alias"]["previousId"] == "a1" and got["m-alias"]["userId"] == "u1"
    order = got["m-purchase"]
    assert order["event"] == "Order Completed"
    assert order["properties"] == {
        "coupon": "WINTER",
        "order_id": "o-1001",
        "total": 59.9,
        "currency": "EUR",
        "products": [{"sku": "B-1", "price": 29.95, "quantity": 2}],  # the Decimal went as a number
    }
    client.shutdown()


def test_messages_get_ids_and_zoned_timestamps(collector: Collector) -> None:
    client = footfall.Client(collector.server_key, host=collector.url, gzip=False)
    for i in range(3):
        assert client.track(f"u{i}", "Ping")
    assert client.shutdown(timeout=10)
    messages = exported_until(collector, 3)
    assert len({m["messageId"] for m in messages}) == 3
    for m in messages:
        stamp = datetime.fromisoformat(m["timestamp"])
        assert stamp.tzinfo is not None and abs(stamp - datetime.now(UTC)) < timedelta(minutes=5)


@pytest.mark.parametrize(
    ("call", "args", "kwargs"),
    [
        ("track", ("u1",), {}),  # no event
        ("track", (None, "Ping"), {}),  # no user_id nor anonymous_id
        ("track", ("u1", "Ping", "not a dict"), {}),
        ("track", ("u1", "Ping", {"bad": object()}), {}),  # not JSON
        ("track", ("u1", "Ping", {"nan": float("nan")}), {}),
        ("track", ("u1", "Ping", {"big": "x" * 40_000}), {}),  # over 32 KB
        ("track", ("u1", "Ping"), {"timestamp": "yesterday"}),
        ("track", ("", "Ping"), {}),
        ("group", ("u1",), {}),  # no group_id
        ("alias", ("a1",), {}),  # no user_id
        ("purchase", ("u1", "o-1", 10, "EURO"), {}),  # not ISO 4217
        ("purchase", ("u1", "o-1", None, "EUR"), {}),  # no total
        ("purchase", ("u1", None, 10, "EUR"), {}),  # no order_id
        ("purchase", ("u1", "o-1", 10, "EUR", [{"price": "cheap"}]), {}),
    ],
)
def test_bad_calls_log_and_return_false_or_raise_in_debug(
    call: str, args: tuple[Any, ...], kwargs: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    quiet = footfall.Client("sk", send=False)
    with caplog.at_level(logging.WARNING, logger="footfall"):
        assert getattr(quiet, call)(*args, **kwargs) is False
    assert quiet.stats.invalid == 1
    assert "call ignored" in caplog.text
    loud = footfall.Client("sk", send=False, debug=True)
    with pytest.raises(footfall.InvalidCall):
        getattr(loud, call)(*args, **kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"write_key": None},
        {"write_key": ""},
        {"write_key": "sk", "host": "localhost:8000"},
        {"write_key": "sk", "max_queue_size": 0},
        {"write_key": "sk", "flush_at": "10"},
        {"write_key": "sk", "timeout": -1},
        {"write_key": "sk", "on_error": "print"},
        {"write_key": "sk", "gzip": "yes"},
    ],
)
def test_bad_options_raise_at_construction(kwargs: dict[str, Any]) -> None:
    with pytest.raises((ValueError, TypeError)):
        footfall.Client(**kwargs)


def test_send_false_validates_and_sends_nothing(collector: Collector) -> None:
    client = footfall.Client(collector.server_key, host=collector.url, send=False)
    assert client.track("u1", "Ping")
    assert client.flush(timeout=1) and client.shutdown(timeout=1)
    assert collector.export() == []


def test_sync_mode_has_delivered_when_the_call_returns(collector: Collector) -> None:
    client = footfall.Client(collector.server_key, host=collector.url, sync_mode=True)
    assert client.track("u1", "Ping", message_id="sync-1")
    assert [m["messageId"] for m in collector.export()] == ["sync-1"]
    client.shutdown()


def test_caller_changes_after_the_call_do_not_change_the_message(collector: Collector) -> None:
    client = footfall.Client(collector.server_key, host=collector.url)
    props = {"step": 1}
    client.track("u1", "Ping", props, message_id="snap")
    props["step"] = 2
    assert client.shutdown(timeout=10)
    [msg] = exported_until(collector, 1)
    assert msg["properties"] == {"step": 1}


def test_module_level_functions_wrap_one_client(collector: Collector) -> None:
    footfall.reset()
    footfall.write_key, footfall.host = collector.server_key, collector.url
    try:
        assert footfall.track("u1", "Ping", message_id="mod-1")
        assert footfall.default_client() is footfall.default_client()
        footfall.flush()
        client = footfall.configure(collector.server_key, host=collector.url)
        assert footfall.default_client() is client
        assert footfall.identify("u1", {"plan": "pro"}, message_id="mod-2")
        footfall.shutdown()
        got = by_id(exported_until(collector, 2))
        assert set(got) == {"mod-1", "mod-2"}
    finally:
        footfall.write_key = footfall.host = None
        footfall.reset()


def test_module_level_functions_need_a_write_key() -> None:
    footfall.reset()
    with pytest.raises(ValueError, match="write_key"):
        footfall.track("u1", "Ping")


SEGMENT_SIGNATURES = {  # analytics-python 2.x, parameter names in order
    "track": ["user_id", "event", "properties", "context", "timestamp", "anonymous_id", "integrations", "message_id"],
    "page": [
        "user_id",
        "category",
        "name",
        "properties",
        "context",
        "timestamp",
        "anonymous_id",
        "integrations",
        "message_id",
    ],
    "identify": ["user_id", "traits", "context", "timestamp", "anonymous_id", "integrations", "message_id"],
    "group": ["user_id", "group_id", "traits", "context", "timestamp", "anonymous_id", "integrations", "message_id"],
    "alias": ["previous_id", "user_id", "context", "timestamp", "integrations", "message_id"],
}
SEGMENT_SIGNATURES["screen"] = SEGMENT_SIGNATURES["page"]


@pytest.mark.parametrize("name", sorted(SEGMENT_SIGNATURES))
def test_calls_take_segments_arguments_in_segments_order(name: str) -> None:
    import inspect

    for owner in (footfall.Client, footfall.AsyncClient):
        params = list(inspect.signature(getattr(owner, name)).parameters)[1:]
        assert params == SEGMENT_SIGNATURES[name]
    assert list(inspect.signature(getattr(footfall, name)).parameters) == SEGMENT_SIGNATURES[name]
